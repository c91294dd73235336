import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { ADMIN, type Harness, startGateway, TOKEN } from "@openclaw/gateway/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";

const main = resolve(import.meta.dirname, "../src/main.ts");
const tsx = createRequire(import.meta.url).resolve("tsx");

let h: Harness;
let dir: string;
let url: string;

beforeAll(async () => {
  h = await startGateway();
  ({ url, stateDir: dir } = h);
});

afterAll(async () => {
  await h.stop();
});

/** Runs the `openclaw` command (its source entry, as a child process) and collects its output. */
function openclaw(
  args: string[],
  env: Record<string, string> = {},
  started?: (child: ChildProcess) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--conditions=@openclaw/source", "--import", tsx, main, ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        OPENCLAW_URL: url,
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
        NO_COLOR: "1",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code) => done({ code, stdout, stderr }));
    started?.(child);
  });
}

describe("openclaw CLI against a running gateway", () => {
  it("prints help (exit 0) and refuses unknown commands and flags (exit 2)", async () => {
    const help = await openclaw(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes: 0 ok, 1 error, 2 usage, 3 authentication");
    expect((await openclaw(["frobnicate"])).code).toBe(2);
    const flag = await openclaw(["status", "--nope"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("--nope");
    const missing = await openclaw(["send", "hi"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing --to <recipient>");
  });

  it("-v prints the version; options are per command (a flag of another command is refused, exit 2)", async () => {
    const version = await openclaw(["-v"]);
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n", stderr: "" });
    const other = await openclaw(["status", "--cron", "x"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("unknown option '--cron'");
    const help = await openclaw(["tasks", "schedule", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--cron <expr>");
    expect(help.stdout).toContain("--url <ws://…>");
    expect((await openclaw(["config"])).code).toBe(2);
  });

  it("completion: a bash script generated from the commands that completes them in a real bash", async () => {
    const script = await openclaw(["completion", "bash"]);
    expect(script.code).toBe(0);
    const file = join(dir, "openclaw.bash");
    await writeFile(file, script.stdout);
    const complete = (words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _openclaw; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).trim();
    expect(complete(["openclaw", "con"])).toBe("config");
    expect(complete(["openclaw", "config", "u"])).toBe("unset");
    expect(complete(["openclaw", "tasks", "schedule", "--cr"])).toBe("--cron");
    expect((await openclaw(["completion", "fish"])).stdout).toContain("complete -c openclaw");
    expect((await openclaw(["completion", "tcsh"])).code).toBe(2);
  });

  it("config set and unset go through config.apply with the base hash", async () => {
    const set = await openclaw(["config", "set", "heartbeat.intervalMs", "20000", "--token", ADMIN]);
    expect(set.stderr).toBe("");
    expect(set.stdout).toBe("set heartbeat.intervalMs; applied\n");
    expect(h.config.get().heartbeat.intervalMs).toBe(20_000);
    const typo = await openclaw(["config", "set", "heartbeat.intervalMS", "1000", "--token", ADMIN]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('unknown key "intervalMS" (did you mean "intervalMs"?)');
    const unset = await openclaw(["config", "unset", "heartbeat.intervalMs", "--token", ADMIN]);
    expect(unset.stdout).toBe("removed heartbeat.intervalMs; applied\n");
    expect(h.config.get().heartbeat.intervalMs).toBe(15_000);
    expect((await openclaw(["config", "set", "a..b", "1", "--token", ADMIN])).code).toBe(2);
  });

  it("dashboard prints the control UI's URL and where the token comes from", async () => {
    const shown = await openclaw(["dashboard", "--no-open"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe(
      `control UI: ${url.replace("ws://", "http://")}/ui/\nlog in with the token from OPENCLAW_GATEWAY_TOKEN\n`,
    );
  });

  it("logs reads the service's journal (journalctl --user -u the unit), and says where logs are without one", async () => {
    const none = await openclaw(["logs"], { PATH: "/nonexistent" });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("journalctl not found");
    expect((await openclaw(["logs", "-n", "many"])).code).toBe(2);
    // A journalctl that prints what it was asked.
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "journalctl"), '#!/bin/sh\necho "journalctl $*"\n', { mode: 0o755 });
    const follow = await openclaw(["logs", "-f", "-n", "5"], { PATH: `${bin}:${process.env.PATH ?? ""}` });
    expect(follow.stdout).toBe("journalctl --user -u openclaw-gateway.service -n 5 -o cat -f\n");
    expect(follow.code).toBe(0);
  });

  it("status: a human summary, and JSON with --json", async () => {
    const human = await openclaw(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/openclaw-gateway .* \(protocol 1\)/);
    expect(human.stdout).toMatch(/test\s+ready/);
    const json = await openclaw(["status", "--json"]);
    // The built-in chat channel is listed too.
    expect(JSON.parse(json.stdout).channels).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "test", state: "ready" }),
        expect.objectContaining({ name: "webchat" }),
      ]),
    );
  });

  it("send reaches the platform; --json gives the result", async () => {
    const sent = await openclaw([
      "send",
      "--to",
      "chat-1",
      "--channel",
      "test",
      "--json",
      "hello",
      "from",
      "cli",
    ]);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ status: "sent", channel: "test", address: "chat-1" });
    expect(
      h.platform.requests.some((r) => (r.json as { text?: string } | undefined)?.text === "hello from cli"),
    ).toBe(true);
    const human = await openclaw(["send", "--to", "chat-1", "--channel", "test", "again"]);
    expect(human.stdout).toMatch(/^sent to test:chat-1 as tg-\d+/);
  });

  it("exit 3 with what to do when the token is wrong or lacks the admin scope", async () => {
    const wrong = await openclaw(["status"], { OPENCLAW_GATEWAY_TOKEN: "not-the-token-0000000" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain(
      "token rejected (from OPENCLAW_GATEWAY_TOKEN): set OPENCLAW_GATEWAY_TOKEN or pass --token",
    );
    const admin = await openclaw(["bindings", "list"]);
    expect(admin.code).toBe(3);
    expect(admin.stderr).toContain("admin token");
    const json = await openclaw(["bindings", "list", "--json"]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "FORBIDDEN" } });
  });

  it("exit 1 with a hint when no gateway listens", async () => {
    const down = await openclaw(["status", "--url", "ws://127.0.0.1:9"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/gateway.*running|cannot reach/);
  });

  it("pair list and pair approve a waiting device", async () => {
    const device = new GatewayClient({
      url,
      role: "node",
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    await device.connect();
    const approved = new Promise((done) => device.once("pairing.approved", done));
    await device.request("pairing.start", {
      code: "4821",
      publicKey: "MCowBQYDK2VwAyEAexamplekey1234567890",
      nodeId: "phone-1",
    });
    const list = await openclaw(["pair", "list", "--token", ADMIN]);
    expect(list.stdout).toMatch(/4821\s+phone-1/);
    const approve = await openclaw(["pair", "approve", "4821", "--token", ADMIN]);
    expect(approve.code).toBe(0);
    expect(approve.stdout).toContain("approved: phone-1");
    await approved;
    await device.close();
    const devices = await openclaw(["devices", "--json"]);
    expect(JSON.parse(devices.stdout).devices).toEqual([expect.objectContaining({ nodeId: "phone-1" })]);
  });

  it("events tails live events, filtered, and stops after --count", async () => {
    // The tail listens as soon as it is connected: wait for the gateway to count its connection.
    const watcher = await h.client();
    const operators = async () => (await watcher.request("system.status")).connections.operators;
    const before = await operators();
    const tail = openclaw(["events", "--filter", "channel.message.*", "--count", "1", "--json"]);
    await expect.poll(operators, { timeout: 15_000, interval: 20 }).toBe(before + 1);
    const response = await h.webhook({
      id: "p-1",
      chat: "chat-9",
      from: { id: "u1", name: "Ana" },
      text: "hi tail",
    });
    expect(response.ok).toBe(true);
    const { code, stdout } = await tail;
    expect(code).toBe(0);
    const line = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(line).toMatchObject({ event: "channel.message.received", data: { message: { text: "hi tail" } } });
  });

  it("bindings, route resolve, tasks, delivery and config round-trip", async () => {
    const add = await openclaw([
      "bindings",
      "add",
      "--token",
      ADMIN,
      "--level",
      "account",
      "--match",
      '{"userId":"alice"}',
      "--channel",
      "test",
      "--address",
      "chat-7",
      "--id",
      "alice-test",
    ]);
    expect(add.stdout).toContain("added binding alice-test");
    const resolved = await openclaw(["bindings", "resolve", "alice", "--token", ADMIN]);
    expect(resolved.stdout).toMatch(/^test:chat-7 \(account, binding alice-test\)/);
    const routed = await openclaw(["send", "--to", "alice", "routed"]);
    expect(routed.stdout).toContain("route: account binding alice-test");
    const scheduled = await openclaw(["tasks", "schedule", "noop", "--delay", "60000", "--json"]);
    const { taskId } = JSON.parse(scheduled.stdout);
    expect((await openclaw(["tasks", "list"])).stdout).toContain(taskId);
    const second = JSON.parse(
      (await openclaw(["tasks", "schedule", "noop", "--delay", "120000", "--json"])).stdout,
    ).taskId;
    const firstPage = (await openclaw(["tasks", "list", "--limit", "1"])).stdout;
    expect(firstPage).toContain(taskId);
    expect(firstPage).toContain("more: openclaw tasks list --cursor 1");
    const secondPage = (await openclaw(["tasks", "list", "--limit", "1", "--cursor", "1"])).stdout;
    expect(secondPage).toContain(second);
    expect(secondPage).not.toContain("more:");
    expect((await openclaw(["tasks", "cancel", second])).stdout).toContain(`cancelled ${second}`);
    expect((await openclaw(["tasks", "cancel", taskId])).stdout).toContain(`cancelled ${taskId}`);
    const delivery = await openclaw(["delivery", "list"]);
    expect(delivery.stdout).toContain("0 pending, 0 dead");
    const invalid = await openclaw(["config", "validate", '{"heartbeat":{"intervalMs":"often"}}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain("heartbeat.intervalMs");
    const valid = await openclaw(["config", "validate", "{}"]);
    expect(valid.code).toBe(0);
    const nodes = await openclaw(["nodes", "--json"]);
    expect(JSON.parse(nodes.stdout)).toEqual({ nodes: [] });
  }, 90_000); // fifteen CLI processes, each compiling its TypeScript entry
});

describe("openclaw status --watch", () => {
  it("prints one JSON sample per interval with the rates since the one before, until Ctrl-C", async () => {
    const pinger = await h.client();
    let child!: ChildProcess;
    let out = "";
    const lines = () => out.split("\n").filter((line) => line !== "");
    const run = openclaw(["status", "--watch", "--json", "--interval", "0.2"], {}, (c) => {
      child = c;
      c.stdout!.on("data", (chunk) => (out += chunk));
    });
    try {
      await vi.waitFor(() => expect(lines().length).toBeGreaterThanOrEqual(1), {
        timeout: 15_000,
        interval: 20,
      });
      // Traffic between the first sample and the next: 50 requests, answered before the next one.
      for (let i = 0; i < 50; i++) await pinger.request("ping", {});
      const sent = lines().length;
      await vi.waitFor(() => expect(lines().length).toBeGreaterThan(sent), { timeout: 15_000, interval: 20 });
    } finally {
      child.kill("SIGINT");
    }
    const { code, stderr } = await run;
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const samples = lines().map((line) => JSON.parse(line));
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples[0]).toMatchObject({
      intervalSeconds: 0,
      framesInPerSecond: 0,
      queueDepth: 0,
      deadLetters: 0,
    });
    // The pinger and the watcher itself are connected.
    expect(samples[0].connections).toBeGreaterThanOrEqual(2);
    // The 50 pings are in the rates: frames received over the samples after the first.
    const framesIn = samples.slice(1).reduce((sum, s) => sum + s.framesInPerSecond * s.intervalSeconds, 0);
    expect(Math.round(framesIn)).toBeGreaterThanOrEqual(50);
    expect(samples.slice(1).some((s) => s.requestP50Ms > 0 && s.requestP99Ms >= s.requestP50Ms)).toBe(true);
    await pinger.close();
  });

  it("refuses an interval that is not a positive number of seconds (exit 2)", async () => {
    const zero = await openclaw(["status", "--watch", "--interval", "0"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("--interval must be at least");
    expect((await openclaw(["status", "--watch", "--interval", "soon"])).code).toBe(2);
    const alone = await openclaw(["status", "--interval", "5"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("go with --watch");
  });
});
