import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The variable naming the home (default `~/.openclaw`). */
export const HOME_ENV = "OPENCLAW_HOME";

/** The file in the home where a running gateway says where it is; also the home's lock. */
export const RUNTIME_FILE = "gateway.json";

/** What a running gateway records in its home (`gateway.json`). */
export interface GatewayRuntime {
  /** The gateway's process id. */
  pid: number;
  /** Its WebSocket URL (set once it listens). */
  url?: string;
  /** Its state dir (absolute). */
  stateDir?: string;
  /** When it started (ms since epoch). */
  startedAt: number;
}

/**
 * The home of the installed CLI: config (`openclaw.json`), state (`.openclaw-state`) and the running
 * gateway's `gateway.json`. `OPENCLAW_HOME`, else `~/.openclaw`. (The repository's `pnpm start` and
 * `pnpm openclaw` set it to the repository, keeping its embedded defaults there.)
 *
 * @param env - The environment.
 * @returns The absolute path.
 */
export function openclawHome(env: NodeJS.ProcessEnv): string {
  const named = env[HOME_ENV];
  if (named !== undefined && named !== "") return resolve(named);
  return join(env.HOME ?? homedir(), ".openclaw");
}

/** Whether a process of this id is alive (EPERM: alive, someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The running gateway recorded in a home, if its process is alive.
 *
 * @param home - The home.
 * @returns Its record, or `undefined` when none runs.
 */
export function readRuntime(home: string): GatewayRuntime | undefined {
  try {
    const runtime = JSON.parse(readFileSync(join(home, RUNTIME_FILE), "utf8")) as GatewayRuntime;
    return Number.isInteger(runtime.pid) && alive(runtime.pid) ? runtime : undefined;
  } catch {
    return undefined;
  }
}

/** A claimed home: record where the gateway listens, and give the home back at exit. */
export interface HomeClaim {
  update(info: { url: string; stateDir: string }): Promise<void>;
  release(): Promise<void>;
}

/**
 * Claims a home for one gateway: creates it (0700) and writes `gateway.json` exclusively. A record
 * left by a process that is gone is replaced.
 *
 * @param home - The home.
 * @returns The claim, or the gateway that already runs there.
 */
export async function claimHome(
  home: string,
): Promise<{ claim: HomeClaim; holder?: undefined } | { claim?: undefined; holder: GatewayRuntime }> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const file = join(home, RUNTIME_FILE);
  const mine: GatewayRuntime = { pid: process.pid, startedAt: Date.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${JSON.stringify(mine)}\n`, { flag: "wx", mode: 0o600 });
      return {
        claim: {
          async update(info) {
            const tmp = `${file}.${process.pid}.tmp`;
            await writeFile(tmp, `${JSON.stringify({ ...mine, ...info })}\n`, { mode: 0o600 });
            await rename(tmp, file);
          },
          async release() {
            const current = await readFile(file, "utf8").catch(() => "");
            if (current !== "" && (JSON.parse(current) as GatewayRuntime).pid === process.pid)
              await unlink(file).catch(() => {});
          },
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readRuntime(home);
      if (holder !== undefined && holder.pid !== process.pid) return { holder };
      // Left by a gateway that is gone (or unreadable): take the home over.
      await unlink(file).catch(() => {});
    }
  }
  throw new Error(`cannot claim ${home}: ${file} keeps reappearing`);
}

/**
 * Makes the home the working directory (created 0700), so that its `openclaw.json` and
 * `.openclaw-state` are the gateway's defaults wherever it was started. Paths given relative to the
 * directory it was started in (`--config`, `OPENCLAW_CONFIG`, `OPENCLAW_STATE_DIR`) are made
 * absolute first, so they keep their meaning.
 *
 * @param argv - The command's arguments.
 * @param home - The home.
 * @param program - Named in the note about an `openclaw.json` here that is not read.
 * @returns The arguments with `--config` absolute.
 */
export async function enterHome(argv: readonly string[], home: string, program: string): Promise<string[]> {
  const args = argv.map((arg, i) => {
    if (argv[i - 1] === "--config" && !arg.startsWith("-")) return resolve(arg);
    if (arg.startsWith("--config=")) return `--config=${resolve(arg.slice("--config=".length))}`;
    return arg;
  });
  for (const name of ["OPENCLAW_CONFIG", "OPENCLAW_STATE_DIR"] as const) {
    const value = process.env[name];
    if (value !== undefined && value !== "") process.env[name] = resolve(value);
  }
  const named = args.some((arg) => arg === "--config" || arg.startsWith("--config="));
  const here = resolve("openclaw.json");
  if (
    !named &&
    (process.env.OPENCLAW_CONFIG ?? "") === "" &&
    resolve(home) !== process.cwd() &&
    existsSync(here)
  )
    process.stderr.write(
      `${program}: note: ${here} is not read: the gateway's home is ${home} (its openclaw.json); pass --config ${here} to use this one\n`,
    );
  await mkdir(home, { recursive: true, mode: 0o700 });
  process.chdir(home);
  return args;
}
