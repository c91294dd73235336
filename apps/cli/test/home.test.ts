import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// The home of the installed CLI (~/.openclaw, or OPENCLAW_HOME), end to end: `openclaw gateway`
// started in one directory, `openclaw status` and `openclaw chat` run from another find it; a second
// gateway on the same home, and one on a busy port, say why they cannot start.
vi.setConfig({ testTimeout: 120_000 });

const main = resolve(import.meta.dirname, "../src/main.ts");
const tsx = createRequire(import.meta.url).resolve("tsx");

let root: string;
let user: string;
let port: number;
let gateway: ChildProcessWithoutNullStreams | undefined;

/** A port nothing listens on (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => done(free));
    });
  });
}

const baseEnv = (home: string): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: home,
  NO_COLOR: "1",
});

function start(args: string[], cwd: string, env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ["--conditions=@openclaw/source", "--import", tsx, main, ...args], {
    cwd,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

function openclaw(
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = start(args, cwd, env);
    child.stdin.end();
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    // A gateway that starts when it should not would never exit: stop it, the test then fails.
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(guard);
      done({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "openclaw-home-"));
  user = join(root, "user");
  await mkdir(join(root, "started-here"), { recursive: true });
  await mkdir(join(root, "elsewhere"), { recursive: true });
  port = await freePort();
  // `openclaw gateway` as a user would: no token, no state dir, no config named; a port of its own.
  gateway = start(["gateway", "--port", String(port)], join(root, "started-here"), baseEnv(user));
  let out = "";
  gateway.stderr.on("data", (chunk) => (out += chunk));
  await new Promise<void>((done, fail) => {
    gateway!.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes('"url":"ws://')) done();
    });
    gateway!.once("exit", (code) => fail(new Error(`the gateway exited with ${code}: ${out}`)));
  });
});

afterAll(async () => {
  if (gateway !== undefined && gateway.exitCode === null) {
    const exited = new Promise((done) => gateway!.once("exit", done));
    gateway.kill("SIGTERM");
    await exited;
  }
  await rm(root, { recursive: true, force: true });
});

describe("the home (~/.openclaw)", () => {
  it("the gateway keeps its state in the home (0700), not where it was started", async () => {
    // It records where it listens once it does (right after its log line).
    await vi.waitFor(
      async () => {
        const runtime = JSON.parse(await readFile(join(user, ".openclaw", "gateway.json"), "utf8"));
        if (runtime.url === undefined) throw new Error("not recorded yet");
      },
      { timeout: 15_000, interval: 20 },
    );
    const home = join(user, ".openclaw");
    expect(Number((await stat(home)).mode) & 0o777).toBe(0o700);
    expect(existsSync(join(home, ".openclaw-state", "gateway-token"))).toBe(true);
    expect(existsSync(join(root, "started-here", ".openclaw-state"))).toBe(false);
    expect(JSON.parse(await readFile(join(home, "gateway.json"), "utf8"))).toMatchObject({
      pid: gateway!.pid,
      url: `ws://127.0.0.1:${port}`,
      stateDir: join(home, ".openclaw-state"),
    });
  });

  it("status and chat from another directory find the gateway's URL and token", async () => {
    const status = await openclaw(["status"], join(root, "elsewhere"), baseEnv(user));
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/openclaw-gateway .* \(protocol 1\)/);
    const chat = await openclaw(
      ["chat", "-m", "hello from elsewhere"],
      join(root, "elsewhere"),
      baseEnv(user),
    );
    expect(chat.code).toBe(0);
    expect(chat.stdout).toContain("hello from elsewhere");
  });

  it("a second gateway on the same home says which one runs there", async () => {
    const other = await freePort();
    const second = await openclaw(
      ["gateway", "--port", String(other)],
      join(root, "elsewhere"),
      baseEnv(user),
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `a gateway already runs with this home (${join(user, ".openclaw")}): process ${gateway!.pid} at ws://127.0.0.1:${port}`,
    );
  });

  it("a busy port names the process holding it and --port", async () => {
    const busy = await openclaw(["gateway", "--port", String(port)], join(root, "elsewhere"), {
      ...baseEnv(join(root, "other-user")),
    });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`port ${port} on 127.0.0.1 is already in use by process ${gateway!.pid} (`);
    expect(busy.stderr).toContain("choose another port with --port <port>");
    // It gave its home back.
    expect(existsSync(join(root, "other-user", ".openclaw", "gateway.json"))).toBe(false);
  });

  it("gateway install runs the unit in the home, not where it was run", async () => {
    const unit = await openclaw(
      ["gateway", "install", "--print"],
      join(root, "elsewhere"),
      baseEnv(join(root, "u3")),
    );
    expect(unit.code).toBe(0);
    expect(unit.stdout).toContain(`WorkingDirectory=${join(root, "u3", ".openclaw")}`);
    expect(unit.stdout).toContain(
      `Environment=OPENCLAW_STATE_DIR=${join(root, "u3", ".openclaw", ".openclaw-state")}`,
    );
  });
});
