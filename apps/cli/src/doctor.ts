import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type ChannelContext, type ChannelHealth, type ChannelPluginFactory, v } from "@openclaw/channel-sdk";
import { type Config, ConfigError, type ConfigIssue, ConfigManager, unknownKeys } from "@openclaw/config";
import {
  type ChannelStatus,
  DEFAULT_GATEWAY_HOST,
  DEFAULT_GATEWAY_PORT,
  GatewayClient,
} from "@openclaw/protocol";
import { WebSocket } from "ws";
import { enterHome, openclawHome } from "./home";

/** How one check came out: `fail` needs fixing (non-zero exit), `warn` is worth knowing. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One check of `openclaw doctor`. */
export interface DoctorCheck {
  /** What was checked: `node`, `config`, `state dir`, `token`, `port`, `channel <name>`. */
  name: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** What to do about it (for `warn` and `fail`). */
  fix?: string;
}

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /**
   * The environment (the `OPENCLAW_*` variables the gateway would see).
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /**
   * The config file.
   * @defaultValue `$OPENCLAW_CONFIG`, else `./openclaw.json` if present, else the embedded defaults
   */
  configPath?: string;
  /**
   * How long a channel may take to be accepted by its platform when doctor starts it briefly.
   * @defaultValue 10000
   */
  channelTimeoutMs?: number;
  /**
   * Timeout of each probe of a running gateway (`/health`, the WebSocket handshake, `channel.status`).
   * @defaultValue 3000
   */
  probeTimeoutMs?: number;
  /**
   * The Node.js version to check.
   * @defaultValue `process.versions.node`
   */
  nodeVersion?: string;
  /**
   * Fix what can be fixed before checking (`openclaw doctor --fix`): create the state dir (0700),
   * make it and the token file private (0700, 0600), write a token when none is configured or
   * generated yet. Each fix is reported as a `fixed` check.
   * @defaultValue false
   */
  fix?: boolean;
}

/** The defaults of {@link DoctorOptions}. */
export const DEFAULT_DOCTOR_OPTIONS = Object.freeze({
  channelTimeoutMs: 10_000,
  probeTimeoutMs: 3_000,
  /** The oldest Node.js the gateway supports (its `engines`). */
  minNodeVersion: "20.19.0",
});

const TOKEN_PATHS = ["security.token", "security.adminToken"];
const isTokenIssue = (issue: ConfigIssue) =>
  TOKEN_PATHS.some((path) => issue.path === path || issue.path.startsWith(`${path}.`));
const formatIssue = (issue: ConfigIssue) =>
  `${issue.file ?? ""}${issue.line === undefined ? "" : `:${issue.line}:${issue.column ?? 0}`}${issue.file === undefined ? "" : " "}${issue.path || "(file)"}: ${issue.message}`;

