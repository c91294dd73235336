import { CloseCode } from "./constants";

/**
 * The closed set of error codes carried in `res.error.code`. Every refusal the gateway
 * sends, and every error {@link GatewayClient} raises, uses one of these.
 */
export const ErrorCode = {
  /** The frame is not valid JSON, not an object, has an unknown `type`, or lacks a required field. */
  INVALID_FRAME: "INVALID_FRAME",
  /** No valid credentials: missing or wrong token, expired device token, or no `connect` yet. */
  UNAUTHORIZED: "UNAUTHORIZED",
  /** Authenticated, but the granted role or scopes do not allow this method. */
  FORBIDDEN: "FORBIDDEN",
  /** The method is not in the catalogue (or not offered to this role). */
  METHOD_NOT_FOUND: "METHOD_NOT_FOUND",
  /** The method exists but its `data` does not match its params schema. */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** The thing named (node, task, binding, conversation, pairing code, …) does not exist. */
  NOT_FOUND: "NOT_FOUND",
  /** The target node is not connected. */
  NODE_OFFLINE: "NODE_OFFLINE",
  /** The operation did not finish within its time limit. */
  TIMEOUT: "TIMEOUT",
  /** The channel is not configured, not running, or the platform refused the send. */
  CHANNEL_UNAVAILABLE: "CHANNEL_UNAVAILABLE",
  /** No binding matched the recipient at any level. */
  NO_ROUTE: "NO_ROUTE",
  /** Too many requests; `details.retryAfterMs` says when to try again. */
  RATE_LIMITED: "RATE_LIMITED",
  /** The frame or body exceeded a size limit. */
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  /** The request conflicts with current state (stale config hash, duplicate id, …). */
  CONFLICT: "CONFLICT",
  /** The client asked for a protocol version the server cannot speak. */
  UNSUPPORTED_PROTOCOL: "UNSUPPORTED_PROTOCOL",
  /** The connection closed before a response arrived. Raised client-side. */
  CONNECTION_CLOSED: "CONNECTION_CLOSED",
  /** The server is shutting down and accepts no new work. */
  SHUTTING_DOWN: "SHUTTING_DOWN",
  /** An unexpected server-side failure. */
  INTERNAL: "INTERNAL",
  /**
   * Something the server needs to serve the request is failing now (its state storage cannot be
   * written, a shared store is unreachable); nothing was changed, and the same request may succeed
   * later. `details.reason` names what failed (e.g. `state_write_failed`).
   */
  UNAVAILABLE: "UNAVAILABLE",
  /**
   * The server is at a capacity limit (too many connections in all, or from one source); retry after
   * `details.retryAfterMs`.
   */
  OVERLOADED: "OVERLOADED",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** All error codes, in declaration order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.values(ErrorCode));

/** Facts about an error code that clients and servers act on. */
export interface ErrorCodeInfo {
  /** Whether repeating the same request later may succeed. */
  readonly retryable: boolean;
  /** The WebSocket close code the server uses when this error also ends the connection. */
  readonly closeCode?: CloseCode;
  /** The HTTP status the gateway's HTTP surface answers with for this error. */
  readonly httpStatus: number;
}

/** {@link ErrorCodeInfo} for every {@link ErrorCode}. */
export const ERROR_CODE_INFO: Readonly<Record<ErrorCode, ErrorCodeInfo>> = Object.freeze({
  INVALID_FRAME: { retryable: false, httpStatus: 400 },
  UNAUTHORIZED: { retryable: false, closeCode: CloseCode.PolicyViolation, httpStatus: 401 },
  FORBIDDEN: { retryable: false, httpStatus: 403 },
  METHOD_NOT_FOUND: { retryable: false, httpStatus: 404 },
  INVALID_PARAMS: { retryable: false, httpStatus: 400 },
  NOT_FOUND: { retryable: false, httpStatus: 404 },
  NODE_OFFLINE: { retryable: true, httpStatus: 503 },
  TIMEOUT: { retryable: true, httpStatus: 504 },
  CHANNEL_UNAVAILABLE: { retryable: true, httpStatus: 503 },
  NO_ROUTE: { retryable: false, httpStatus: 422 },
  RATE_LIMITED: { retryable: true, httpStatus: 429 },
  PAYLOAD_TOO_LARGE: { retryable: false, closeCode: CloseCode.MessageTooBig, httpStatus: 413 },
  CONFLICT: { retryable: false, httpStatus: 409 },
  UNSUPPORTED_PROTOCOL: { retryable: false, closeCode: CloseCode.PolicyViolation, httpStatus: 400 },
  CONNECTION_CLOSED: { retryable: true, httpStatus: 503 },
  SHUTTING_DOWN: { retryable: true, closeCode: CloseCode.GoingAway, httpStatus: 503 },
  INTERNAL: { retryable: true, closeCode: CloseCode.InternalError, httpStatus: 500 },
  UNAVAILABLE: { retryable: true, httpStatus: 503 },
  OVERLOADED: { retryable: true, closeCode: CloseCode.TryAgainLater, httpStatus: 503 },
});

