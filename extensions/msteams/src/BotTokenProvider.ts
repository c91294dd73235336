import { ChannelError } from "@openclaw/channel-sdk";

/** Options of {@link BotTokenProvider}. */
export interface BotTokenProviderOptions {
  /** The OAuth 2.0 token endpoint (Entra ID's `…/<tenant>/oauth2/v2.0/token`). */
  tokenUrl: string;
  /** The bot's Microsoft app id (client id). */
  appId: string;
  /** The app's client secret. */
  appPassword: string;
  /** The scope asked for, e.g. `https://api.botframework.com/.default`. */
  scope: string;
  /** Timeout of one token request. */
  timeoutMs: number;
  /** A token is renewed this long before it expires. */
  refreshMarginMs: number;
  /** Aborts pending requests when the channel stops. */
  signal: AbortSignal;
}

const CREDENTIALS_HINT =
  "check the channel's appId, appPassword (a current client secret of that app registration) and tenantId (single-tenant bots)";

/**
 * Client-credentials tokens for calls to the Bot Connector: one request at a time, cached until
 * shortly before expiry. (The Teams SDK gets them through MSAL, which only accepts `https`
 * authorities and so cannot be pointed at a loopback fake; this is the same OAuth 2.0 request.)
 */
export class BotTokenProvider {
  readonly #options: BotTokenProviderOptions;
  #token: { value: string; expiresAt: number } | undefined;
  #pending: Promise<string> | undefined;

  /** @param options - Endpoint, credentials, scope and timing. */
  constructor(options: BotTokenProviderOptions) {
    this.#options = options;
  }

  /**
   * A valid access token, fetched when none is cached or the cached one is about to expire.
   *
   * @returns The bearer token.
   * @throws {@link ChannelError} `AUTH_FAILED` when the credentials are refused, `RATE_LIMITED`, or
   * `PLATFORM_UNAVAILABLE` when the endpoint cannot be reached.
   */
  async token(): Promise<string> {
    const cached = this.#token;
    if (cached !== undefined && Date.now() < cached.expiresAt - this.#options.refreshMarginMs)
      return cached.value;
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Forgets the cached token (after the Bot Connector refused it). */
  invalidate(): void {
    this.#token = undefined;
  }

  async #fetch(): Promise<string> {
    const { tokenUrl, appId, appPassword, scope, timeoutMs, signal } = this.#options;
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: appId,
          client_secret: appPassword,
          scope,
        }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (error) {
      throw new ChannelError("PLATFORM_UNAVAILABLE", `cannot reach the token endpoint ${tokenUrl}`, {
        cause: error,
      });
    }
    let body: Record<string, unknown> = {};
    try {
      body = (await response.json()) as Record<string, unknown>;
    } catch {
      // An empty or non-JSON error body: the status says enough.
    }
    if (response.status === 429) {
      const seconds = Number(response.headers.get("retry-after"));
      throw new ChannelError("RATE_LIMITED", "the token endpoint asked to slow down", {
        retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 1000,
        platformCode: 429,
      });
    }
    if (response.status >= 400 && response.status < 500) {
      const code = typeof body.error === "string" ? body.error : String(response.status);
      throw new ChannelError(
        "AUTH_FAILED",
        `the token endpoint refused the app's credentials (${code}); ${CREDENTIALS_HINT}`,
        { platformCode: code },
      );
    }
    if (!response.ok || typeof body.access_token !== "string" || body.access_token === "") {
      throw new ChannelError(
        "PLATFORM_UNAVAILABLE",
        `the token endpoint answered ${response.status} without an access token`,
        { platformCode: response.status },
      );
    }
    const expiresIn = Number(body.expires_in);
    const token = {
      value: body.access_token,
      expiresAt: Date.now() + (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600) * 1000,
    };
    this.#token = token;
    return token.value;
  }
}