/**
 * Checks a gateway setup the way the gateway would see it, and says what to fix: Node.js version,
 * config validity, state dir (writable, mode 0700), token, port, and each channel's credentials
 * (asked of the running gateway when there is one, else by starting each channel plugin briefly).
 *
 * @param options - See {@link DoctorOptions}.
 * @returns The checks, in order; any `fail` means the setup needs fixing.
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const env = options.env ?? process.env;
  const probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_DOCTOR_OPTIONS.probeTimeoutMs;
  const checks: DoctorCheck[] = [checkNode(options.nodeVersion ?? process.versions.node)];

  // Config: the token issues are reported by the token check.
  const loaded = await loadConfig(env, options.configPath);
  let config = loaded.config;
  const tokenIssues = loaded.issues.filter(isTokenIssue);
  const otherIssues = loaded.issues.filter((issue) => !isTokenIssue(issue));
  if (config === undefined && otherIssues.length === 0) {
    // Only the tokens are wrong: check the rest without them.
    const rest = { ...env, OPENCLAW_GATEWAY_TOKEN: undefined, OPENCLAW_ADMIN_TOKEN: undefined };
    config = (await loadConfig(rest, options.configPath)).config;
  }
  const source = loaded.source ?? "(embedded defaults)";
  if (otherIssues.length > 0) {
    checks.push({
      name: "config",
      status: "fail",
      message: `${source} is invalid:\n${otherIssues.map((issue) => `    ${formatIssue(issue)}`).join("\n")}`,
      fix: `edit ${loaded.source ?? "the config"} (or the OPENCLAW_* variable named above); the gateway refuses to start with it`,
    });
  } else if (loaded.error !== undefined) {
    checks.push({ name: "config", status: "fail", message: loaded.error, fix: "check the config path" });
  } else checks.push({ name: "config", status: "ok", message: `${source} is valid` });

  const stateDir = resolve(config?.state.dir ?? env.OPENCLAW_STATE_DIR ?? ".openclaw-state");
  const host = config?.gateway.host ?? env.OPENCLAW_BIND ?? DEFAULT_GATEWAY_HOST;
  const port = config?.gateway.port ?? (Number(env.OPENCLAW_PORT ?? Number.NaN) || DEFAULT_GATEWAY_PORT);
  if (options.fix === true)
    checks.push(...(await fixSetup(stateDir, config !== undefined && config.security.token !== undefined)));
  checks.push(await checkStateDir(stateDir));

  const token = await checkToken(env, config, stateDir, tokenIssues);
  checks.push(token.check);

  const portCheck = await checkPort(host, port, probeTimeoutMs);
  checks.push(portCheck.check);

  if (config === undefined) {
    checks.push({
      name: "channels",
      status: "warn",
      message: "not checked: the config did not load",
      fix: "fix the config, then run openclaw doctor again",
    });
    return checks;
  }
  const channels = Object.entries(config.channels).filter(([, settings]) => settings.enabled !== false);
  if (portCheck.gatewayRunning) {
    checks.push(...(await checkRunningGateway(host, port, token.value, probeTimeoutMs, token.check)));
    return checks;
  }
  const timeoutMs = options.channelTimeoutMs ?? DEFAULT_DOCTOR_OPTIONS.channelTimeoutMs;
  const { loadChannelPlugins } = await import("@openclaw/gateway");
  const factories = await loadChannelPlugins(channels.map(([name, settings]) => settings.plugin ?? name));
  const results = await Promise.all(
    channels.map(([name, settings]) => checkChannel(name, settings, factories, timeoutMs)),
  );
  checks.push(...results);
  return checks;
}

function checkNode(version: string): DoctorCheck {
  const min = DEFAULT_DOCTOR_OPTIONS.minNodeVersion;
  const ok = compareVersions(version, min) >= 0;
  return ok
    ? { name: "node", status: "ok", message: `Node.js ${version}` }
    : {
        name: "node",
        status: "fail",
        message: `Node.js ${version} is too old (the gateway needs ${min} or newer)`,
        fix: `install Node.js 20.19+ (e.g. from https://nodejs.org or your package manager) and reinstall @openclaw/cli`,
      };
}

function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, "").split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function loadConfig(
  env: NodeJS.ProcessEnv,
  path: string | undefined,
): Promise<{ config?: Config; source?: string; issues: ConfigIssue[]; error?: string }> {
  const manager = new ConfigManager(path === undefined ? { env } : { env, path });
  try {
    await manager.load();
    return {
      config: manager.get(),
      ...(manager.source === null ? {} : { source: manager.source }),
      issues: [],
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      const file =
        error.issues.find((issue) => issue.file !== undefined)?.file ?? path ?? env.OPENCLAW_CONFIG;
      return {
        ...(file === undefined ? {} : { source: file }),
        issues: error.issues.length > 0 ? [...error.issues] : [{ path: "", message: error.message }],
      };
    }
    return { issues: [], error: (error as Error).message };
  } finally {
    await manager.close();
  }
}

/**
 * What `doctor --fix` repairs: a missing state dir (created 0700), one open to others (chmod 700),
 * a token file open to others (chmod 600), and no token at all (one written, 0600, the way the
 * gateway generates it). Anything else is left for the checks to explain.
 */
async function fixSetup(stateDir: string, tokenConfigured: boolean): Promise<DoctorCheck[]> {
  const fixed: DoctorCheck[] = [];
  const done = (message: string) => fixed.push({ name: "fixed", status: "ok", message });
  const info = await stat(stateDir).catch(() => undefined);
  if (info === undefined) {
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      await chmod(stateDir, 0o700);
      done(`created ${stateDir} (mode 0700)`);
    } catch {
      return fixed; // the state dir check says why
    }
  } else if (info.isDirectory() && (Number(info.mode) & 0o077) !== 0) {
    await chmod(stateDir, 0o700);
    done(`chmod 700 ${stateDir}`);
  }
  if (tokenConfigured) return fixed;
  const file = join(stateDir, "gateway-token");
  const token = await stat(file).catch(() => undefined);
  if (token === undefined) {
    await writeFile(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" })
      .then(() => done(`wrote a new gateway token to ${file} (mode 0600)`))
      .catch(() => undefined);
  } else if ((Number(token.mode) & 0o077) !== 0) {
    await chmod(file, 0o600);
    done(`chmod 600 ${file}`);
  }
  return fixed;
}

