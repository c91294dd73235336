import type { RecordLogStats } from "@openclaw/record-log";

/** How many keys a {@link KeyStore} holds and for how long. */
export interface KeyStoreLimits {
  /** Keys held at most; the oldest are forgotten first beyond it. */
  maxEntries: number;
  /** How long a key is remembered, from its last `remember`. */
  ttlMs: number;
}

/**
 * Keys remembered for a while, each with a value: the results of idempotent requests, and the ids of
 * inbound messages already taken (dedupe). Bounded by count (oldest forgotten first) and by age.
 *
 * Reads are synchronous, so a check and the work it guards happen in one turn of the event loop; an
 * implementation on a remote backend keeps what it holds readable locally. Check an implementation
 * with `runKeyStoreConformance` from `@openclaw/backend/testing`.
 *
 * A store shared by several gateway instances (cluster mode) keeps its local view current with the
 * keys the other instances remember (within a notice's travel time, typically well under a
 * millisecond), so a repeated `idempotencyKey` returns the first result, and an inbound id taken on
 * one instance is a duplicate on all, whichever instance gets the repeat once the first completed.
 * Two requests with one key on two instances at the same moment may both run.
 */
export interface KeyStore<V> {
  /**
   * Whether `key` is remembered and younger than the TTL.
   *
   * @param key - Any string (it may contain `\u0000`).
   */
  has(key: string): boolean;
  /**
   * The value remembered for `key`.
   *
   * @param key - The key.
   * @returns It, or `undefined` when the key is unknown or older than the TTL.
   */
  get(key: string): V | undefined;
  /**
   * Remembers `key` with `value` (or refreshes it): visible to `has`/`get` at once, durable once the
   * promise resolves. Forgets the oldest keys beyond `maxEntries` and every key past the TTL.
   *
   * @param key - The key.
   * @param value - A JSON-serialisable value; it is copied.
   * @returns Resolves once stored; rejects when it cannot be (the key is then not remembered).
   */
  remember(key: string, value: V): Promise<void>;
  /** Finishes pending writes and releases the backing. Idempotent. */
  close(): Promise<void>;
  /**
   * Facts about the backing journal, for stores kept in one: the gateway logs the records it
   * skipped at start.
   */
  readonly journal?: RecordLogStats | undefined;
}

/** What a {@link KeyStoreFactory} opens a store with. */
export interface KeyStoreOpenOptions {
  /** The gateway's state dir. */
  stateDir: string;
  /** Which store: `"idempotency"` or `"inbound-seen"` (the file store's `<name>.log`). */
  name: string;
  /** The limits, read at every write so config reloads apply. */
  limits(): KeyStoreLimits;
  /**
   * The clock (ms since the epoch).
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/**
 * Opens a {@link KeyStore}; `GatewayOptions.idempotencyStore` and `GatewayOptions.dedupeStore` take
 * one. `FileKeyStore.open` is the default.
 *
 * @example
 * ```ts
 * const dedupeStore: KeyStoreFactory<1> = ({ name, limits }) => RedisKeyStore.open(redis, name, limits);
 * ```
 */
export type KeyStoreFactory<V> = (options: KeyStoreOpenOptions) => Promise<KeyStore<V>>;
