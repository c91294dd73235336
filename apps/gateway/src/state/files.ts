import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { ProtocolError } from "@openclaw/protocol";

/** Permissions of the state dir: only its owner may list or enter it. */
export const STATE_DIR_MODE = 0o700;
/** Permissions of every state file: message bodies, queues and token hashes are private. */
export const STATE_FILE_MODE = 0o600;

/**
 * The error every persisted operation answers when its state cannot be written (disk full,
 * permissions, I/O error): retryable, and nothing was changed.
 *
 * @param path - The file that could not be written.
 * @param cause - The OS error.
 * @returns A `UNAVAILABLE` error with `details.reason: "state_write_failed"`.
 */
export function stateWriteFailed(path: string, cause: unknown): ProtocolError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new ProtocolError("UNAVAILABLE", `the gateway could not save its state (${basename(path)})`, {
    details: {
      reason: "state_write_failed",
      file: basename(path),
      ...(typeof code === "string" ? { errno: code } : {}),
      retryable: true,
      retryAfterMs: 1000,
      nextStep: "nothing was changed; retry later (the state dir may be full, read-only or failing)",
    },
    cause,
  });
}

/** A state file that exists but cannot be used: names the file, the problem and the fix. */
export class StateFileError extends Error {
  override readonly name = "StateFileError";

  constructor(
    readonly path: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(
      `state file ${path} ${problem}. Move it aside (e.g. mv ${path} ${path}.broken) or restore it from a backup, then start again; the gateway starts without it once it is gone.`,
      options,
    );
  }
}

/**
 * Reads a JSON state file.
 *
 * @param path - The file.
 * @param fallback - Returned when the file does not exist.
 * @returns The parsed content.
 */
export async function readJsonFile<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw new StateFileError(path, `cannot be read (${(error as Error).message})`, { cause: error });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new StateFileError(path, `is not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

const chains = new Map<string, Promise<void>>();

/**
 * Writes a file atomically and durably: temp file, fsync, rename over the target, fsync of the
 * directory. Writes to the same path are serialised, in call order. A crash leaves either the old
 * or the new content, never a mix.
 *
 * @param path - The file.
 * @param text - Its new content.
 * @param mode - File permissions.
 * @returns Resolves once the new content is durable; rejects with the OS error (the old content
 *   stays in place). A failed write never leaves an unobserved rejection behind.
 */
export function writeFileAtomic(path: string, text: string, mode = STATE_FILE_MODE): Promise<void> {
  const previous = chains.get(path) ?? Promise.resolve();
  const next = previous
    .catch(() => {})
    .then(async () => {
      await mkdir(dirname(path), { recursive: true, mode: STATE_DIR_MODE });
      const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
      const handle = await open(tmp, "w", mode);
      try {
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, path);
      } catch (error) {
        await rm(tmp, { force: true }).catch(() => {});
        throw error;
      }
      const dir = await open(dirname(path), "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    });
  chains.set(path, next);
  const forget = () => {
    if (chains.get(path) === next) chains.delete(path);
  };
  // Both branches handled: the caller observes `next`; this bookkeeping must not reject.
  next.then(forget, forget);
  return next;
}

/**
 * Writes a JSON state file atomically.
 *
 * @param path - The file.
 * @param value - Any JSON value.
 */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
  } catch (error) {
    throw stateWriteFailed(path, error);
  }
}
