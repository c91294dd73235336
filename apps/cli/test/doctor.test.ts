import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import telegramChannel from "@openclaw/channel-telegram";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Each case runs the CLI from its sources as a child process (a few seconds each on a busy machine).
vi.setConfig({ testTimeout: 120_000 });

const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";
const TOKEN = "operator-token-0123456789abcdef";
const main = resolve(import.meta.dirname, "../src/main.ts");
const tsx = createRequire(import.meta.url).resolve("tsx");

let dir: string;
let telegram: FakeTelegram;
let port: number;

/** A port nothing listens on (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Runs `openclaw <args>` from its sources in `cwd` with only the given environment. */
function openclaw(
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--conditions=@openclaw/source", "--import", tsx, main, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code) => done({ code, stdout, stderr }));
  });
}

/** A setup directory: `openclaw.json` with one Telegram channel, and a private state dir. */
async function setup(
  name: string,
  channel: Record<string, unknown> = {},
): Promise<{ cwd: string; env: Record<string, string> }> {
  const cwd = join(dir, name);
  await mkdir(join(cwd, "state"), { recursive: true, mode: 0o700 });
  await chmod(join(cwd, "state"), 0o700);
  await writeFile(
    join(cwd, "openclaw.json"),
    JSON.stringify({
      channels: {
        telegram: { botToken: BOT_TOKEN, apiRoot: telegram.apiRoot, pollingTimeoutSeconds: 1, ...channel },
      },
    }),
  );
  return {
    cwd,
    env: {
      // The setup directory is the home (the gateway runs there, reading its openclaw.json).
      OPENCLAW_HOME: cwd,
      OPENCLAW_STATE_DIR: join(cwd, "state"),
      OPENCLAW_PORT: String(port),
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
    },
  };
}

/** The `--json` report. */
interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: "ok" | "warn" | "fail"; message: string; fix?: string }>;
}
const check = (report: Report, name: string) => report.checks.find((c) => c.name === name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-doctor-"));
  telegram = await FakeTelegram.start(BOT_TOKEN);
  port = await freePort();
});

afterAll(async () => {
  await telegram.close();
  await rm(dir, { recursive: true, force: true });
});

