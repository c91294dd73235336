import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { kill9, startGatewayProcess } from "./gateway-process";

// Logs a person can read: the real gateway process, its stdout a pipe (not a terminal).

let dir: string;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  await rm(dir, { recursive: true, force: true });
});

async function start(config: object = {}, args: string[] = []) {
  dir = await mkdtemp(join(tmpdir(), "openclaw-logs-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({ heartbeat: { intervalMs: 60_000 }, ...config }),
  );
  // No OPENCLAW_GATEWAY_TOKEN: the gateway generates one in its state dir and says where.
  const env = { OPENCLAW_GATEWAY_TOKEN: "" };
  return startGatewayProcess(dir, env, children, { args });
}

describe("log format", () => {
  it("writes JSON lines when stdout is not a terminal, the start-up line naming the UI and the token file", async () => {
    const gateway = await start();
    const http = gateway.url.replace(/^ws/, "http");
    const lines = gateway
      .output()
      .split("\n")
      .filter((line) => line !== "");
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const listening = parsed.find((line) => typeof line.ui === "string")!;
    expect(listening).toMatchObject({ level: 30, ui: `${http}/ui/`, url: gateway.url });
    expect(typeof listening.time).toBe("number");
    const tokenFile = join(dir, "state", "gateway-token");
    expect(listening.msg).toContain(`control UI at ${http}/ui/`);
    expect(listening.msg).toContain(tokenFile);
    const token = (await readFile(tokenFile, "utf8")).trim();
    expect(token.length).toBeGreaterThan(15);
    expect(gateway.output()).not.toContain(token);
  });

  it("writes readable lines with ISO times with --log-format pretty (and logging.format pretty)", async () => {
    for (const [config, args] of [
      [{}, ["--log-format", "pretty"]],
      [{ logging: { format: "pretty" } }, []],
    ] as const) {
      const gateway = await start(config, [...args]);
      const http = gateway.url.replace(/^ws/, "http");
      const output = gateway.output();
      const line = output.split("\n").find((text) => text.includes("OpenClaw Gateway listening on"));
      expect(line, output).toMatch(
        /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] INFO: OpenClaw Gateway listening on ws:\/\/127\.0\.0\.1:\d+ /,
      );
      expect(line).toContain(`control UI at ${http}/ui/`);
      expect(line).toContain(join(dir, "state", "gateway-token"));
      // Its fields follow, indented; no line is JSON.
      expect(output).toContain(`    ui: "${http}/ui/"`);
      for (const text of output.split("\n")) expect(text.startsWith("{")).toBe(false);
      for (const child of children.splice(0)) await kill9(child);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown --log-format with the usage", async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-logs-"));
    await writeFile(join(dir, "openclaw.json"), "{}");
    await expect(start({}, ["--log-format", "xml"])).rejects.toThrow(
      /exited with 2[\s\S]*--log-format must be pretty or json/,
    );
  });

  it("writes coloured readable lines on a terminal by default (a real pty, through script(1))", async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-logs-"));
    await writeFile(join(dir, "openclaw.json"), JSON.stringify({ heartbeat: { intervalMs: 60_000 } }));
    const root = resolve(import.meta.dirname, "../..");
    const tsx = createRequire(join(root, "package.json")).resolve("tsx");
    const main = join(root, "apps/gateway/src/main.ts");
    // Should the test fail before it sends Ctrl-C, afterEach kills script(1): the terminal hangs up
    // (SIGHUP ends the gateway).
    const command = `exec ${process.execPath} --conditions=@openclaw/source --import ${tsx} ${main} --config ${join(dir, "openclaw.json")}`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: dir,
      env: { ...process.env, OPENCLAW_PORT: "0", OPENCLAW_STATE_DIR: join(dir, "state"), NO_COLOR: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.once("exit", done));
    await vi.waitFor(() => expect(output).toContain("OpenClaw Gateway listening on"), { timeout: 30_000 });
    const line = output.split("\n").find((text) => text.includes("OpenClaw Gateway listening on"))!;
    // An ISO time, the level in green, the message in cyan (ANSI colours).
    expect(line).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] /);
    expect(line).toContain("\u001b[32mINFO\u001b[39m: \u001b[36mOpenClaw Gateway listening on");
    expect(line).toContain("/ui/");
    // Ctrl-C on the terminal: SIGINT to the gateway, which stops cleanly.
    child.stdin!.write("\u0003");
    expect(await exited).toBe(0);
    expect(output).toContain("stopped");
  });
});