async function checkStateDir(dir: string): Promise<DoctorCheck> {
  const name = "state dir";
  const useOther = "or point OPENCLAW_STATE_DIR (or state.dir) at a directory you own";
  let info: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    info = await stat(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; said below, where the parents are looked at.
    if (code !== "ENOENT" && code !== "ENOTDIR")
      return { name, status: "fail", message: `${dir} cannot be used (${code})`, fix: useOther };
  }
  if (info === undefined) {
    // Not created yet: the gateway creates it (0700) if its nearest existing parent is a writable directory.
    let parent = dirname(dir);
    for (let i = 0; i < 256; i++) {
      const parentInfo = await stat(parent).catch(() => undefined);
      if (parentInfo !== undefined) {
        if (!parentInfo.isDirectory())
          return {
            name,
            status: "fail",
            message: `${dir} cannot be created: ${parent} is not a directory`,
            fix: `remove or rename ${parent}, ${useOther}`,
          };
        const probe = await probeWrite(parent);
        if (probe !== undefined)
          return {
            name,
            status: "fail",
            message: `${dir} cannot be created: ${parent} is not writable (${probe})`,
            fix: `create it yourself (mkdir -m 700 -p ${dir}) as the user running the gateway, ${useOther}`,
          };
        return {
          name,
          status: "ok",
          message: `${dir} does not exist yet; the gateway creates it (mode 0700) at first start`,
        };
      }
      const next = dirname(parent);
      if (next === parent) break;
      parent = next;
    }
    return { name, status: "fail", message: `${dir} cannot be created`, fix: useOther };
  }
  if (!info.isDirectory())
    return {
      name,
      status: "fail",
      message: `${dir} is not a directory`,
      fix: `remove or rename ${dir}, ${useOther}`,
    };
  const probe = await probeWrite(dir);
  if (probe !== undefined)
    return {
      name,
      status: "fail",
      message: `${dir} is not writable (${probe})`,
      fix: `chown -R "$USER" ${dir} && chmod 700 ${dir} as the user running the gateway, ${useOther}`,
    };
  const mode = Number(info.mode) & 0o777;
  if ((mode & 0o077) !== 0)
    return {
      name,
      status: "fail",
      message: `${dir} is not private (mode ${mode.toString(8).padStart(4, "0")}): others can read conversations and tokens`,
      fix: `chmod 700 ${dir}`,
    };
  return { name, status: "ok", message: `${dir} is writable and private (0700)` };
}