describe("openclaw doctor", () => {
  it("passes a good setup: every check ok, the channel accepted by its platform, exit 0", async () => {
    const { cwd, env } = await setup("good");
    const human = await openclaw(["doctor"], cwd, env);
    expect(human.stderr).toBe("");
    expect(human.stdout).toMatch(/^ok +node +Node\.js \d+\.\d+\.\d+$/m);
    expect(human.stdout).toMatch(/^ok +config +.*openclaw\.json is valid$/m);
    expect(human.stdout).toMatch(/^ok +state dir +.* is writable and private \(0700\)$/m);
    expect(human.stdout).toMatch(/^ok +token +set \(from OPENCLAW_GATEWAY_TOKEN\)$/m);
    expect(human.stdout).toMatch(new RegExp(`^ok +port +127\\.0\\.0\\.1:${port} is free$`, "m"));
    expect(human.stdout).toMatch(/^ok +channel telegram +telegram: accepted by the platform$/m);
    expect(human.stdout).toContain("all good");
    expect(human.code).toBe(0);
    expect(telegram.calls.some((call) => call.method === "getMe")).toBe(true);

    const json = await openclaw(["doctor", "--json"], cwd, env);
    const report = JSON.parse(json.stdout) as Report;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      "node",
      "config",
      "state dir",
      "token",
      "port",
      "channel telegram",
    ]);
    expect(json.code).toBe(0);
  });

  it("a bad gateway token, and a bot token the platform refuses: what to set, exit 1", async () => {
    const { cwd, env } = await setup("bad-token", {
      botToken: "7000000001:AAWrongTokenForTests_0123456789xy",
    });
    const result = await openclaw(["doctor"], cwd, { ...env, OPENCLAW_GATEWAY_TOKEN: "short" });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL +token +the token is not usable: OPENCLAW_GATEWAY_TOKEN /m);
    expect(result.stdout).toContain("fix: set a random token of at least 16 characters");
    expect(result.stdout).toContain("OPENCLAW_GATEWAY_TOKEN=$(openssl rand -hex 32)");
    // The rest is still checked: the token alone does not hide the other findings.
    expect(result.stdout).toMatch(/^ok +config /m);
    expect(result.stdout).toMatch(/^FAIL +channel telegram +telegram: AUTH_FAILED /m);
    expect(result.stdout).toContain(
      "fix: the platform refused the credentials: check channels.telegram's token",
    );
    expect(result.stdout).toContain("2 problems to fix");
  });

  it("an unwritable state dir: says why and how to fix it, exit 1", async () => {
    const { cwd, env } = await setup("unwritable");
    // A file where a parent directory should be: not writable, whoever runs the test (root too).
    await writeFile(join(cwd, "not-a-dir"), "");
    const blocked = await openclaw(["doctor"], cwd, {
      ...env,
      OPENCLAW_STATE_DIR: join(cwd, "not-a-dir", "state"),
    });
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(
      /^FAIL +state dir +.*not-a-dir\/state cannot be created: .*not-a-dir is not a directory$/m,
    );
    expect(blocked.stdout).toContain("or point OPENCLAW_STATE_DIR (or state.dir) at a directory you own");

    // Writable but open to others: conversations and tokens would be readable.
    await chmod(join(cwd, "state"), 0o755);
    const open = await openclaw(["doctor"], cwd, env);
    expect(open.code).toBe(1);
    expect(open.stdout).toMatch(/^FAIL +state dir +.*state is not private \(mode 0755\)/m);
    expect(open.stdout).toContain(`fix: chmod 700 ${join(cwd, "state")}`);
  });

  it("--fix creates the state dir, makes it private and writes a token; then all is good", async () => {
    const { cwd, env } = await setup("fix");
    const { OPENCLAW_GATEWAY_TOKEN: _, ...noToken } = env;
    // Open to others, with no token yet.
    await chmod(join(cwd, "state"), 0o755);
    const before = await openclaw(["doctor"], cwd, noToken);
    expect(before.code).toBe(1);
    const fixed = await openclaw(["doctor", "--fix"], cwd, noToken);
    expect(fixed.stdout).toContain(`chmod 700 ${join(cwd, "state")}`);
    expect(fixed.stdout).toContain(
      `wrote a new gateway token to ${join(cwd, "state", "gateway-token")} (mode 0600)`,
    );
    expect(fixed.stdout).toMatch(/^ok +state dir +.* is writable and private \(0700\)$/m);
    expect(fixed.stdout).toMatch(/^ok +token +generated token in /m);
    expect(fixed.code).toBe(0);
    expect((await readFile(join(cwd, "state", "gateway-token"), "utf8")).trim()).toMatch(/^[\w-]{43}$/);
    // A state dir that does not exist yet is created 0700.
    const fresh = await openclaw(["doctor", "--fix"], cwd, {
      ...env,
      OPENCLAW_STATE_DIR: join(cwd, "new", "state"),
    });
    expect(fresh.stdout).toContain(`created ${join(cwd, "new", "state")} (mode 0700)`);
    expect(fresh.code).toBe(0);
  });

  it("an invalid config: each issue with file, line or path, exit 1", async () => {
    const { cwd, env } = await setup("invalid");
    await writeFile(join(cwd, "openclaw.json"), '{\n  "heartbeat": { "intervalMs": "often" },\n}\n');
    const schema = await openclaw(["doctor"], cwd, env);
    expect(schema.code).toBe(1);
    expect(schema.stdout).toMatch(/^FAIL +config +.*openclaw\.json is invalid:$/m);
    expect(schema.stdout).toMatch(/heartbeat\.intervalMs: /);
    expect(schema.stdout).toMatch(/fix: edit .*openclaw\.json/);
    expect(schema.stdout).toMatch(/^warn +channels +not checked: the config did not load$/m);

    await writeFile(join(cwd, "openclaw.json"), '{\n  "gateway": { "port": 1 \n');
    const syntax = await openclaw(["doctor", "--json"], cwd, env);
    expect(syntax.code).toBe(1);
    const config = check(JSON.parse(syntax.stdout) as Report, "config");
    expect(config?.status).toBe("fail");
    expect(config?.message).toMatch(/openclaw\.json:\d+:\d+/);
  });

  it("a typo in the config: doctor and gateway name the key and suggest the right one, exit 1", async () => {
    const { cwd, env } = await setup("typo");
    await writeFile(join(cwd, "openclaw.json"), JSON.stringify({ agentz: {}, gateway: { prot: 1 } }));
    const doctor = await openclaw(["doctor"], cwd, env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^FAIL +config +.*openclaw\.json is invalid:$/m);
    expect(doctor.stdout).toContain('agentz: unknown key "agentz" (did you mean "agents"?)');
    expect(doctor.stdout).toContain('gateway.prot: unknown key "prot" (did you mean "port"?)');
    const gateway = await openclaw(["gateway"], cwd, env);
    expect(gateway.code).toBe(1);
    expect(gateway.stderr).toContain('gateway.prot: unknown key "prot" (did you mean "port"?)');
  });

  it("a setting the channel's plugin does not know: a warning with the closest one it has", async () => {
    const { cwd, env } = await setup("plugin-typo", { pollingTimeoutSecond: 5 });
    const result = await openclaw(["doctor"], cwd, env);
    expect(result.stdout).toMatch(
      /^warn +channel telegram +telegram: accepted by the platform; telegram does not know channels\.telegram\.pollingTimeoutSecond: unknown key "pollingTimeoutSecond" \(did you mean "pollingTimeoutSeconds"\?\)$/m,
    );
    expect(result.stdout).toContain(
      "fix: rename or remove that setting in the config: the plugin ignores it",
    );
    expect(result.code).toBe(0);
  });

  it("a port taken by another program", async () => {
    const { cwd, env } = await setup("port");
    // Accepts connections and never answers (not a gateway's /health).
    const sockets = new Set<import("node:net").Socket>();
    const server = createServer((socket) => sockets.add(socket)).listen(0, "127.0.0.1");
    await new Promise((done) => server.once("listening", done));
    const taken = (server.address() as { port: number }).port;
    try {
      const result = await openclaw(["doctor", "--port", String(taken)], cwd, env);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(`^FAIL +port +127\\.0\\.0\\.1:${taken} is in use by another program$`, "m"),
      );
      expect(result.stdout).toContain("choose another with --port / OPENCLAW_PORT / gateway.port");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    }
  });
});

