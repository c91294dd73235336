import { ProtocolError, type ProtocolErrorOptions } from "@openclaw/protocol";

/** The codes a {@link RecordLog} raises; each is also a wire error code. */
export const RecordLogErrorCode = {
  /** Another live process holds the log's lock (`details.reason: "store_locked"`). */
  CONFLICT: "CONFLICT",
  /** Bad options: an empty directory, a name that is not a plain file name, … */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** The log is closed (`details.reason: "store_closed"`). */
  SHUTTING_DOWN: "SHUTTING_DOWN",
  /**
   * The operating system refused an operation (`details.reason`: `"open_failed"`, `"write_failed"`,
   * `"compaction_failed"` or `"log_failed"`); `details.osCode` and `cause` carry the OS error.
   */
  INTERNAL: "INTERNAL",
} as const;

/** One of the {@link RecordLogErrorCode} values. */
export type RecordLogErrorCode = (typeof RecordLogErrorCode)[keyof typeof RecordLogErrorCode];

/**
 * The error a {@link RecordLog} raises. It is a `ProtocolError`, so a gateway can send it on the
 * wire as it is; {@link RecordLogError.osCode} names the OS error (`ENOSPC`, `EFBIG`, …) behind it.
 *
 * @example
 * ```ts
 * try {
 *   await log.put(record);
 * } catch (error) {
 *   const failure = toRecordLogError(error);
 *   if (failure.osCode === "ENOSPC") alertOperator("the state disk is full");
 * }
 * ```
 */
export class RecordLogError extends ProtocolError<RecordLogErrorCode> {
  override readonly name: string = "RecordLogError";

  /** The OS error code of the cause (`error.cause.code`), if the cause is an OS error. */
  get osCode(): string | undefined {
    return osCodeOf(this.cause);
  }
}

/**
 * Normalises anything thrown into a {@link RecordLogError}. A `RecordLogError` is returned as is;
 * anything else becomes `INTERNAL` with the given reason, the original kept as `cause` and its OS
 * code (if any) in `details.osCode`.
 *
 * @param error - The thrown value.
 * @param reason - `details.reason` for errors that are not already record-log errors.
 * @param message - The message for errors that are not already record-log errors.
 * @returns A `RecordLogError`.
 */
export function toRecordLogError(
  error: unknown,
  reason = "internal",
  message = error instanceof Error ? error.message : String(error),
): RecordLogError {
  if (error instanceof RecordLogError) return error;
  const osCode = osCodeOf(error);
  const options: ProtocolErrorOptions = {
    details: osCode === undefined ? { reason } : { reason, osCode },
    cause: error,
  };
  return new RecordLogError("INTERNAL", message, options);
}

function osCodeOf(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
