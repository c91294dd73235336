import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
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
});