describe("openclaw doctor with the gateway running", () => {
  it("asks the running gateway: its channels' state, and whether it accepts the token", async () => {
    const { cwd, env } = await setup("running");
    const config = new ConfigManager({
      path: join(cwd, "openclaw.json"),
      env: { ...env, OPENCLAW_PORT: "0" },
    });
    await config.load();
    const gateway = new Gateway({ config, channels: [telegramChannel], logger: createLogger("silent") });
    const { url } = await gateway.start();
    const running = url.replace(/^.*:/, "");
    try {
      await expect
        .poll(async () => (await fetch(`${url.replace(/^ws/, "http")}/ready`)).status, { timeout: 30_000 })
        .toBe(200);
      const ok = await openclaw(["doctor", "--port", running], cwd, env);
      expect(ok.stdout).toMatch(
        new RegExp(`^ok +port +127\\.0\\.0\\.1:${running} is in use by a running OpenClaw gateway`, "m"),
      );
      expect(ok.stdout).toMatch(
        /^ok +channel telegram +telegram: ready \(checked by the running gateway\)$/m,
      );
      expect(ok.code).toBe(0);

      const refused = await openclaw(["doctor", "--port", running], cwd, {
        ...env,
        OPENCLAW_GATEWAY_TOKEN: "another-token-0123456789abcdef",
      });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(
        new RegExp(`^FAIL +token +the gateway running on 127\\.0\\.0\\.1:${running} refuses this token`, "m"),
      );
      expect(refused.stdout).toContain("fix: use the token that gateway was started with");
    } finally {
      await gateway.stop({ drainTimeoutMs: 200 });
      await config.close();
    }
  });
});