/** Writes and removes a probe file; the error code, or undefined when writing works. */
async function probeWrite(dir: string): Promise<string | undefined> {
  const file = join(dir, `.openclaw-doctor-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(file, "", { flag: "wx", mode: 0o600 });
    await rm(file, { force: true });
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  }
}

async function checkToken(
  env: NodeJS.ProcessEnv,
  config: Config | undefined,
  stateDir: string,
  issues: ConfigIssue[],
): Promise<{ check: DoctorCheck; value?: string }> {
  const name = "token";
  if (issues.length > 0) {
    const fromEnv = (variable: string) => (env[variable] ?? "") !== "";
    const described = issues.map((issue) => {
      const variable = issue.path.startsWith("security.adminToken")
        ? "OPENCLAW_ADMIN_TOKEN"
        : "OPENCLAW_GATEWAY_TOKEN";
      return `${fromEnv(variable) ? variable : `${issue.path} in the config`} ${issue.message}`;
    });
    return {
      check: {
        name,
        status: "fail",
        message: `the token is not usable: ${described.join("; ")}`,
        fix: `set a random token of at least 16 characters (e.g. export OPENCLAW_GATEWAY_TOKEN=$(openssl rand -hex 32)), or unset it and the gateway generates one in ${join(stateDir, "gateway-token")}`,
      },
    };
  }
  const configured = config?.security.token;
  if (configured !== undefined) {
    const from = (env.OPENCLAW_GATEWAY_TOKEN ?? "") !== "" ? "OPENCLAW_GATEWAY_TOKEN" : "security.token";
    return { check: { name, status: "ok", message: `set (from ${from})` }, value: configured };
  }
  const file = join(stateDir, "gateway-token");
  let text: string;
  let mode: number;
  try {
    [text, mode] = await Promise.all([
      readFile(file, "utf8"),
      stat(file).then((s) => Number(s.mode) & 0o777),
    ]);
  } catch {
    return {
      check: {
        name,
        status: "warn",
        message: `none yet: OPENCLAW_GATEWAY_TOKEN is not set and ${file} does not exist`,
        fix: `start the gateway once (it generates ${file}, mode 0600), or set OPENCLAW_GATEWAY_TOKEN`,
      },
    };
  }
  const token = text.trim();
  if (token.length < 16)
    return {
      check: {
        name,
        status: "fail",
        message: `${file} holds no usable token (shorter than 16 characters)`,
        fix: `delete ${file} (the gateway generates a new one at start) or set OPENCLAW_GATEWAY_TOKEN`,
      },
    };
  if ((mode & 0o077) !== 0)
    return {
      check: {
        name,
        status: "fail",
        message: `${file} is readable by others (mode ${mode.toString(8).padStart(4, "0")})`,
        fix: `chmod 600 ${file}`,
      },
      value: token,
    };
  return { check: { name, status: "ok", message: `generated token in ${file}` }, value: token };
}

async function checkPort(
  host: string,
  port: number,
  probeTimeoutMs: number,
): Promise<{ check: DoctorCheck; gatewayRunning: boolean }> {
  const name = "port";
  const where = `${host}:${port}`;
  const other = "choose another with --port / OPENCLAW_PORT / gateway.port";
  if (port === 0)
    return {
      check: { name, status: "ok", message: "port 0: the gateway picks a free port at each start" },
      gatewayRunning: false,
    };
  const error = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
    const server = createServer();
    server.once("error", (err) => done(err));
    server.listen({ port, host, exclusive: true }, () => server.close(() => done(undefined)));
  });
  if (error === undefined)
    return { check: { name, status: "ok", message: `${where} is free` }, gatewayRunning: false };
  if (error.code === "EADDRINUSE") {
    const health = await fetchJson(
      `http://${host.includes(":") ? `[${host}]` : host}:${port}/health`,
      probeTimeoutMs,
    );
    if (health !== undefined && (health as { status?: unknown }).status === "ok")
      return {
        check: {
          name,
          status: "ok",
          message: `${where} is in use by a running OpenClaw gateway (checked below)`,
        },
        gatewayRunning: true,
      };
    return {
      check: {
        name,
        status: "fail",
        message: `${where} is in use by another program`,
        fix: `stop that program (ss -ltnp 'sport = :${port}' shows it), or ${other}`,
      },
      gatewayRunning: false,
    };
  }
  const why =
    error.code === "EACCES"
      ? "needs privileges (ports below 1024)"
      : error.code === "EADDRNOTAVAIL"
        ? `${host} is not an address of this machine`
        : (error.code ?? error.message);
  return {
    check: {
      name,
      status: "fail",
      message: `cannot listen on ${where}: ${why}`,
      fix: `${other} (or --bind / OPENCLAW_BIND)`,
    },
    gatewayRunning: false,
  };
}

async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

/** A running gateway: does it accept the token, and what do its channels say? */
async function checkRunningGateway(
  host: string,
  port: number,
  token: string | undefined,
  timeoutMs: number,
  tokenCheck: DoctorCheck,
): Promise<DoctorCheck[]> {
  const client = new GatewayClient({
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ...(token === undefined ? {} : { token }),
    WebSocket,
    reconnect: false,
    requestTimeoutMs: timeoutMs,
    handshakeTimeoutMs: timeoutMs,
    client: { name: "openclaw-doctor", version: "0.1.0", platform: process.platform },
  });
  try {
    await client.connect();
    const { channels } = await client.request("channel.status", {});
    return channels.map(channelFromStatus);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "UNAUTHORIZED") {
      tokenCheck.status = "fail";
      tokenCheck.message = `the gateway running on ${host}:${port} refuses this token (${tokenCheck.message})`;
      tokenCheck.fix =
        "use the token that gateway was started with (OPENCLAW_GATEWAY_TOKEN in its environment, or the gateway-token file of its state dir), or restart it with this one";
      return [];
    }
    return [
      {
        name: "channels",
        status: "fail",
        message: `the running gateway did not answer: ${(error as Error).message}`,
        fix: "look at the gateway's log (journalctl --user -u openclaw-gateway)",
      },
    ];
  } finally {
    await client.close().catch(() => {});
  }
}

