import { mkdtemp, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "./ConfigError";
import {
  type ConfigChangeEvent,
  type ConfigInvalidEvent,
  ConfigManager,
  type ConfigManagerOptions,
} from "./ConfigManager";
import { diffConfig } from "./diff";
import { resolveConfig } from "./resolve";
import { redact, redactUrl } from "./secrets";

let dir: string;
let file: string;
const managers: ConfigManager[] = [];
const TOKEN = "tok_0123456789abcdef";

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-config-"));
  file = join(dir, "openclaw.json");
});
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close();
  await rm(dir, { recursive: true, force: true });
});

const manager = (options: ConfigManagerOptions = {}) => {
  const m = new ConfigManager({ path: file, env: {}, debounceMs: 30, pollIntervalMs: 100, ...options });
  managers.push(m);
  return m;
};

const until = (predicate: () => boolean, timeoutMs = 5000) =>
  vi.waitFor(
    () => {
      if (!predicate()) throw new Error("condition not met in time");
    },
    { timeout: timeoutMs, interval: 10 },
  );

const loadError = async (m: ConfigManager) => {
  const error = await m.load().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
};

describe("loading", () => {
  it("runs on embedded defaults with no file at all", async () => {
    const m = new ConfigManager({ path: null, env: {} });
    const config = await m.load();
    expect(config.gateway).toMatchObject({ host: "127.0.0.1", port: 18789 });
    expect(config.heartbeat.intervalMs).toBe(15_000);
    expect(config.agents).toEqual({ default: "echo", list: { echo: { provider: "echo" } } });
    expect(m.source).toBeNull();
    expect(m.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("uses defaults when the implicit openclaw.json is absent, but refuses a named file that is missing", async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const implicit = new ConfigManager({ env: {} });
      await expect(implicit.load()).resolves.toMatchObject({ gateway: { port: 18789 } });
    } finally {
      process.chdir(cwd);
    }
    const error = await loadError(new ConfigManager({ env: { OPENCLAW_CONFIG: join(dir, "nope.json") } }));
    expect(error.message).toContain("does not exist");
  });

  it("reads JSON5 with comments and trailing commas", async () => {
    await writeFile(
      file,
      `{
      // the gateway
      gateway: { port: 19000, },
      channels: { telegram: { botToken: "${TOKEN}", mode: 'polling' } },
    }`,
    );
    const config = await manager().load();
    expect(config.gateway.port).toBe(19000);
    expect(config.channels.telegram).toEqual({ enabled: true, botToken: TOKEN, mode: "polling" });
  });

  it("names file, line and column for a syntax error", async () => {
    await writeFile(file, '{\n  "gateway": {\n    "port": 19000,,\n  }\n}\n');
    const error = await loadError(manager());
    expect(error.code).toBe("INVALID_PARAMS");
    expect(error.issues).toEqual([expect.objectContaining({ path: "", file, line: 3, column: 19 })]);
    expect(error.message).toContain(`${file}:3:19`);
  });

  it("names the config path of every schema error", async () => {
    await writeFile(
      file,
      JSON.stringify({ gateway: { port: 70000 }, heartbeat: { intervalMs: "often" }, cron: [{ id: "a" }] }),
    );
    const error = await loadError(manager());
    const paths = error.issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining(["gateway.port", "heartbeat.intervalMs", "cron.0.schedule", "cron.0.type"]),
    );
    expect(error.issues.every((issue) => issue.file === file)).toBe(true);
  });

  it("never puts a secret's value in an error", async () => {
    await writeFile(file, JSON.stringify({ security: { token: "short-secret" } }));
    const error = await loadError(manager());
    expect(error.issues[0]?.path).toBe("security.token");
    expect(JSON.stringify(error.issues)).not.toContain("short-secret");
    expect(error.message).not.toContain("short-secret");
  });
});

