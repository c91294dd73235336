import { type ErrorCode, ProtocolError } from "@openclaw/protocol";

/** What went wrong talking to a platform. Plugins throw these; the gateway retries or reports by code. */
export const ChannelErrorCode = {
  /** The platform refused the credentials (bad or revoked token). Not retryable. */
  AUTH_FAILED: "AUTH_FAILED",
  /** The platform asked to slow down; `retryAfterMs` says how long. */
  RATE_LIMITED: "RATE_LIMITED",
  /** The chat, user or room does not exist or the bot cannot reach it. */
  RECIPIENT_NOT_FOUND: "RECIPIENT_NOT_FOUND",
  /** The content cannot be sent on this channel, even after fallbacks. */
  UNSUPPORTED_CONTENT: "UNSUPPORTED_CONTENT",
  /** The platform is down, timed out or answered with a server error. Retryable. */
  PLATFORM_UNAVAILABLE: "PLATFORM_UNAVAILABLE",
  /** The channel's settings do not validate against the plugin's schema. */
  INVALID_CONFIG: "INVALID_CONFIG",
  /** The plugin is not initialized, or was destroyed. */
  NOT_READY: "NOT_READY",
  /**
   * The gateway could not take an inbound message (`emit` rejected: it could not record it durably,
   * e.g. a full disk). Nothing was acknowledged or broadcast: the plugin has the platform redeliver
   * the message (a 5xx on a webhook, an unconfirmed cursor) or emits it again later. Retryable.
   */
  HOST_UNAVAILABLE: "HOST_UNAVAILABLE",
  /** A plugin bug: anything else. */
  INTERNAL: "INTERNAL",
} as const;

/** One of the {@link ChannelErrorCode} values. */
export type ChannelErrorCode = (typeof ChannelErrorCode)[keyof typeof ChannelErrorCode];

/** The wire error code each channel error becomes. */
export const CHANNEL_ERROR_WIRE_CODE: Readonly<Record<ChannelErrorCode, ErrorCode>> = Object.freeze({
  AUTH_FAILED: "CHANNEL_UNAVAILABLE",
  RATE_LIMITED: "RATE_LIMITED",
  RECIPIENT_NOT_FOUND: "NOT_FOUND",
  UNSUPPORTED_CONTENT: "INVALID_PARAMS",
  PLATFORM_UNAVAILABLE: "CHANNEL_UNAVAILABLE",
  INVALID_CONFIG: "INVALID_PARAMS",
  NOT_READY: "CHANNEL_UNAVAILABLE",
  HOST_UNAVAILABLE: "UNAVAILABLE",
  INTERNAL: "INTERNAL",
});

const RETRYABLE: ReadonlySet<ChannelErrorCode> = new Set([
  "RATE_LIMITED",
  "PLATFORM_UNAVAILABLE",
  "NOT_READY",
  "HOST_UNAVAILABLE",
]);

/** Options of a {@link ChannelError}. */
export interface ChannelErrorOptions {
  /** For `RATE_LIMITED` (and sometimes `PLATFORM_UNAVAILABLE`): when to try again. */
  retryAfterMs?: number;
  /** The platform's own status or error code, for logs. */
  platformCode?: string | number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The error a channel plugin throws. `code` says what to do (retry after `retryAfterMs`, give up,
 * tell the user), `toProtocolError()` gives what the gateway sends on the wire.
 *
 * @example
 * ```ts
 * if (response.status === 429) {
 *   throw new ChannelError("RATE_LIMITED", "telegram flood control", { retryAfterMs: body.parameters.retry_after * 1000 });
 * }
 * ```
 */
export class ChannelError extends Error {
  override readonly name: string = "ChannelError";
  readonly code: ChannelErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly platformCode: string | number | undefined;

  constructor(code: ChannelErrorCode, message: string, options: ChannelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.platformCode = options.platformCode;
  }

  /** Whether a later retry may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  /**
   * The wire form of this error.
   *
   * @param channel - The channel's name, for the message and details.
   * @returns A `ProtocolError` with the mapped code, `details.reason` = this code (lower case), and `retryAfterMs`.
   */
  toProtocolError(channel?: string): ProtocolError {
    const details: Record<string, unknown> = { reason: this.code.toLowerCase() };
    if (channel !== undefined) details.channel = channel;
    if (this.retryAfterMs !== undefined) details.retryAfterMs = this.retryAfterMs;
    return new ProtocolError(
      CHANNEL_ERROR_WIRE_CODE[this.code],
      channel === undefined ? this.message : `${channel}: ${this.message}`,
      { details, cause: this },
    );
  }
}

/**
 * Normalises anything a plugin threw into a {@link ChannelError} (`INTERNAL` for the unknown).
 *
 * @param error - The thrown value.
 * @returns A `ChannelError`.
 */
export function toChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
