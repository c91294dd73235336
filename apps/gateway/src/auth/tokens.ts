import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../state/files";

/** The file in the state dir holding the generated gateway token. */
export const TOKEN_FILE = "gateway-token";

/**
 * A new random token: 32 bytes, base64url.
 *
 * @returns The token.
 */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * SHA-256 of a token, hex: device tokens are stored only as hashes.
 *
 * @param token - The token.
 * @returns Its hash.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The gateway token from `<stateDir>/gateway-token`, generated (0600) on first start.
 *
 * @param stateDir - The state directory.
 * @returns The token and whether it was just created.
 */
export async function loadOrCreateToken(
  stateDir: string,
): Promise<{ token: string; created: boolean; path: string }> {
  const path = join(stateDir, TOKEN_FILE);
  try {
    const token = (await readFile(path, "utf8")).trim();
    if (token.length >= 16) return { token, created: false, path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const token = generateToken();
  await writeFileAtomic(path, `${token}\n`, 0o600);
  return { token, created: true, path };
}
