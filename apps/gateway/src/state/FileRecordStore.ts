import type { RecordStore, RecordStoreOpenOptions } from "@openclaw/backend";
import { RecordLog, type RecordLogStats } from "@openclaw/record-log";

/**
 * The default {@link RecordStore}: a {@link RecordLog} (`<name>.log` in the state dir; group commit,
 * fsync, torn-tail repair, compaction, a pid lock).
 */
export class FileRecordStore<R extends { id: string }> implements RecordStore<R> {
  readonly #log: RecordLog<R>;

  private constructor(log: RecordLog<R>) {
    this.#log = log;
  }

  /**
   * Opens `<name>.log` in the state dir (a `RecordStoreFactory`).
   *
   * @param options - Where and which.
   * @returns The store, with the records of earlier runs loaded.
   * @throws A `RecordLogError` when the journal cannot be opened (locked by another process, unreadable).
   */
  static async open<R extends { id: string }>(options: RecordStoreOpenOptions): Promise<FileRecordStore<R>> {
    return new FileRecordStore<R>(await RecordLog.open<R>({ dir: options.stateDir, name: options.name }));
  }

  get(id: string): R | undefined {
    return this.#log.get(id);
  }

  values(): IterableIterator<R> {
    return this.#log.values();
  }

  get size(): number {
    return this.#log.size;
  }

  put(record: R): Promise<void> {
    return this.#log.put(record);
  }

  delete(id: string): Promise<void> {
    return this.#log.delete(id);
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  /** Facts about the journal (skipped lines among them). */
  get journal(): RecordLogStats {
    return this.#log.stats;
  }
}
