import type { RecordLogStats } from "@openclaw/record-log";

/**
 * Durable records with an id, kept in the order they were last put: what the delivery queue
 * (`deliveries`) and the conversation history (`conversations`) are stored in. Every record is
 * held in memory too: reads are synchronous, writes resolve once durable (fsync'd, for the file
 * store), so a send is acknowledged only after its record is safe.
 *
 * The records handed out by `get` and `values` are the store's own: the same object for a record
 * until it is put again or deleted (the history holds each message once, by that identity). Callers
 * never change them; they put a new version instead. Check an implementation with
 * `runRecordStoreConformance` from `@openclaw/gateway/testing`.
 */
export interface RecordStore<R extends { id: string }> {
  /**
   * A record, as last put.
   *
   * @param id - Its id.
   * @returns The store's own record, or `undefined`.
   */
  get(id: string): R | undefined;
  /**
   * The records, least recently put first.
   *
   * @returns An iterator over the store's own records.
   */
  values(): IterableIterator<R>;
  /** How many records are held. */
  readonly size: number;
  /**
   * Stores a copy of `record`, replacing the one with its id; it becomes the most recently put and
   * is visible to `get` at once.
   *
   * @returns Resolves once durable; rejects when it cannot be stored (the previous version is back).
   */
  put(record: R): Promise<void>;
  /**
   * Removes a record (visible at once); removing an unknown id does nothing.
   *
   * @returns Resolves once durable; rejects when the removal cannot be stored (the record is back).
   */
  delete(id: string): Promise<void>;
  /** Finishes pending writes and releases the backing. Idempotent. */
  close(): Promise<void>;
  /**
   * Facts about the backing journal, for stores kept in one: the gateway logs the records it
   * skipped at start.
   */
  readonly journal?: RecordLogStats | undefined;
}

/** What a {@link RecordStoreFactory} opens a store with. */
export interface RecordStoreOpenOptions {
  /** The gateway's state dir. */
  stateDir: string;
  /** Which store: `"deliveries"` or `"conversations"` (the file store's `<name>.log`). */
  name: string;
}

/**
 * Opens a {@link RecordStore} with the records of earlier runs; `GatewayOptions.deliveryStore` and
 * `GatewayOptions.historyStore` take one. `FileRecordStore.open` is the default.
 *
 * @example
 * ```ts
 * const deliveryStore: RecordStoreFactory<DeliveryRecord> = ({ name }) => RedisRecordStore.open(redis, name);
 * ```
 */
export type RecordStoreFactory<R extends { id: string }> = (
  options: RecordStoreOpenOptions,
) => Promise<RecordStore<R>>;
