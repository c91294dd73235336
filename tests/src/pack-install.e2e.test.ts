// The published packages, installed the way users install them: every publishable workspace package
// is packed (`pnpm pack`, which rewrites `workspace:` ranges to versions and applies publishConfig),
// the tarballs are installed together into an empty project with plain `npm install`, and the
// installed `openclaw` runs the gateway, talks to it, and stops it.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const PNPM = ["-y", "pnpm@10.34.8"];
const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";
const TOKEN = "pack-install-token-0123456789abcdef";
/** Packing, installing from the registry and (when dist is missing) building take a while. */
const SETUP_TIMEOUT_MS = 600_000;

interface Manifest {
  name: string;
  private?: boolean;
}

/** Every workspace package that is published (not private). */
const publishable = ["packages", "extensions", "apps"]
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest }))
  .filter(({ manifest }) => manifest.private !== true);

let work: string;
let project: string;
let telegram: FakeTelegram;
const children: ChildProcess[] = [];

/** Runs the installed `openclaw` through npx, as a user would, in the test project. */
async function npx(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec("npx", ["--no-install", ...args], {
      cwd: project,
      env: baseEnv(env),
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "",
    HOME: work,
    NO_COLOR: "1",
    npm_config_update_notifier: "false",
    OPENCLAW_STATE_DIR: join(work, "state"),
    OPENCLAW_GATEWAY_TOKEN: TOKEN,
    ...env,
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "openclaw-pack-"));
  project = join(work, "project");
  await mkdir(join(work, "tarballs"), { recursive: true });
  await mkdir(project);

  // In CI `pnpm build` ran before the tests; elsewhere build what is missing.
  const unbuilt = publishable.filter(({ dir }) => !existsSync(join(dir, "dist")));
  if (unbuilt.length > 0 || !existsSync(join(root, "apps/gateway/dist/ui/index.html"))) {
    await exec(
      "npx",
      [...PNPM, "exec", "turbo", "run", "build", "--filter=@openclaw/cli...", "--output-logs=errors-only"],
      { cwd: root, env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1" }, maxBuffer: 64 * 1024 * 1024 },
    );
  }

  // Pack a few at a time: each `pnpm pack` is its own process.
  const queue = [...publishable];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift())
        await exec("npx", [...PNPM, "pack", "--pack-destination", join(work, "tarballs")], { cwd: next.dir });
    }),
  );
  const tarballs = readdirSync(join(work, "tarballs")).map((file) => join(work, "tarballs", file));
  expect(tarballs).toHaveLength(publishable.length);

  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "openclaw-install-test", private: true }),
  );
  // Third-party dependencies come from the registry, or from npm's cache when it has them.
  await exec(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", ...tarballs],
    {
      cwd: project,
      env: { ...process.env, npm_config_update_notifier: "false" },
      maxBuffer: 64 * 1024 * 1024,
    },
  );

  telegram = await FakeTelegram.start(BOT_TOKEN);
  await writeFile(
    join(work, "openclaw.json"),
    JSON.stringify({
      channels: { telegram: { botToken: BOT_TOKEN, apiRoot: telegram.apiRoot, pollingTimeoutSeconds: 1 } },
    }),
  );
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await telegram?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("npm install of the packed packages", () => {
  it("packs the gateway with the control UI and the CLI with its bin", () => {
    const names = publishable.map(({ manifest }) => manifest.name);
    expect(names).toEqual(expect.arrayContaining(["@openclaw/gateway", "@openclaw/cli"]));
    expect(names).not.toContain("@openclaw/web");
    const gateway = join(project, "node_modules/@openclaw/gateway");
    expect(readFileSync(join(gateway, "dist/ui/index.html"), "utf8")).toContain('<div id="app">');
    // Source files stay out of the packages.
    expect(existsSync(join(gateway, "src"))).toBe(false);
    expect(existsSync(join(project, "node_modules/.bin/openclaw"))).toBe(true);
    expect(existsSync(join(project, "node_modules/.bin/openclaw-gateway"))).toBe(true);
  });

  it("npx openclaw gateway serves, answers status and send, serves /ui/, and exits 0 on SIGTERM", async () => {
    const version = await npx(["openclaw-gateway", "--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);

    // What `npx openclaw` runs, started directly: npm exec answers SIGTERM by killing itself with
    // it, which would hide the gateway's own exit code.
    const child = spawn(
      join(project, "node_modules/.bin/openclaw"),
      ["gateway", "--config", join(work, "openclaw.json")],
      {
        cwd: project,
        env: baseEnv({ OPENCLAW_PORT: "0" }),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    let log = "";
    child.stdout.on("data", (chunk) => (log += chunk));
    child.stderr.on("data", (chunk) => (log += chunk));
    const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
      child.once("exit", (code, signal) => done({ code, signal })),
    );
    await expect
      .poll(() => /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(log)?.[1], { timeout: 60_000, interval: 100 })
      .toBeDefined();
    const port = /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(log)![1]!;
    const url = `ws://127.0.0.1:${port}`;
    expect(log).not.toContain("is not installed");

    // status: the channel loaded from the installed plugin package reaches its (fake) platform.
    await expect
      .poll(
        async () => {
          const status = await npx(["openclaw", "status", "--json", "--url", url]);
          return status.code === 0 ? JSON.parse(status.stdout) : status.stderr;
        },
        { timeout: 60_000, interval: 250 },
      )
      .toMatchObject({
        server: { name: "openclaw-gateway" },
        channels: [
          { name: "telegram", state: "ready" },
          { name: "webchat", state: "ready" },
        ],
      });

    const sent = await npx([
      "openclaw",
      "send",
      "--json",
      "--url",
      url,
      "--channel",
      "telegram",
      "--to",
      "42",
      "hello from the installed CLI",
    ]);
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ channel: "telegram" });
    expect(telegram.sentTexts()).toContain("hello from the installed CLI");

    // The control UI ships inside the gateway package.
    const page = await fetch(`http://127.0.0.1:${port}/ui/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`http://127.0.0.1:${port}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("javascript");

    // doctor, installed, asks the running gateway about its channel.
    const doctor = await npx(["openclaw", "doctor", "--json", "--config", join(work, "openclaw.json")], {
      OPENCLAW_PORT: port,
    });
    const report = JSON.parse(doctor.stdout) as {
      checks: Array<{ name: string; status: string; message: string }>;
    };
    expect(report.checks.find((check) => check.name === "port")?.message).toContain(
      "running OpenClaw gateway",
    );
    expect(report.checks.find((check) => check.name === "channel telegram")).toMatchObject({ status: "ok" });

    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(log).toContain('"msg":"stopped"');
  }, 180_000);
});
