import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

/**
 * Where the built control UI is: `ui/` beside the gateway's bundle (the published package ships it
 * there), else `@openclaw/web`'s `dist` (in the repository, running from source).
 *
 * @returns The directory, or undefined when no built UI is found.
 */
export function defaultUiDir(): string | undefined {
  const bundled = join(dirname(fileURLToPath(import.meta.url)), "ui");
  if (existsSync(join(bundled, "index.html"))) return bundled;
  try {
    return join(dirname(createRequire(import.meta.url).resolve("@openclaw/web/package.json")), "dist");
  } catch {
    return undefined;
  }
}

/**
 * Reads one file of the control UI for a path below `/ui/`. Unknown paths without an extension get
 * `index.html` (the app routes itself); paths that leave the directory get nothing.
 *
 * @param dir - The built UI's directory.
 * @param path - The path below `/ui/` (`""` for the app).
 * @returns The file and its content type, or undefined.
 */
export async function readUiFile(
  dir: string,
  path: string,
): Promise<{ body: Buffer; type: string; immutable: boolean } | undefined> {
  let relative: string;
  try {
    relative = normalize(decodeURIComponent(path)).replace(/^([/\\])+/, "");
  } catch {
    return undefined;
  }
  if (relative.startsWith("..") || relative.includes(`${sep}..${sep}`)) return undefined;
  const wanted = relative === "" || relative === "." ? "index.html" : relative;
  const file = join(dir, wanted);
  if (!file.startsWith(dir + sep)) return undefined;
  try {
    if (!(await stat(file)).isFile()) throw new Error("not a file");
    // Vite names assets by content hash: they never change.
    return {
      body: await readFile(file),
      type: TYPES[extname(file)] ?? "application/octet-stream",
      immutable: wanted.startsWith("assets/"),
    };
  } catch {
    if (extname(wanted) !== "") return undefined;
    try {
      return { body: await readFile(join(dir, "index.html")), type: TYPES[".html"]!, immutable: false };
    } catch {
      return undefined;
    }
  }
}