describe("environment", () => {
  it("substitutes ${VAR} in strings, keeps $${VAR} literal, and reports unset variables by path", async () => {
    await writeFile(
      file,
      JSON.stringify({ channels: { telegram: { botToken: "${TG_TOKEN}", note: "cost: $${DOLLARS}" } } }),
    );
    const config = await manager({ env: { TG_TOKEN: TOKEN } }).load();
    expect(config.channels.telegram).toMatchObject({ botToken: TOKEN, note: "cost: ${DOLLARS}" });
    const error = await loadError(manager({ env: {} }));
    expect(error.issues).toEqual([
      expect.objectContaining({
        path: "channels.telegram.botToken",
        message: "environment variable TG_TOKEN is not set",
      }),
    ]);
  });

  it("lets OPENCLAW_* variables override the file", async () => {
    await writeFile(
      file,
      JSON.stringify({ gateway: { port: 19000 }, security: { token: "file-token-0123456789" } }),
    );
    const config = await manager({
      env: {
        OPENCLAW_PORT: "19001",
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
        OPENCLAW_ADMIN_TOKEN: `${TOKEN}-admin`,
        OPENCLAW_STATE_DIR: "/var/lib/openclaw",
      },
    }).load();
    expect(config.gateway.port).toBe(19001);
    expect(config.security).toMatchObject({ token: TOKEN, adminToken: `${TOKEN}-admin` });
    expect(config.state.dir).toBe("/var/lib/openclaw");
    const error = await loadError(manager({ env: { OPENCLAW_PORT: "eighty" } }));
    expect(error.issues).toEqual([
      expect.objectContaining({ path: "gateway.port", message: "OPENCLAW_PORT must be a port number" }),
    ]);
  });
});

describe("cluster", () => {
  it("is absent by default, set by the file or OPENCLAW_REDIS_URL, with defaults filled in", async () => {
    await writeFile(file, "{}");
    expect((await manager({ env: {} }).load()).cluster).toBeUndefined();
    const fromEnv = await manager({ env: { OPENCLAW_REDIS_URL: "redis://127.0.0.1:6390" } }).load();
    expect(fromEnv.cluster).toEqual({
      redisUrl: "redis://127.0.0.1:6390",
      namespace: "openclaw",
      leaseTtlMs: 10_000,
      instanceTtlMs: 5_000,
    });
    await writeFile(file, JSON.stringify({ cluster: { redisUrl: "redis://db:6379", instanceId: "gw-a" } }));
    expect((await manager({ env: {} }).load()).cluster).toMatchObject({
      redisUrl: "redis://db:6379",
      instanceId: "gw-a",
    });
  });

  it("refuses a URL that is not Redis's, and an instance id with spaces, by path", async () => {
    await writeFile(file, JSON.stringify({ cluster: { redisUrl: "http://db", instanceId: "a b" } }));
    const error = await loadError(manager({ env: {} }));
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      "cluster.instanceId",
      "cluster.redisUrl",
    ]);
  });

  it("redacts the password of the Redis URL, and needs a restart to change", async () => {
    const previous = resolveConfig({ cluster: { redisUrl: "redis://:s3cret@db:6379/0" } }, {});
    if (!previous.valid) throw new Error("invalid");
    expect(redact(previous.config).cluster?.redisUrl).toBe("redis://:[redacted]@db:6379/0");
    expect(redact({ url: "rediss://user:pw@db" }).url).toBe("rediss://user:[redacted]@db");
    // In any text (an error message holding the URL), every URL's password.
    expect(redactUrl("connecting to redis://:pw@a:1 failed; then rediss://u:p@b")).toBe(
      "connecting to redis://:[redacted]@a:1 failed; then rediss://u:[redacted]@b",
    );
    expect(redactUrl("redis://a:6379/0 and http://host:80/x@y")).toBe(
      "redis://a:6379/0 and http://host:80/x@y",
    );
    const next = resolveConfig({ cluster: { redisUrl: "redis://db2:6379" } }, {});
    if (!next.valid) throw new Error("invalid");
    expect(diffConfig(previous.config, next.config).restartRequired).toEqual(["cluster"]);
  });
});