function channelFromStatus(status: ChannelStatus): DoctorCheck {
  const name = `channel ${status.name}`;
  if (status.state === "ready")
    return { name, status: "ok", message: `${status.plugin}: ready (checked by the running gateway)` };
  const reason =
    status.lastError === undefined ? "" : `: ${status.lastError.code} ${status.lastError.message}`;
  return {
    name,
    status: status.state === "down" ? "fail" : "warn",
    message: `${status.plugin}: ${status.state}${reason}`,
    fix: adviceFor(status.lastError?.code, status.name),
  };
}

function adviceFor(code: string | undefined, channel: string): string {
  switch (code) {
    case "AUTH_FAILED":
      return `the platform refused the credentials: check channels.${channel}'s token (a revoked or mistyped token), then restart the channel`;
    case "INVALID_CONFIG":
      return `fix channels.${channel} in the config (see the message)`;
    case "PLATFORM_UNAVAILABLE":
      return `the platform did not answer: check the network/proxy and channels.${channel}'s API URL`;
    case "RATE_LIMITED":
      return "the platform asked to slow down; try again later";
    default:
      return `look at the gateway's log for channel ${channel}`;
  }
}

/** Starts one channel's plugin briefly and reports whether its platform accepted it. */
/**
 * Checks one channel, and names the settings its plugin does not know (a typo such as `botTokn`),
 * with the closest one the plugin has: the gateway passes them to the plugin, which ignores them.
 */
async function checkChannel(
  name: string,
  settings: Config["channels"][string],
  factories: ChannelPluginFactory[],
  timeoutMs: number,
): Promise<DoctorCheck> {
  const result = await checkChannelSettings(name, settings, factories, timeoutMs);
  const factory = factories.find((f) => f.name === (settings.plugin ?? name));
  if (factory === undefined) return result;
  const { plugin: _plugin, enabled: _enabled, agent: _agent, ...rest } = settings;
  const unknown = unknownKeys(factory.configSchema, rest).map(
    (issue) => `channels.${name}.${issue.path}: ${issue.message}`,
  );
  if (unknown.length === 0) return result;
  return {
    ...result,
    status: result.status === "ok" ? "warn" : result.status,
    message: `${result.message}; ${factory.name} does not know ${unknown.join("; ")}`,
    fix: `${result.status === "ok" ? "" : `${result.fix ?? ""}; `}rename or remove ${unknown.length === 1 ? "that setting" : "those settings"} in the config: the plugin ignores ${unknown.length === 1 ? "it" : "them"}`,
  };
}

