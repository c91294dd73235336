import { constantTimeEqual } from "@openclaw/channel-sdk";
import type { Config } from "@openclaw/config";
import { loadOrCreateToken } from "./tokens";

/** The operator and admin tokens in force, and the check of a presented token. */
export class OperatorTokens {
  readonly #config: () => Config;
  #token = "";

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
   * The level a token grants, compared in constant time.
   *
   * @returns `"admin"`, `"operator"`, or `undefined` when it grants nothing.
   */
  level(token: string | undefined): "admin" | "operator" | undefined {
    if (token === undefined || token === "") return undefined;
    const admin = this.#config().security.adminToken;
    if (admin !== undefined && constantTimeEqual(token, admin)) return "admin";
    if (constantTimeEqual(token, this.#token)) return "operator";
    return undefined;
  }
}
