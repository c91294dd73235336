import { RecordLog, RecordLogError, type RecordLogStats } from "@openclaw/record-log";
import { TaskQueueError } from "../TaskQueueError";
import type { TaskRecord } from "../types";
import type { TaskStore } from "./TaskStore";

/** Options of a {@link FileTaskStore}. */
export interface FileTaskStoreOptions {
  /** The directory (normally the gateway's state dir). The store uses `tasks.log` and `tasks.lock` in it. */
  dir: string;
  /**
   * The log is compacted once it has more than this many lines and more than twice as many lines
   * as live records.
   * @defaultValue 1000
   */
  compactMinLines?: number;
}

/** Facts about a store's file, for operators and tests. */
export type FileTaskStoreStats = RecordLogStats;

/**
 * A {@link TaskStore} in one directory: a {@link RecordLog} named `tasks` (an fsync'd append-only
 * log with group commit, torn-tail repair, compaction and a pid lock), so a write is durable when
 * its promise resolves.
 */
export class FileTaskStore implements TaskStore {
  readonly #log: RecordLog<TaskRecord>;

  private constructor(log: RecordLog<TaskRecord>) {
    this.#log = log;
  }

  /**
   * Opens (or creates) the store in `options.dir`.
   *
   * @param options - Directory and compaction threshold.
   * @returns The open store.
   * @throws {@link TaskQueueError} `CONFLICT` (`details.reason: "store_locked"`) when another live process holds the directory,
   * `INTERNAL` (`details.reason: "open_failed"`, the OS error as `cause`) when the directory cannot be used.
   */
  static async open(options: FileTaskStoreOptions): Promise<FileTaskStore> {
    try {
      return new FileTaskStore(await RecordLog.open<TaskRecord>({ ...options, name: "tasks" }));
    } catch (error) {
      throw asTaskQueueError(error);
    }
  }

  /** The directory the store lives in. */
  get dir(): string {
    return this.#log.dir;
  }

  /** Facts about the log. */
  get stats(): FileTaskStoreStats {
    return this.#log.stats;
  }

  async load(): Promise<TaskRecord[]> {
    try {
      return [...this.#log.values()].map((record) => structuredClone(record));
    } catch (error) {
      throw asTaskQueueError(error);
    }
  }

  /**
   * Writes a task; resolves once it is durable.
   *
   * @throws {@link TaskQueueError} `UNAVAILABLE` (`details.reason: "state_write_failed"`, retryable)
   * when the file cannot be written (disk full, read-only, I/O error): the record is not stored. The
   * error names the file, never its directory; the OS error stays in `cause`.
   */
  put(record: TaskRecord): Promise<void> {
    try {
      return this.#log.put(record).catch(rethrowAsWriteError);
    } catch (error) {
      throw asWriteError(error);
    }
  }

  /**
   * Removes a task; resolves once that is durable.
   *
   * @throws {@link TaskQueueError} `UNAVAILABLE` (`details.reason: "state_write_failed"`), as {@link put}.
   */
  delete(id: string): Promise<void> {
    try {
      return this.#log.delete(id).catch(rethrowAsWriteError);
    } catch (error) {
      throw asWriteError(error);
    }
  }

  close(): Promise<void> {
    return this.#log.close().catch(rethrowAsTaskQueueError);
  }
}

/** The store's errors are task-queue errors: a {@link RecordLogError} keeps its code, details and message. */
function asTaskQueueError(error: unknown): unknown {
  if (!(error instanceof RecordLogError)) return error;
  return new TaskQueueError(error.code, error.message, {
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: error,
  });
}

function rethrowAsTaskQueueError(error: unknown): never {
  throw asTaskQueueError(error);
}

/** The file a write failure names (the log's file name; its directory is the server's business). */
const LOG_FILE = "tasks.log";

/**
 * A failed write is a retryable `UNAVAILABLE` with the same details as the gateway's other state
 * files (`state_write_failed`, the file's name, the OS code); the record log's message, which holds
 * the file's full path, stays in `cause` for the server's own log.
 */
function asWriteError(error: unknown): unknown {
  if (!(error instanceof RecordLogError) || error.code !== "INTERNAL") return asTaskQueueError(error);
  const errno = error.osCode;
  return new TaskQueueError("UNAVAILABLE", `the task store could not save its state (${LOG_FILE})`, {
    details: {
      reason: "state_write_failed",
      file: LOG_FILE,
      ...(errno === undefined ? {} : { errno }),
      retryable: true,
      retryAfterMs: 1000,
      nextStep: "nothing was changed; retry later (the state dir may be full, read-only or failing)",
    },
    cause: error,
  });
}

function rethrowAsWriteError(error: unknown): never {
  throw asWriteError(error);
}
