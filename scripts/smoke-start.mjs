// CI smoke test of the README's start command: runs it on a free port in a temporary working
// directory (so the embedded defaults apply), waits for /health, opens a WebSocket session with the
// generated token, then stops the gateway with SIGTERM and checks it exits cleanly. A second run with
// an openclaw.json naming the bundled channel plugins checks that the service finds and starts them.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
const ui = await fetch(`http://127.0.0.1:${port}/ui/`);
if (ui.status !== 200 || !(await ui.text()).includes('<div id="app">'))
  await fail(`the control UI is not served at /ui/ (status ${ui.status})`);
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
// The built `openclaw` CLI finds the local gateway's token file by itself.
const { spawnSync } = await import("node:child_process");
const cli = spawnSync(
  process.execPath,
  [join(root, "apps/cli/dist/main.js"), "status", "--json", "--url", `ws://127.0.0.1:${port}`],
  {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd, OPENCLAW_STATE_DIR: join(cwd, "state") },
    encoding: "utf8",
  },
);
if (cli.status !== 0) await fail(`openclaw status exited ${cli.status}: ${cli.stderr}`);
if (JSON.parse(cli.stdout).server?.name !== "openclaw-gateway")
  await fail(`openclaw status printed ${cli.stdout}`);
console.log("smoke test: the built openclaw CLI read the local token file and got the status");
const closed = new Promise((done) => ws.once("close", (code) => done(code)));
child.kill("SIGTERM");
const [{ code }, closeCode] = await Promise.all([exited, closed]);
await rm(cwd, { recursive: true, force: true });
if (code !== 0) await fail(`exit code ${code} after SIGTERM`);
if (closeCode !== 1001) await fail(`sockets closed with ${closeCode}, expected 1001`);
console.log(
  `smoke test passed: started on the embedded defaults, handshake ok (${hello.data.connectionId}), SIGTERM closed sockets with 1001 and exited 0`,
);

// Second run: the bundled channel plugins load from the service's own dependencies. Their platforms
// are unreachable here, so each channel must be listed by /ready as down with a platform error, or
// still connecting (grammY retries getMe), never missing; and SIGTERM must still stop the service.
const closed2 = await new Promise((done) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => done(port));
  });
});
const nowhere = `http://127.0.0.1:${closed2}`;
const cwd2 = await mkdtemp(join(tmpdir(), "openclaw-smoke-"));
await writeFile(
  join(cwd2, "openclaw.json"),
  JSON.stringify({
    channels: {
      telegram: { botToken: "7000000001:AAFakeTokenForTests_0123456789abc", apiRoot: nowhere },
      discord: {
        botToken: "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GfakeX.fake-token-for-tests-0123456789abcdef",
        apiRoot: `${nowhere}/api`,
        readyTimeoutMs: 2000,
      },
      matrix: {
        homeserverUrl: nowhere,
        userId: "@openclaw:example.org",
        accessToken: "syt_fake_access_token",
        readyTimeoutMs: 2000,
      },
      signal: {
        daemonUrl: nowhere,
        account: "+15550000000",
        connectTimeoutMs: 2000,
        requestTimeoutMs: 2000,
      },
      slack: {
        botToken: "xoxb-1000000001-2000000002-FakeBotToken0123456789",
        appToken: "xapp-1-A0FAKEAPP-3000000003-fakeapptoken0123456789abcdef",
        apiUrl: `${nowhere}/api/`,
        requestTimeoutMs: 2000,
      },
      whatsapp: {
        phoneNumberId: "106540352242922",
        accessToken: "EAAGfakeAccessTokenForSmoke0123456789",
        appSecret: "app-secret-0123456789abcdef",
        verifyToken: "verify-token-0123",
        graphApiUrl: nowhere,
        requestTimeoutMs: 2000,
      },
      msteams: {
        appId: "a1b2c3d4-0000-4000-8000-0000000b07a1",
        appPassword: "fake~client~secret~0123456789",
        openIdMetadataUrl: `${nowhere}/v1/.well-known/openidconfiguration`,
        tokenUrl: `${nowhere}/botframework.com/oauth2/v2.0/token`,
        stateDir: join(cwd2, "state", "msteams"),
        requestTimeoutMs: 2000,
      },
    },
  }),
);
const child2 = spawn(process.execPath, [join(root, "apps/gateway/dist/main.js")], {
  cwd: cwd2,
  env: { ...env, OPENCLAW_STATE_DIR: join(cwd2, "state"), OPENCLAW_GATEWAY_TOKEN: "smoke-token-0123456789" },
  stdio: ["ignore", "pipe", "inherit"],
});
let output2 = "";
child2.stdout.on("data", (chunk) => {
  output2 += chunk;
});
const exited2 = new Promise((done) => child2.once("exit", (code) => done(code)));
const fail2 = async (message) => {
  child2.kill("SIGKILL");
  await rm(cwd2, { recursive: true, force: true });
  console.error(`smoke test failed: ${message}\n${output2}`);
  process.exit(1);
};
const configured = Object.keys(
  JSON.parse(await readFile(join(cwd2, "openclaw.json"), "utf8")).channels,
).length;
let ready;
const deadline2 = Date.now() + 30_000;
for (;;) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ready`);
    ready = await res.json();
    // The configured platforms, down or connecting (nothing to reach), and the built-in chat, ready.
    if (
      ready.channels?.length === configured + 1 &&
      ready.channels.every(
        (c) =>
          c.state === "down" ||
          (c.name === "telegram" && c.state === "connecting") ||
          (c.name === "webchat" && c.state === "ready"),
      )
    )
      break;
  } catch {}
  if (Date.now() > deadline2)
    await fail2(`channels not all down or connecting within 30 s: ${JSON.stringify(ready)}`);
  await new Promise((done) => setTimeout(done, 100));
}
if (output2.includes("is not installed")) await fail2("a bundled channel plugin was not found");
for (const channel of ready.channels)
  if (channel.state === "down" && channel.lastError?.code !== "PLATFORM_UNAVAILABLE")
    await fail2(`${channel.name} is down for another reason: ${JSON.stringify(channel.lastError)}`);
child2.kill("SIGTERM");
const code2 = await exited2;
await rm(cwd2, { recursive: true, force: true });
if (code2 !== 0) await fail2(`exit code ${code2} after SIGTERM with channels configured`);
console.log(
  `smoke test passed: ${ready.channels.map((c) => c.name).join(", ")} loaded from the service's dependencies`,
);
