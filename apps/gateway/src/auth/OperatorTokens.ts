import { hash, timingSafeEqual } from "node:crypto";
import type { Config } from "@openclaw/config";
import { loadOrCreateToken } from "./tokens";

/** The operator and admin tokens in force, and the check of a presented token. */
export class OperatorTokens {
  readonly #config: () => Config;
  #token = "";
  /** SHA-256 of the admin and operator tokens, computed once per token value. */
  readonly #admin = new DigestCache();
  readonly #operator = new DigestCache();

  /** @param config - The config in force (`security.token`, `security.adminToken`). */
  constructor(config: () => Config) {
    this.#config = config;
  }

  /** The operator token in force (configured or generated). */
  get token(): string {
    return this.#token;
  }

  /**
   * Takes the configured token, or loads (or generates) the one in the state dir.
   *
   * @param stateDir - Where a generated token lives.
   * @returns Where the token comes from, for the start-up log line.
   */
  async load(stateDir: string): Promise<string> {
    const configured = this.#config().security.token;
    if (configured !== undefined) {
      this.#token = configured;
      return "the configured token (security.token / OPENCLAW_GATEWAY_TOKEN)";
    }
    const generated = await loadOrCreateToken(stateDir);
    this.#token = generated.token;
    return `${generated.created ? "a new token was generated in" : "the token is in"} ${generated.path}`;
  }

  /** Takes a reloaded config's token, when it sets one. */
  reload(config: Config): void {
    if (config.security.token !== undefined) this.#token = config.security.token;
  }

  /**
   * The level a token grants, compared in constant time: the SHA-256 of the presented token against
   * those of the tokens in force (equal digests, equal tokens), so its length leaks nothing either.
   *
   * @returns `"admin"`, `"operator"`, or `undefined` when it grants nothing.
   */
  level(token: string | undefined): "admin" | "operator" | undefined {
    if (token === undefined || token === "") return undefined;
    const presented = sha256(token);
    const admin = this.#config().security.adminToken;
    if (admin !== undefined && timingSafeEqual(presented, this.#admin.of(admin))) return "admin";
    if (this.#token !== "" && timingSafeEqual(presented, this.#operator.of(this.#token))) return "operator";
    return undefined;
  }
}

function sha256(text: string): Buffer {
  // One-shot `crypto.hash` (Node ≥ 20.12): half the CPU of a `createHash` object per request.
  return hash("sha256", text, "buffer");
}

/** The digest of one secret, kept until the secret changes (a reload). */
class DigestCache {
  #secret: string | undefined;
  #digest: Buffer = Buffer.alloc(0);

  of(secret: string): Buffer {
    if (secret !== this.#secret) {
      this.#secret = secret;
      this.#digest = sha256(secret);
    }
    return this.#digest;
  }
}
