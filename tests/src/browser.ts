import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { build } from "vite";

/** Debian's Chromium (`.ci/run` installs it), or `CHROMIUM_PATH`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Whether the browser tests can run: Chromium is there. In CI it must be (throws); elsewhere a
 * missing browser skips them with a warning naming `what`.
 */
export function chromiumAvailable(what: string): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.CI !== undefined)
    throw new Error(`Chromium is required in CI: install Debian's chromium (expected at ${CHROMIUM})`);
  if (!available) console.warn(`${what} skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return available;
}

/** Builds the control UI from its sources into `<dir>/ui`, as `pnpm build` does; returns that dir. */
export async function buildControlUi(dir: string): Promise<string> {
  const web = resolve(import.meta.dirname, "../../apps/web");
  const outDir = join(dir, "ui");
  await build({
    root: web,
    configFile: join(web, "vite.config.ts"),
    logLevel: "silent",
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  return outDir;
}

/** Launches headless Chromium without network chatter of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
