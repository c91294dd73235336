import { ChannelError } from "@openclaw/channel-sdk";

/** What kind of failure a {@link SignalCliError} is. */
export const SignalCliErrorKind = {
  /** The daemon could not be reached (connection refused, DNS, reset). */
  NETWORK: "NETWORK",
  /** The daemon did not answer within the time limit. */
  TIMEOUT: "TIMEOUT",
  /** The daemon answered with an HTTP status other than the expected one. */
  HTTP: "HTTP",
  /** The daemon answered something that is not JSON-RPC 2.0. */
  PROTOCOL: "PROTOCOL",
  /** The daemon answered with a JSON-RPC error object. */
  RPC: "RPC",
} as const;

/** One of the {@link SignalCliErrorKind} values. */
export type SignalCliErrorKind = (typeof SignalCliErrorKind)[keyof typeof SignalCliErrorKind];

/** signal-cli's own JSON-RPC error codes (see `SignalJsonRpcCommandHandler`), plus JSON-RPC 2.0's. */
export const SignalRpcErrorCode = {
  /** A user error: unknown group, not a member, unregistered recipient, bad parameter. */
  USER_ERROR: -1,
  /** An I/O error talking to the Signal servers. */
  IO_ERROR: -3,
  /** The recipient's identity key changed and is not trusted yet. */
  UNTRUSTED_KEY_ERROR: -4,
  /** Signal rate-limited the account. */
  RATELIMIT_ERROR: -5,
  /** A captcha was rejected. */
  CAPTCHA_REJECTED_ERROR: -6,
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

/** A JSON-RPC 2.0 error object as signal-cli sends it. */
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** Options of a {@link SignalCliError}. */
export interface SignalCliErrorOptions {
  /** The URL that was requested. */
  url?: string;
  /** The JSON-RPC method, for RPC calls. */
  method?: string;
  /** The HTTP status, for `HTTP` errors. */
  status?: number;
  /** The JSON-RPC error object, for `RPC` errors. */
  rpcError?: JsonRpcErrorObject;
  cause?: unknown;
}

/**
 * A failure talking to a signal-cli daemon: unreachable, too slow, an unexpected HTTP answer, or a
 * JSON-RPC error object. Turn it into the SDK's error with {@link toChannelError}.
 */
export class SignalCliError extends Error {
  override readonly name: string = "SignalCliError";
  readonly kind: SignalCliErrorKind;
  readonly url: string | undefined;
  readonly method: string | undefined;
  readonly status: number | undefined;
  readonly rpcError: JsonRpcErrorObject | undefined;

  constructor(kind: SignalCliErrorKind, message: string, options: SignalCliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.url = options.url;
    this.method = options.method;
    this.status = options.status;
    this.rpcError = options.rpcError;
  }
}

/** One entry of `data.response.results` of a failed `send` (signal-cli's `SendMessageResult`). */
interface SendResultEntry {
  type?: string;
  retryAfterSeconds?: number;
  recipientAddress?: { number?: string | null; uuid?: string | null };
}

const sendResults = (data: unknown): SendResultEntry[] => {
  const results = (data as { response?: { results?: unknown } } | undefined)?.response?.results;
  return Array.isArray(results) ? (results as SendResultEntry[]) : [];
};

/** How long to wait after a rate limit that names no time. */
export const DEFAULT_RATE_LIMIT_RETRY_MS = 5000;

/**
 * Maps anything the client or the plugin threw to a {@link ChannelError}: rate limits become
 * retryable `RATE_LIMITED` with `retryAfterMs`; unregistered users, unknown groups and invalid
 * recipients final `RECIPIENT_NOT_FOUND`; an account the daemon does not have `AUTH_FAILED`; an
 * unreachable or failing daemon retryable `PLATFORM_UNAVAILABLE`.
 *
 * @param error - The thrown value.
 * @returns A `ChannelError` whose message says what happened and, where it helps, what to do.
 */
export function toChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  if (!(error instanceof SignalCliError))
    return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  if (error.kind !== "RPC" || error.rpcError === undefined) {
    if (error.kind === "HTTP" && (error.status === 401 || error.status === 403))
      return new ChannelError("AUTH_FAILED", error.message, { platformCode: error.status, cause: error });
    return new ChannelError("PLATFORM_UNAVAILABLE", error.message, {
      cause: error,
      ...(error.status === undefined ? {} : { platformCode: error.status }),
    });
  }
  const { code, message, data } = error.rpcError;
  const options = { platformCode: code, cause: error };
  const results = sendResults(data);
  const types = new Set(results.map((r) => r.type));
  const who = results
    .filter((r) => r.type !== "SUCCESS")
    .map((r) => r.recipientAddress?.number ?? r.recipientAddress?.uuid)
    .filter((id): id is string => typeof id === "string");
  const whom = who.length === 0 ? "" : ` (${who.join(", ")})`;
  if (code === SignalRpcErrorCode.RATELIMIT_ERROR || types.has("RATE_LIMIT_FAILURE")) {
    const seconds = Math.max(0, ...results.map((r) => r.retryAfterSeconds ?? 0));
    return new ChannelError("RATE_LIMITED", `Signal rate-limited the account: ${message}`, {
      ...options,
      retryAfterMs: seconds > 0 ? seconds * 1000 : DEFAULT_RATE_LIMIT_RETRY_MS,
    });
  }
  if (types.has("UNREGISTERED_FAILURE") || /not registered|unregistered/i.test(message))
    return new ChannelError(
      "RECIPIENT_NOT_FOUND",
      `the recipient is not registered with Signal${whom}: ${message}`,
      options,
    );
  if (code === SignalRpcErrorCode.UNTRUSTED_KEY_ERROR || types.has("IDENTITY_FAILURE"))
    return new ChannelError(
      "RECIPIENT_NOT_FOUND",
      `the recipient's safety number changed and is not trusted${whom}; check it, then run \`signal-cli trust\`: ${message}`,
      options,
    );
  if (code === SignalRpcErrorCode.INVALID_PARAMS && /account/i.test(message))
    return new ChannelError(
      "AUTH_FAILED",
      `the signal-cli daemon has no such account (register or link it first): ${message}`,
      options,
    );
  if (code === SignalRpcErrorCode.USER_ERROR || code === SignalRpcErrorCode.INVALID_PARAMS) {
    if (/group|member|recipient|number|invalid.*(uuid|aci|identifier)|username/i.test(message))
      return new ChannelError(
        "RECIPIENT_NOT_FOUND",
        `Signal cannot deliver to this recipient: ${message}`,
        options,
      );
    return new ChannelError("UNSUPPORTED_CONTENT", `signal-cli refused the message: ${message}`, options);
  }
  if (code === SignalRpcErrorCode.CAPTCHA_REJECTED_ERROR)
    return new ChannelError("AUTH_FAILED", `Signal asks for a captcha: ${message}`, options);
  if (types.has("NETWORK_FAILURE") || code === SignalRpcErrorCode.IO_ERROR)
    return new ChannelError("PLATFORM_UNAVAILABLE", `signal-cli could not reach Signal: ${message}`, options);
  if (code === SignalRpcErrorCode.METHOD_NOT_FOUND)
    return new ChannelError(
      "INTERNAL",
      `this signal-cli does not know ${error.method ?? "the method"}; update signal-cli: ${message}`,
      options,
    );
  return new ChannelError("PLATFORM_UNAVAILABLE", `signal-cli failed: ${message}`, options);
}
