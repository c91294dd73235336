import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { vi } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const main = join(root, "apps/gateway/src/main.ts");
const cliMain = join(root, "apps/cli/src/main.ts");
const tsx = createRequire(join(root, "package.json")).resolve("tsx");

/** A gateway running as its own process: the start command, from sources. */
export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** Everything it has printed on stdout so far (its JSON log lines; with `logFile`, that file's content). */
  output(): string;
}

/**
 * Starts `apps/gateway/src/main.ts --config <dir>/openclaw.json` as a child process (state in
 * `<dir>/state`, an ephemeral port) and resolves once it logs where it listens; rejects with what it
 * printed (stdout and stderr) when it exits first. The config must keep `logging.level` at `info` or
 * lower.
 *
 * @param options.pid1 - Run it as PID 1 of a new PID namespace (`unshare --pid --fork`), as in a container.
 * @param options.cli - Run it as `openclaw gateway` (the CLI, which can load cluster mode) instead.
 * @param options.nofile - Run it under this limit on open files (soft and hard), with util-linux's
 *   `prlimit`, which then executes it (same PID).
 * @param options.logFile - Send its stdout to this file (appended), as `openclaw gateway > gateway.log`
 *   does, instead of a pipe; where it listens is then read from the file.
 * @param options.args - More command-line arguments (`--log-format pretty`, for instance).
 */
export async function startGatewayProcess(
  dir: string,
  env: Record<string, string>,
  children: ChildProcess[],
  options: { pid1?: boolean; cli?: boolean; nofile?: number; logFile?: string; args?: string[] } = {},
): Promise<GatewayProcess> {
  const args = [
    "--conditions=@openclaw/source",
    "--import",
    tsx,
    ...(options.cli ? [cliMain, "gateway"] : [main]),
    "--config",
    join(dir, "openclaw.json"),
    ...(options.args ?? []),
  ];
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, "a");
  const spawnOptions = {
    cwd: dir,
    env: {
      ...process.env,
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: join(dir, "state"),
      // `openclaw gateway` runs in its home: this dir, not the user's ~/.openclaw.
      ...(options.cli ? { OPENCLAW_HOME: dir } : {}),
      ...env,
    },
    stdio: ["ignore", logFd ?? "pipe", "pipe"] as ["ignore", "pipe" | number, "pipe"],
  };
  const child = options.pid1
    ? spawn("unshare", ["--pid", "--fork", "--kill-child", process.execPath, ...args], spawnOptions)
    : options.nofile !== undefined
      ? spawn(
          "prlimit",
          [`--nofile=${options.nofile}:${options.nofile}`, "--", process.execPath, ...args],
          spawnOptions,
        )
      : spawn(process.execPath, args, spawnOptions);
  children.push(child);
  if (logFd !== undefined) closeSync(logFd); // the child has its own copy
  let out = "";
  let err = "";
  const output = () => (options.logFile === undefined ? out : readFileSync(options.logFile, "utf8"));
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const url = await new Promise<string>((done, fail) => {
    let poll: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      clearInterval(poll);
      fail(new Error(`the gateway did not start: ${output()}${err}`));
    }, 30_000);
    const look = () => {
      // A JSON line's field, or a pretty line's (`    url: "ws://…"`).
      const found = /"url":"(ws:\/\/[^"]+)"|\burl: "(ws:\/\/[^"]+)"/.exec(output());
      if (found !== null) {
        clearTimeout(timer);
        clearInterval(poll);
        done((found[1] ?? found[2])!);
      }
    };
    if (options.logFile === undefined)
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        look();
      });
    // A file has no data events: it is read until the line is there (the start timeout bounds it).
    else poll = setInterval(look, 20);
    child.once("exit", (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      fail(new Error(`the gateway exited with ${code}\nstdout: ${output()}\nstderr: ${err}`));
    });
  });
  return { child, url, output };
}

/** SIGKILL, and wait for the process to be gone. */
export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGKILL");
  await exited;
}

/** Polls until `predicate` holds; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  await vi.waitFor(
    () => {
      if (!predicate()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: 20 },
  );
}