async function checkChannelSettings(
  name: string,
  settings: Config["channels"][string],
  factories: ChannelPluginFactory[],
  timeoutMs: number,
): Promise<DoctorCheck> {
  const check = `channel ${name}`;
  const pluginName = settings.plugin ?? name;
  const factory = factories.find((f) => f.name === pluginName);
  if (factory === undefined)
    return {
      name: check,
      status: "fail",
      message: `no channel plugin "${pluginName}" (package @openclaw/channel-${pluginName}) is installed`,
      fix: `check channels.${name}.plugin, or install @openclaw/channel-${pluginName} next to @openclaw/gateway`,
    };
  const { plugin: _plugin, enabled: _enabled, agent: _agent, ...rest } = settings;
  const parsed = v.safeParse(factory.configSchema, rest);
  if (!parsed.success)
    return {
      name: check,
      status: "fail",
      message: `invalid settings: ${parsed.issues.map((i) => `${v.getDotPath(i) ?? ""}: ${i.message}`).join("; ")}`,
      fix: adviceFor("INVALID_CONFIG", name),
    };
  const instance = factory.create();
  const controller = new AbortController();
  let changed: () => void = () => {};
  const quiet = () => {};
  const context: ChannelContext<unknown> = {
    channel: name,
    config: parsed.output,
    signal: controller.signal,
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    // Messages arriving during the check are never taken, so a plugin that awaits emit before
    // acknowledging leaves them to the platform, which redelivers them to the gateway.
    emit: () => new Promise<void>(() => {}),
    setStatus: () => changed(),
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((done) => {
    timer = setTimeout(() => done("timeout"), timeoutMs);
  });
  try {
    const started = instance.initialize(parsed.output, context).then(
      () => undefined,
      (error: unknown) => error,
    );
    const first = await Promise.race([started, timedOut]);
    if (first === "timeout") return notConfirmed(check, factory.name, timeoutMs, name);
    if (first !== undefined) return fromError(check, factory.name, first, name);
    // Started: wait (bounded) until the plugin says ready or down.
    for (let i = 0; i < 10_000; i++) {
      const health: ChannelHealth = instance.status();
      if (health.state === "ready")
        return { name: check, status: "ok", message: `${factory.name}: accepted by the platform` };
      if (health.state === "down" || health.state === "degraded")
        return {
          name: check,
          status: health.state === "down" ? "fail" : "warn",
          message: `${factory.name}: ${health.state}${health.lastError === undefined ? "" : `: ${health.lastError.code} ${health.lastError.message}`}`,
          fix: adviceFor(health.lastError?.code, name),
        };
      const next = await Promise.race([
        new Promise<"changed">((done) => (changed = () => done("changed"))),
        timedOut,
      ]);
      if (next === "timeout") return notConfirmed(check, factory.name, timeoutMs, name);
    }
    return notConfirmed(check, factory.name, timeoutMs, name);
  } finally {
    clearTimeout(timer);
    controller.abort();
    await Promise.race([
      instance.destroy().catch(() => {}),
      new Promise((done) => setTimeout(done, 5_000).unref()),
    ]);
  }
}

function fromError(check: string, plugin: string, error: unknown, channel: string): DoctorCheck {
  const code = (error as { code?: string }).code;
  return {
    name: check,
    status: "fail",
    message: `${plugin}: ${code === undefined ? "" : `${code} `}${(error as Error).message ?? String(error)}`,
    fix: adviceFor(code, channel),
  };
}

function notConfirmed(check: string, plugin: string, timeoutMs: number, channel: string): DoctorCheck {
  return {
    name: check,
    status: "fail",
    message: `${plugin}: the platform did not confirm the credentials within ${timeoutMs} ms`,
    fix: adviceFor("PLATFORM_UNAVAILABLE", channel),
  };
}

/**
 * `openclaw doctor [--config f] [--port p] [--bind a] [--timeout ms] [--json]`: runs the checks and
 * prints them with what to fix.
 *
 * @param argv - The arguments after `doctor`.
 * @returns 0 when nothing needs fixing, 1 when something does, 2 for a wrong command line.
 */
export async function doctorCommand(argv: readonly string[]): Promise<number> {
  const usage = `Usage: openclaw doctor [--fix] [--config <file>] [--port <port>] [--bind <address>] [--timeout <ms>] [--json]

Checks the setup the gateway would start with (same config, flags and OPENCLAW_* environment):
Node.js version, config, state dir (writable, 0700), token, port, and each channel's credentials
(asked of the running gateway, else by starting each channel briefly, --timeout ms each, default ${DEFAULT_DOCTOR_OPTIONS.channelTimeoutMs}).
--fix first fixes what it can: creates the state dir (0700), makes it and the token file private,
writes a token when there is none. Exit code 1 when something needs fixing.
`;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: "string" },
        port: { type: "string" },
        bind: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        fix: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    process.stderr.write(`--timeout must be a positive number of milliseconds\n\n${usage}`);
    return 2;
  }
  // The setup `openclaw gateway` would use: the one in the home, wherever this runs.
  const config = typeof values.config === "string" ? resolve(values.config) : undefined;
  await enterHome([], openclawHome(process.env), "openclaw doctor");
  const env = { ...process.env };
  if (typeof values.port === "string") env.OPENCLAW_PORT = values.port;
  if (typeof values.bind === "string") env.OPENCLAW_BIND = values.bind;
  const checks = await runDoctor({
    env,
    ...(config === undefined ? {} : { configPath: config }),
    ...(timeoutMs === undefined ? {} : { channelTimeoutMs: timeoutMs }),
    fix: values.fix === true,
  });
  const failed = checks.filter((check) => check.status === "fail").length;
  if (values.json === true) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks })}\n`);
  else {
    const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
    const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
    const mark = { ok: paint(32, "ok  "), warn: paint(33, "warn"), fail: paint(31, "FAIL") };
    const width = Math.max(...checks.map((check) => check.name.length));
    const lines = checks.flatMap((check) => [
      `${mark[check.status]}  ${check.name.padEnd(width)}  ${check.message}`,
      ...(check.fix === undefined || check.status === "ok"
        ? []
        : [`${" ".repeat(width + 8)}fix: ${check.fix}`]),
    ]);
    const warned = checks.filter((check) => check.status === "warn").length;
    lines.push(
      "",
      failed === 0
        ? `all good${warned === 0 ? "" : ` (${warned} warning${warned === 1 ? "" : "s"})`}`
        : `${failed} problem${failed === 1 ? "" : "s"} to fix`,
    );
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  return failed === 0 ? 0 : 1;
}
