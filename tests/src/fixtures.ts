import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Whether this machine lets the tests mount a tmpfs (root with CAP_SYS_ADMIN, as in CI here). In
 * CI it is always true: a missing capability there must fail the fault tests, not skip them.
 */
export const canMountTmpfs: boolean = (() => {
  if (process.env.CI) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("mount", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/**
 * Mounts a tmpfs of `size` (as `mount -o size=`, e.g. `"1m"`) on `dir` and records it in `mounts`,
 * which the test unmounts afterwards with {@link unmountAll}.
 */
export function mountTmpfs(dir: string, size: string, mounts: string[]): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  mounts.push(dir);
}

/** Unmounts (lazily) every mount recorded in `mounts`, and empties the list. */
export function unmountAll(mounts: string[]): void {
  for (const mount of mounts.splice(0)) execFileSync("umount", ["-l", mount]);
}

/** Fills the filesystem of `dir` with a file of zeros in blocks of `blockSize` (dd's `bs`). */
export function fillDisk(dir: string, blockSize = "64k"): void {
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${join(dir, "filler")}`, `bs=${blockSize}`], { stdio: "ignore" });
  } catch {
    // dd ends with ENOSPC: the disk is full, as intended.
  }
}

/**
 * The `channels.telegram` settings of a gateway taking signed Telegram webhooks from the fake
 * Telegram at `apiRoot`.
 */
export function telegramWebhookChannel(
  botToken: string,
  apiRoot: string,
  webhookSecret: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    botToken,
    apiRoot,
    mode: "webhook",
    webhookUrl: "https://gateway.example.com/webhook/telegram",
    webhookSecret,
    ...extra,
  };
}