/**
 * Structured extra information on an error. `reason` is a stable machine-readable word,
 * `nextStep` a human hint ("approve code 4821 with `openclaw pair approve 4821`").
 */
export interface ErrorDetails {
  /** Stable, machine-readable sub-reason, e.g. `"token_mismatch"` or `"invalid_json"`. */
  reason?: string;
  /** What the user can do about it. */
  nextStep?: string;
  /** For `RATE_LIMITED`: milliseconds until a retry may succeed. */
  retryAfterMs?: number;
  /** For validation errors: where in the input the problem is. */
  issues?: ReadonlyArray<{ path: string; message: string }>;
  [key: string]: unknown;
}

/** The JSON shape of `res.error` on the wire. */
export interface ErrorShape {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

/** Options for constructing a {@link ProtocolError}. */
export interface ProtocolErrorOptions {
  /** Structured extra information sent to the peer. */
  details?: ErrorDetails;
  /** The underlying error, kept for logs; never sent on the wire. */
  cause?: unknown;
}

const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === "string" && Object.hasOwn(ErrorCode, value);

/**
 * The one error class of the protocol: a code from {@link ErrorCode}, a human message,
 * optional wire-safe `details`, and an optional local `cause`.
 *
 * @example
 * ```ts
 * throw new ProtocolError("NODE_OFFLINE", "node mobile-1 is not connected", {
 *   details: { reason: "not_connected", nextStep: "open the OpenClaw app on the device" },
 * });
 * ```
 */
export class ProtocolError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = "ProtocolError";
  /** The machine-readable error code. Packages narrow it to the codes they raise (`RouterError`, …). */
  readonly code: C;
  /** Structured information sent to the peer with the error. */
  readonly details: ErrorDetails | undefined;

  constructor(code: C, message: string, options: ProtocolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** Whether repeating the request later may succeed. */
  get retryable(): boolean {
    return ERROR_CODE_INFO[this.code].retryable;
  }

  /**
   * The wire form of this error, as sent in `res.error`. The `cause` and stack are never included.
   *
   * @returns A plain JSON-serialisable object.
   */
  toJSON(): ErrorShape {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  /**
   * Rebuilds an error received on the wire. Unknown codes from a newer server become `INTERNAL`
   * with the original code kept in `details.originalCode`.
   *
   * @param shape - The `res.error` object.
   * @returns A `ProtocolError` carrying the same information.
   */
  static fromShape(shape: { code: string; message: string; details?: unknown }): ProtocolError {
    const details =
      shape.details !== null && typeof shape.details === "object" && !Array.isArray(shape.details)
        ? (shape.details as ErrorDetails)
        : undefined;
    if (isErrorCode(shape.code)) {
      return new ProtocolError(shape.code, shape.message, details === undefined ? {} : { details });
    }
    return new ProtocolError("INTERNAL", shape.message, {
      details: { ...details, originalCode: shape.code },
    });
  }
}

/**
 * Tests whether a value is a {@link ProtocolError}, optionally with a given code.
 *
 * @param value - Anything.
 * @param code - When given, the error must also have this code.
 * @returns `true` when `value` is a matching `ProtocolError`.
 */
export function isProtocolError(value: unknown, code?: ErrorCode): value is ProtocolError {
  return value instanceof ProtocolError && (code === undefined || value.code === code);
}

/**
 * Normalises anything thrown into a {@link ProtocolError}. A `ProtocolError` is returned as is;
 * anything else becomes `fallbackCode` with a generic message (the original is kept as `cause`
 * and never sent on the wire, so internal messages cannot leak to clients).
 *
 * @param error - The thrown value.
 * @param fallbackCode - Code for errors that are not already protocol errors.
 * @returns A `ProtocolError`.
 */
export function toProtocolError(error: unknown, fallbackCode: ErrorCode = "INTERNAL"): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const message = fallbackCode === "INTERNAL" ? "internal error" : describe(error);
  return new ProtocolError(fallbackCode, message, { cause: error });
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return "unknown error";
}
