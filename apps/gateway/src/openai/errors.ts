import { ERROR_CODE_INFO, type ErrorCode, toProtocolError } from "@openclaw/protocol";

/** The `type` of an OpenAI error body; the set OpenAI's own API uses. */
export const OPENAI_ERROR_TYPES = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
} as const;

/** One of {@link OPENAI_ERROR_TYPES}. */
export type OpenAiErrorType = keyof typeof OPENAI_ERROR_TYPES;

/** The JSON body of every `/v1` error: `{error: {message, type, param, code}}`. */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    /** The gateway's own explanation (`reason`, `nextStep`), for auth refusals and the like. */
    details?: Record<string, unknown>;
  };
}

/** Options of an {@link OpenAiError}. */
export interface OpenAiErrorOptions {
  /** The request parameter at fault, e.g. `"temperature"` or `"messages[1].content"`. @defaultValue null */
  param?: string | null;
  /** A machine-readable code, e.g. `"invalid_value"` or `"model_not_found"`. @defaultValue the type */
  code?: string | null;
  /** The HTTP status. @defaultValue the type's status in {@link OPENAI_ERROR_TYPES} */
  status?: number;
  /** Extra information kept in the body's `details`. */
  details?: Record<string, unknown>;
  /** Response headers, e.g. `retry-after`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * An error of the OpenAI-compatible API, answered as `{error: {message, type, param, code}}` with
 * its HTTP status.
 *
 * @example
 * ```ts
 * throw new OpenAiError("invalid_request_error", "temperature must be at most 2", { param: "temperature" });
 * ```
 */
export class OpenAiError extends Error {
  override readonly name = "OpenAiError";
  readonly type: string;
  readonly status: number;
  readonly param: string | null;
  readonly code: string | null;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;

  constructor(type: OpenAiErrorType | (string & {}), message: string, options: OpenAiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = type;
    this.status = options.status ?? OPENAI_ERROR_TYPES[type as OpenAiErrorType] ?? 500;
    this.param = options.param ?? null;
    this.code = options.code === undefined ? type : options.code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  /** The JSON body. */
  toJSON(): OpenAiErrorBody {
    const error: OpenAiErrorBody["error"] = {
      message: this.message,
      type: this.type,
      param: this.param,
      code: this.code,
    };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** An invalid request parameter: 400 `invalid_request_error` naming it. */
export function invalidParam(param: string | null, message: string, code = "invalid_value"): OpenAiError {
  return new OpenAiError("invalid_request_error", message, { param, code });
}

const TYPE_OF_CODE: Partial<Record<ErrorCode, OpenAiErrorType>> = {
  INVALID_FRAME: "invalid_request_error",
  INVALID_PARAMS: "invalid_request_error",
  UNSUPPORTED_PROTOCOL: "invalid_request_error",
  NO_ROUTE: "invalid_request_error",
  UNAUTHORIZED: "authentication_error",
  FORBIDDEN: "permission_error",
  NOT_FOUND: "not_found_error",
  METHOD_NOT_FOUND: "not_found_error",
  CONFLICT: "conflict_error",
  PAYLOAD_TOO_LARGE: "request_too_large",
  RATE_LIMITED: "rate_limit_error",
};

/** The OpenAI error for one of the gateway's own error codes (with that code's HTTP status). */
export function fromGatewayError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  status?: number,
): OpenAiError {
  const type = TYPE_OF_CODE[code] ?? "api_error";
  const reason = typeof details?.reason === "string" ? details.reason : undefined;
  const retryAfterMs = typeof details?.retryAfterMs === "number" ? details.retryAfterMs : undefined;
  return new OpenAiError(type, message, {
    code: code === "UNAUTHORIZED" ? "invalid_api_key" : (reason ?? code.toLowerCase()),
    status: status ?? ERROR_CODE_INFO[code].httpStatus,
    ...(details === undefined ? {} : { details }),
    ...(retryAfterMs === undefined
      ? {}
      : { headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } }),
  });
}

/**
 * Normalises anything thrown while serving a `/v1` request: an {@link OpenAiError} as it is, the
 * gateway's typed errors by their code (an unavailable agent as a 502); anything else is a 500
 * `api_error` whose message does not leak.
 *
 * @param error - What was thrown.
 * @returns The error to answer with.
 */
export function toOpenAiError(error: unknown): OpenAiError {
  if (error instanceof OpenAiError) return error;
  // toProtocolError never leaks the message of an untyped failure ("internal error").
  const failure = toProtocolError(error, "INTERNAL");
  return fromGatewayError(
    failure.code,
    failure.message,
    failure.details as Record<string, unknown> | undefined,
    failure.code === "CHANNEL_UNAVAILABLE" ? 502 : undefined,
  );
}
