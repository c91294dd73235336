import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Defaults of {@link startRedisServer}. */
export const REDIS_SERVER_DEFAULTS = {
  /** The `redis-server` binary (Debian's package installs it here). */
  binary: "/usr/bin/redis-server",
  /** How long the server has to answer `PING` after it is spawned. */
  startTimeoutMs: 10_000,
  /** How long the server has to exit after `SIGTERM` before it gets `SIGKILL`. */
  stopTimeoutMs: 5_000,
} as const;

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * The `redis-server` binary.
   * @defaultValue `REDIS_SERVER_DEFAULTS.binary` (`/usr/bin/redis-server`)
   */
  binary?: string;
  /**
   * How long the server has to answer `PING` after it is spawned.
   * @defaultValue `REDIS_SERVER_DEFAULTS.startTimeoutMs` (10 s)
   */
  startTimeoutMs?: number;
  /**
   * How long the server has to exit after `SIGTERM` before it gets `SIGKILL`.
   * @defaultValue `REDIS_SERVER_DEFAULTS.stopTimeoutMs` (5 s)
   */
  stopTimeoutMs?: number;
  /**
   * Start it with `--requirepass <password>` (its `url` still has no credentials: add them).
   * @defaultValue none (no password)
   */
  password?: string;
}

/** A running `redis-server` owned by a test. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The loopback port it listens on (the same across restarts). */
  readonly port: number;
  /** The temporary dir holding its append-only file. */
  readonly dir: string;
  /** Stops it (`SIGTERM`, then `SIGKILL`) and removes its temporary dir. Idempotent. */
  stop(): Promise<void>;
  /** Kills it with `SIGKILL` (as a crash), keeping its data dir for {@link RedisServer.restart}. */
  kill9(): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port and dir; resolves once it answers `PING`. */
  restart(): Promise<void>;
}

/**
 * Whether `redis-server` can be run on this machine (it answers `--version`).
 *
 * @param binary - The binary to check.
 * @returns `true` when it ran.
 */
export function redisAvailable(binary: string = REDIS_SERVER_DEFAULTS.binary): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(binary, ["--version"], { timeout: 5_000 }, (error) => resolve(error === null));
  });
}

/** A free loopback port, as the OS hands one out. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One `PING` over a raw socket; resolves `true` on `+PONG` (or `-NOAUTH`: up, with a password). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG") || answer.startsWith("-NOAUTH"));
    });
  });
}

/** Waits for a child to exit, with `SIGKILL` after `timeoutMs`. */
function exited(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Starts a real `redis-server` for a test: loopback only, on a free port, in a new temporary dir,
 * with no RDB snapshots and an append-only file fsync'd at every write (so a restart keeps every
 * acknowledged write). Never touches a system service.
 *
 * @param options - The binary and timeouts.
 * @returns The running server; resolves once it answers `PING`.
 * @throws Error when it does not start or answer within `startTimeoutMs`.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * const redis = new Redis(server.url);
 * afterAll(() => server.stop());
 * ```
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? REDIS_SERVER_DEFAULTS.binary;
  const startTimeoutMs = options.startTimeoutMs ?? REDIS_SERVER_DEFAULTS.startTimeoutMs;
  const stopTimeoutMs = options.stopTimeoutMs ?? REDIS_SERVER_DEFAULTS.stopTimeoutMs;
  const dir = await mkdtemp(join(tmpdir(), "openclaw-redis-"));
  let port = await freePort();
  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly"];
    args.push("yes", "--appendfsync", "always", "--protected-mode", "yes", "--daemonize", "no");
    if (options.password !== undefined) args.push("--requirepass", options.password);
    const proc = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    };
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    let exitedEarly = false;
    let spawnError: Error | undefined;
    proc.once("error", (error) => {
      spawnError = error;
    });
    proc.once("exit", () => {
      exitedEarly = true;
    });
    const deadline = Date.now() + startTimeoutMs;
    // Bounded: one PING per 50 ms (each at most 1 s) until the deadline.
    while (Date.now() < deadline) {
      if (spawnError !== undefined)
        throw new Error(`redis-server could not be spawned: ${spawnError.message}`);
      if (exitedEarly) throw new Error(`redis-server exited at start: ${output.trim()}`);
      if (await ping(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await exited(proc, "SIGKILL", stopTimeoutMs);
    throw new Error(`redis-server did not answer PING within ${startTimeoutMs} ms: ${output.trim()}`);
  };

  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (proc !== undefined) await exited(proc, signal, stopTimeoutMs);
  };

  // The port may be taken between choosing it and binding it: try a few fresh ones.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await halt("SIGKILL");
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
      port = await freePort();
    }
  }

  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
    kill9: () => halt("SIGKILL"),
    async restart() {
      if (stopped) throw new Error("redis-server was stopped for good; start a new one");
      await halt("SIGTERM");
      await launch();
    },
  };
}