describe("validate, diff, redact", () => {
  it("validates without applying", async () => {
    await writeFile(file, "{}");
    const m = manager();
    await m.load();
    expect(m.validate({ gateway: { port: 1234 } })).toMatchObject({
      valid: true,
      config: { gateway: { port: 1234 } },
    });
    expect(m.validate({ gateway: { port: "x" } })).toMatchObject({
      valid: false,
      issues: [{ path: "gateway.port" }],
    });
    expect(m.validate([1, 2])).toMatchObject({
      valid: false,
      issues: [{ path: "", message: "the config must be a JSON object" }],
    });
    expect(m.validate({ agents: { default: "gpt", list: {} } })).toMatchObject({ valid: false });
    expect(m.get().gateway.port).toBe(18789);
  });

  it("reports which sections changed and which need a restart", () => {
    const base = resolveConfig(
      { channels: { telegram: { botToken: TOKEN }, discord: { token: TOKEN } } },
      {},
    );
    const next = resolveConfig(
      {
        gateway: { port: 1 },
        heartbeat: { intervalMs: 5000 },
        channels: { telegram: { botToken: `${TOKEN}x` }, discord: { token: TOKEN }, matrix: {} },
      },
      {},
    );
    if (!base.valid || !next.valid) throw new Error("fixtures must be valid");
    expect(diffConfig(base.config, next.config)).toEqual({
      changed: ["channels.matrix", "channels.telegram", "gateway.port", "heartbeat"],
      applied: ["channels.matrix", "channels.telegram", "heartbeat"],
      restartRequired: ["gateway.port"],
    });
    expect(diffConfig(base.config, base.config).changed).toEqual([]);
  });

  it("redacts every secret, however deep", () => {
    const redacted = redact({
      security: { token: TOKEN, adminToken: TOKEN, allowedOrigins: ["x"] },
      channels: { slack: { signingSecret: "s", botToken: "b", appId: "A1" } },
      agents: { list: { gpt: { provider: "openai", apiKey: "k" } } },
    });
    expect(JSON.stringify(redacted)).not.toMatch(/tok_|"s"|"b"|"k"/);
    expect(redacted).toMatchObject({
      security: { token: "[redacted]", allowedOrigins: ["x"] },
      channels: { slack: { appId: "A1" } },
    });
  });
});

