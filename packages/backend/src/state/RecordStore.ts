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
 * `runRecordStoreConformance` from `@openclaw/backend/testing`.
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
  /**
   * Stores a copy of `record` only when no record with its id exists in the backing (shared by every
   * gateway instance in cluster mode): the conversation history allocates message seqs with it, so two
   * instances appending to one conversation at once never take the same seq. Unlike {@link put}, the
   * record is visible to `get` only once this resolves `true`. A store only this process writes leaves
   * it out (the history then numbers messages from what it holds, as a single process may).
   *
   * @returns `true` once stored and durable; `false` when the id was taken (nothing changed).
   * @throws As {@link put} does when the record cannot be stored.
   */
  putIfAbsent?(record: R): Promise<boolean>;
  /**
   * Reads a record from the backing itself, not from this instance's view of it (a shared store in
   * cluster mode, with {@link putIfAbsent}). When `putIfAbsent` finds a message seq taken, the
   * conversation history reads who took it: its own earlier write whose answer was lost (Redis died
   * after storing it) is the same message, not another one to store again.
   *
   * @param id - The record's id.
   * @returns A copy of the record as the backing holds it, or `undefined` when there is none.
   * @throws When the backing cannot be read (as {@link put} does when it cannot be written).
   */
  fetch?(id: string): Promise<R | undefined>;
  /**
   * Follows the changes other gateway instances make to a shared store (cluster mode); a store only
   * this process writes leaves it out. `listener` is called with each change after the store's own
   * view has it (and with what a full reload found different, after the store lost its link), never
   * for this store's own writes. The conversation history applies them, so `conversation.history` and
   * `conversation.list` are the same on every instance.
   *
   * @param listener - Receives each record put or deleted elsewhere.
   * @returns Stops the calls.
   */
  watch?(listener: (change: RecordStoreChange<R>) => void): () => void;
  /** Finishes pending writes and releases the backing. Idempotent. */
  close(): Promise<void>;
  /**
   * Facts about the backing journal, for stores kept in one: the gateway logs the records it
   * skipped at start.
   */
  readonly journal?: RecordLogStats | undefined;
}

/**
 * A change another instance made to a shared {@link RecordStore}: a record put (the store's own
 * object, now the most recently put), or a record deleted (the store's object it held, if any).
 */
export type RecordStoreChange<R extends { id: string }> =
  | { kind: "put"; record: R }
  | { kind: "delete"; id: string; record: R | undefined };

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
