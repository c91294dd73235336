/**
 * @packageDocumentation
 * An fsync'd append-only journal of records with an id: group commit, torn-tail repair,
 * compaction and a pid lock. The OpenClaw Gateway keeps its deliveries, idempotency keys,
 * conversations and tasks in it.
 */

export type { RecordLogOptions, RecordLogStats } from "./RecordLog";
export {
  DEFAULT_RECORD_LOG_OPTIONS,
  RECORD_LOG_DIR_MODE,
  RECORD_LOG_FILE_MODE,
  RecordLog,
} from "./RecordLog";
export { RecordLogError, RecordLogErrorCode, toRecordLogError } from "./RecordLogError";
