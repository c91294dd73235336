import { ProtocolError } from "@openclaw/protocol";

/** The codes a {@link TaskQueue} raises; each is also a wire error code. */
export const TaskQueueErrorCode = {
  /** Bad task or schedule options (unknown handler, two schedules, invalid cron, …). */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** A task attempt ran past its time limit. */
  TIMEOUT: "TIMEOUT",
  /** The store refused a write, or is locked by another process. */
  CONFLICT: "CONFLICT",
  /** The queue is stopped or stopping. */
  SHUTTING_DOWN: "SHUTTING_DOWN",
  /** A handler threw something that is not a `ProtocolError`. */
  INTERNAL: "INTERNAL",
  /** Too many tasks held. */
  RATE_LIMITED: "RATE_LIMITED",
  /**
   * The store could not save a change (disk full, read-only, I/O error): nothing was changed; retry
   * later (`details.reason: "state_write_failed"`, `details.retryable: true`).
   */
  UNAVAILABLE: "UNAVAILABLE",
} as const;

/** One of the {@link TaskQueueErrorCode} values. */
export type TaskQueueErrorCode = (typeof TaskQueueErrorCode)[keyof typeof TaskQueueErrorCode];

/** An error raised by the task queue or its stores. */
export class TaskQueueError extends ProtocolError<TaskQueueErrorCode> {
  override readonly name: string = "TaskQueueError";
}