describe("apply", () => {
  it("replaces or merges, writes the file with placeholders intact, and says what changed", async () => {
    await writeFile(file, JSON.stringify({ channels: { telegram: { botToken: "${TG}" } } }));
    const m = manager({ env: { TG: TOKEN } });
    await m.load();
    const changes: ConfigChangeEvent[] = [];
    m.on("change", (event) => changes.push(event));
    const merged = await m.apply(
      { heartbeat: { intervalMs: 5000 }, gateway: { port: 19999 } },
      { mode: "merge" },
    );
    expect(merged).toMatchObject({ applied: ["heartbeat"], restartRequired: ["gateway.port"], hash: m.hash });
    expect(m.get().channels.telegram?.botToken).toBe(TOKEN);
    const written = JSON.parse(await readFile(file, "utf8"));
    expect(written.channels.telegram.botToken).toBe("${TG}");
    expect(changes).toHaveLength(1);
    expect(changes[0]?.origin).toBe("apply");
    const replaced = await m.apply({});
    expect(replaced.changed).toEqual(["channels.telegram", "gateway.port", "heartbeat"]);
  });

  it("changes nothing when the new config is invalid or the base hash is stale", async () => {
    await writeFile(file, "{}");
    const m = manager();
    await m.load();
    const before = m.hash;
    await expect(m.apply({ gateway: { port: -1 } })).rejects.toMatchObject({ code: "INVALID_PARAMS" });
    await expect(m.apply({ heartbeat: { intervalMs: 5000 } }, { baseHash: "stale" })).rejects.toMatchObject({
      code: "CONFLICT",
      details: { reason: "stale_hash" },
    });
    await expect(m.apply("nope")).rejects.toMatchObject({ code: "INVALID_PARAMS" });
    expect(m.hash).toBe(before);
    expect(await readFile(file, "utf8")).toBe("{}");
    await m.apply({ heartbeat: { intervalMs: 5000 } }, { baseHash: before });
    expect(m.get().heartbeat.intervalMs).toBe(5000);
  });

  it("ignores prototype-polluting keys in a merge patch", async () => {
    await writeFile(file, "{}");
    const m = manager();
    await m.load();
    await m.apply(JSON.parse('{"__proto__":{"polluted":true},"heartbeat":{"intervalMs":5000}}'), {
      mode: "merge",
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("hot reload", () => {
  const watched = async (initial: unknown) => {
    await writeFile(file, JSON.stringify(initial));
    const m = manager();
    await m.load();
    const changes: ConfigChangeEvent[] = [];
    const invalid: ConfigInvalidEvent[] = [];
    m.on("change", (event) => changes.push(event));
    m.on("invalid", (event) => invalid.push(event));
    m.watch();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { m, changes, invalid };
  };

  it("applies an edit written in place", async () => {
    const { m, changes } = await watched({ heartbeat: { intervalMs: 10_000 } });
    await writeFile(file, JSON.stringify({ heartbeat: { intervalMs: 20_000 } }));
    await until(() => changes.length === 1);
    expect(changes[0]).toMatchObject({
      origin: "file",
      diff: { applied: ["heartbeat"], restartRequired: [] },
    });
    expect(m.get().heartbeat.intervalMs).toBe(20_000);
  });

  it("applies an editor's rename-replace save", async () => {
    const { m, changes } = await watched({ heartbeat: { intervalMs: 10_000 } });
    await writeFile(`${file}.swp`, JSON.stringify({ heartbeat: { intervalMs: 30_000 } }));
    await rename(`${file}.swp`, file);
    await until(() => m.get().heartbeat.intervalMs === 30_000);
    expect(changes).toHaveLength(1);
  });

  it("keeps the active config through an invalid edit, then takes the fix", async () => {
    const { m, changes, invalid } = await watched({ channels: { telegram: { botToken: TOKEN } } });
    await writeFile(file, '{ "channels": { "telegram": { "botToken": ');
    await until(() => invalid.length === 1);
    expect(invalid[0]).toMatchObject({ file, issues: [{ path: "", file, line: 1 }] });
    await writeFile(file, JSON.stringify({ channels: { telegram: { enabled: "yes" } } }));
    await until(() => invalid.length === 2);
    expect(invalid[1]?.issues[0]?.path).toBe("channels.telegram.enabled");
    expect(m.get().channels.telegram?.botToken).toBe(TOKEN);
    expect(changes).toHaveLength(0);
    await writeFile(file, JSON.stringify({ channels: { telegram: { botToken: TOKEN, mode: "webhook" } } }));
    await until(() => changes.length === 1);
    expect(changes[0]?.diff.applied).toEqual(["channels.telegram"]);
  });

  it("keeps the config when the file is deleted, and reloads when it comes back", async () => {
    const { m, changes, invalid } = await watched({ heartbeat: { intervalMs: 10_000 } });
    await unlink(file);
    await until(() => invalid.length === 1);
    expect(invalid[0]?.issues[0]?.message).toContain("deleted");
    expect(m.get().heartbeat.intervalMs).toBe(10_000);
    await writeFile(file, JSON.stringify({ heartbeat: { intervalMs: 40_000 } }));
    await until(() => changes.length === 1);
    expect(m.get().heartbeat.intervalMs).toBe(40_000);
  });

  it("settles on the last of rapid successive edits", async () => {
    const { m, changes } = await watched({ heartbeat: { intervalMs: 10_000 } });
    const seen: number[] = [];
    m.on("change", () => seen.push(m.get().heartbeat.intervalMs));
    for (let i = 1; i <= 20; i++)
      await writeFile(file, JSON.stringify({ heartbeat: { intervalMs: 10_000 + i * 1000 } }));
    await until(() => m.get().heartbeat.intervalMs === 30_000);
    // One more, later edit: once it is applied, nothing from the burst can still be pending.
    await writeFile(file, JSON.stringify({ heartbeat: { intervalMs: 99_000 } }));
    await until(() => m.get().heartbeat.intervalMs === 99_000);
    expect(seen.slice(-2)).toEqual([30_000, 99_000]);
    expect(changes.length).toBeLessThanOrEqual(4);
  });

  it("does not report its own apply as a file change", async () => {
    const { m, changes } = await watched({ heartbeat: { intervalMs: 10_000 } });
    await m.apply({ heartbeat: { intervalMs: 12_000 } });
    // A real edit after it: its change comes after anything the apply's own write could cause.
    await writeFile(file, JSON.stringify({ heartbeat: { intervalMs: 13_000 } }));
    await until(() => m.get().heartbeat.intervalMs === 13_000);
    expect(changes.map((c) => c.origin)).toEqual(["apply", "file"]);
  });

  it("leaves no watcher or timer behind after close", async () => {
    const before = process.getActiveResourcesInfo().length;
    const { m } = await watched({});
    await m.close();
    managers.splice(managers.indexOf(m), 1);
    // Closed handles leave the list in the event loop's close phase: let two turns pass.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before);
  });
});
