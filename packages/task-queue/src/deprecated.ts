import {
  RecordLog as MovedRecordLog,
  type RecordLogOptions as MovedRecordLogOptions,
  type RecordLogStats as MovedRecordLogStats,
} from "@openclaw/record-log";

/**
 * The journal `FileTaskStore` is built on, now in its own package.
 *
 * @deprecated Import `RecordLog` from `@openclaw/record-log`; this re-export goes in the next major.
 * It raises `RecordLogError`s (codes `CONFLICT`, `SHUTTING_DOWN`, `INVALID_PARAMS`, `INTERNAL`), not `TaskQueueError`s.
 */
export const RecordLog = MovedRecordLog;
/** @deprecated Import `RecordLog` from `@openclaw/record-log`. */
export type RecordLog<R extends { id: string }> = MovedRecordLog<R>;
/** @deprecated Import `RecordLogOptions` from `@openclaw/record-log`. */
export type RecordLogOptions = MovedRecordLogOptions;
/** @deprecated Import `RecordLogStats` from `@openclaw/record-log`. */
export type RecordLogStats = MovedRecordLogStats;