describe("openclaw gateway install", () => {
  it("--print: absolute paths, Environment= lines, no token in the unit", async () => {
    const { cwd, env } = await setup("unit");
    const result = await openclaw(["gateway", "install", "--print"], cwd, env);
    expect(result.code).toBe(0);
    const unit = result.stdout;
    const script = resolve(import.meta.dirname, "../../gateway/dist/main.js");
    expect(unit).toContain(`ExecStart=${process.execPath} ${script}`);
    expect(unit).toContain(`WorkingDirectory=${cwd}`);
    expect(unit).toContain(`Environment=OPENCLAW_CONFIG=${join(cwd, "openclaw.json")}`);
    expect(unit).toContain(`Environment=OPENCLAW_STATE_DIR=${join(cwd, "state")}`);
    expect(unit).toContain(`Environment=OPENCLAW_PORT=${port}`);
    expect(unit).toContain(`EnvironmentFile=-${join(cwd, ".config", "openclaw", "gateway.env")}`);
    expect(unit).toContain("LimitNOFILE=65536");
    expect(unit).toMatch(/^\[Install\]\nWantedBy=default\.target$/m);
    expect(unit).not.toContain(TOKEN);
  });

  it("writes the unit under the user's systemd directory and says where the token goes", async () => {
    const { cwd, env } = await setup("install");
    const result = await openclaw(["gateway", "install"], cwd, { ...env, XDG_CONFIG_HOME: join(cwd, "xdg") });
    expect(result.code).toBe(0);
    const path = join(cwd, "xdg", "systemd", "user", "openclaw-gateway.service");
    expect(result.stdout).toContain(`wrote ${path}`);
    expect(result.stdout).toContain(
      `OPENCLAW_GATEWAY_TOKEN is set here but not written into the unit: put OPENCLAW_GATEWAY_TOKEN=… in ${join(cwd, "xdg", "openclaw", "gateway.env")}`,
    );
    expect(result.stdout).toContain("systemctl --user enable --now openclaw-gateway.service");
    const unit = await readFile(path, "utf8");
    expect(unit).toContain(`Environment=OPENCLAW_STATE_DIR=${join(cwd, "state")}`);
    expect(unit).not.toContain(TOKEN);
  });

  it("refuses an invalid config, and a wrong flag", async () => {
    const { cwd, env } = await setup("install-invalid");
    await writeFile(join(cwd, "openclaw.json"), '{ "heartbeat": { "intervalMs": 5 } }');
    const invalid = await openclaw(["gateway", "install", "--print"], cwd, env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("the config is invalid");
    expect(invalid.stdout).toBe("");
    const usage = await openclaw(["gateway", "install", "--nope"], cwd, env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("Usage: openclaw gateway install");
  });
});

describe("openclaw gateway", () => {
  it("takes the gateway's flags: --help names it openclaw gateway; a wrong flag is a usage error", async () => {
    const help = await openclaw(["gateway", "--help"], dir, {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      "Usage: openclaw gateway [--config <file>] [--port <port>] [--bind <address>]",
    );
    const wrong = await openclaw(["gateway", "--nope"], dir, {});
    expect(wrong.code).toBe(2);
    const main = await openclaw(["--help"], dir, {});
    expect(main.stdout).toMatch(/^ {2}gateway \[options\.\.\.\] +run the gateway in the foreground/m);
    expect(main.stdout).toMatch(/^ {2}doctor \[options\.\.\.\] +check the setup/m);
  });
});
