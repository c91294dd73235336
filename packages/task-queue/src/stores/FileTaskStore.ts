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

  put(record: TaskRecord): Promise<void> {
    try {
      return this.#log.put(record).catch(rethrowAsTaskQueueError);
    } catch (error) {
      throw asTaskQueueError(error);
    }
  }

  delete(id: string): Promise<void> {
    try {
      return this.#log.delete(id).catch(rethrowAsTaskQueueError);
    } catch (error) {
      throw asTaskQueueError(error);
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
