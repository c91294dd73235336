import type { TaskRecord } from "../types";
import { RecordLog, type RecordLogStats } from "./RecordLog";
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
   * @throws {@link TaskQueueError} `CONFLICT` (`details.reason: "store_locked"`) when another live process holds the directory.
   */
  static async open(options: FileTaskStoreOptions): Promise<FileTaskStore> {
    return new FileTaskStore(await RecordLog.open<TaskRecord>({ ...options, name: "tasks" }));
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
    return [...this.#log.values()].map((record) => structuredClone(record));
  }

  put(record: TaskRecord): Promise<void> {
    return this.#log.put(record);
  }

  delete(id: string): Promise<void> {
    return this.#log.delete(id);
  }

  close(): Promise<void> {
    return this.#log.close();
  }
}
