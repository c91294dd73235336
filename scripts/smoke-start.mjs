// CI smoke test of the README's start command: runs it on a free port in a temporary working
// directory (so the embedded defaults apply), waits for /health, opens a WebSocket session with the
// generated token, then stops the gateway with SIGTERM and checks it exits cleanly.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const port = await new Promise((done) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => done(port));
  });
});
const cwd = await mkdtemp(join(tmpdir(), "openclaw-smoke-"));
const env = { ...process.env, OPENCLAW_PORT: String(port), OPENCLAW_STATE_DIR: join(cwd, "state") };
delete env.OPENCLAW_GATEWAY_TOKEN;
const child = spawn(process.execPath, [join(root, "apps/gateway/dist/main.js")], {
  cwd,
  env,
  stdio: ["ignore", "pipe", "inherit"],
});
let output = "";
child.stdout.on("data", (chunk) => {
  output += chunk;
  process.stdout.write(chunk);
});
const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));

const fail = async (message) => {
  child.kill("SIGKILL");
  await rm(cwd, { recursive: true, force: true });
  console.error(`smoke test failed: ${message}`);
  process.exit(1);
};

const deadline = Date.now() + 30_000;
for (;;) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    if (res.ok) break;
  } catch {}
  if (Date.now() > deadline) await fail("no /health within 30 s");
  await new Promise((done) => setTimeout(done, 100));
}
if (!output.includes(`listening on ws://127.0.0.1:${port}`))
  await fail("no start-up log line naming the address");
const token = (await readFile(join(cwd, "state", "gateway-token"), "utf8")).trim();
const { WebSocket } = await import(resolve(root, "apps/gateway/node_modules/ws/wrapper.mjs"));
const ws = new WebSocket(`ws://127.0.0.1:${port}`);
const hello = await new Promise((done, reject) => {
  ws.once("open", () =>
    ws.send(
      JSON.stringify({
        type: "req",
        id: "1",
        method: "connect",
        data: {
          token,
          role: "operator",
          client: { name: "smoke", version: "1", platform: process.platform },
          protocol: 1,
        },
      }),
    ),
  );
  ws.once("message", (data) => done(JSON.parse(data.toString())));
  ws.once("error", reject);
});
if (hello.error !== null) await fail(`connect refused: ${JSON.stringify(hello.error)}`);
const closed = new Promise((done) => ws.once("close", (code) => done(code)));
child.kill("SIGTERM");
const [{ code }, closeCode] = await Promise.all([exited, closed]);
await rm(cwd, { recursive: true, force: true });
if (code !== 0) await fail(`exit code ${code} after SIGTERM`);
if (closeCode !== 1001) await fail(`sockets closed with ${closeCode}, expected 1001`);
console.log(
  `smoke test passed: started on the embedded defaults, handshake ok (${hello.data.connectionId}), SIGTERM closed sockets with 1001 and exited 0`,
);
