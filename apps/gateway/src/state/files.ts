import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Reads a JSON state file.
 *
 * @param path - The file.
 * @param fallback - Returned when the file does not exist.
 * @returns The parsed content.
 */
export async function readJsonFile<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw error;
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
 */
export function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const previous = chains.get(path) ?? Promise.resolve();
  const next = previous
    .catch(() => {})
    .then(async () => {
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
      const handle = await open(tmp, "w", mode);
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
      const dir = await open(dirname(path), "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    });
  chains.set(path, next);
  void next.finally(() => {
    if (chains.get(path) === next) chains.delete(path);
  });
  return next;
}

/**
 * Writes a JSON state file atomically.
 *
 * @param path - The file.
 * @param value - Any JSON value.
 */
export function writeJsonFile(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
