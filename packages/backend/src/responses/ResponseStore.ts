/** Limits of a {@link ResponseStore} (the config's `openai.responses`). */
export interface ResponseStoreOptions {
  /** Entries kept at most; the oldest is dropped beyond it. `0` keeps none. @defaultValue 1000 */
  maxStored: number;
  /** How long an entry is kept after it was stored. @defaultValue 3600000 */
  ttlMs: number;
  /**
   * Bytes kept at most, all principals together ({@link storedBytes} of each entry); the oldest
   * entries are dropped beyond it. @defaultValue 67108864 (64 MiB)
   */
  maxStoredBytes: number;
  /**
   * Bytes kept at most per principal (the token that stored them); that principal's oldest entries
   * are dropped beyond it, other principals' stay. @defaultValue 16777216 (16 MiB)
   */
  maxStoredBytesPerPrincipal: number;
}

/** Default {@link ResponseStoreOptions} (the config's `openai.responses`). */
export const RESPONSE_STORE_DEFAULTS: ResponseStoreOptions = {
  maxStored: 1000,
  ttlMs: 3_600_000,
  maxStoredBytes: 64 * 1024 * 1024,
  maxStoredBytesPerPrincipal: 16 * 1024 * 1024,
};

/**
 * One stored Responses API result, as kept: JSON texts (their size is known, nothing is shared with
 * the request that made them, and `GET /v1/responses/{id}` answers the text as it is).
 */
export interface StoredResponse {
  /** The `response` object, as JSON. */
  response: string;
  /** The conversation up to and including the response (chat messages), as JSON. */
  messages: string;
  /** The ids of its output items, which `item_reference` input items name. */
  items: string[];
}

/**
 * Where stored responses live: in memory ({@link InMemoryResponseStore}) for one process, in Redis
 * for a cluster (so that every instance reads them). Every entry belongs to a principal (an opaque
 * id of the token that stored it): reads by another principal find nothing, exactly as for an
 * unknown id. Bounded by {@link ResponseStoreOptions}: count, age, bytes in total and per principal,
 * the oldest entries dropped first.
 */
export interface ResponseStore {
  /**
   * Stores `stored` under `id` for `principal`, dropping expired entries and the oldest beyond the
   * limits. An entry larger than `maxStoredBytes` or `maxStoredBytesPerPrincipal` is not stored
   * (callers check {@link fitsResponseStore} first and tell the client).
   */
  put(principal: string, id: string, stored: StoredResponse): Promise<void>;
  /** The entry `principal` stored under `id`, unless it was dropped or expired. */
  get(principal: string, id: string): Promise<StoredResponse | undefined>;
  /** The id of the live entry of `principal` whose output holds the item `itemId`. */
  findItem(principal: string, itemId: string): Promise<string | undefined>;
  /** Waits for writes in flight. */
  close(): Promise<void>;
}

/** Makes the {@link ResponseStore} of a gateway (`GatewayOptions.responseStore`). */
export type ResponseStoreFactory = (options: {
  /** The limits in force, read at every write (config reloads apply at once). */
  limits: () => ResponseStoreOptions;
}) => ResponseStore;

/**
 * The bytes an entry counts for against the limits: the UTF-8 length of its JSON texts and item ids.
 *
 * @param stored - The entry.
 * @returns Its size in bytes.
 */
export function storedBytes(stored: StoredResponse): number {
  let bytes = Buffer.byteLength(stored.response) + Buffer.byteLength(stored.messages);
  for (const item of stored.items) bytes += item.length;
  return bytes;
}

/**
 * Whether an entry of `bytes` can be stored at all under `limits` (not when it alone is over a byte
 * bound, nor when `maxStored` is 0).
 */
export function fitsResponseStore(bytes: number, limits: ResponseStoreOptions): boolean {
  return limits.maxStored > 0 && bytes <= limits.maxStoredBytes && bytes <= limits.maxStoredBytesPerPrincipal;
}

interface Entry {
  principal: string;
  id: string;
  stored: StoredResponse;
  bytes: number;
  expiresAt: number;
}

/**
 * The {@link ResponseStore} of one process: entries leave in the order they came (oldest first),
 * when there are more than `maxStored`, their bytes are over `maxStoredBytes` (all) or
 * `maxStoredBytesPerPrincipal` (their principal's), or once `ttlMs` has passed. Limits are read at
 * each call, so a config reload applies at once.
 */
export class InMemoryResponseStore implements ResponseStore {
  /** Every entry by `principal\nid`, oldest first. */
  readonly #entries = new Map<string, Entry>();
  /** Each principal's entry keys (oldest first) and their bytes. */
  readonly #principals = new Map<string, { keys: Set<string>; bytes: number }>();
  /** `principal\nitemId` → the entry id whose output holds it. */
  readonly #items = new Map<string, string>();
  #bytes = 0;

  /**
   * @param limits - Read at each call (the live config).
   * @param now - The clock. @defaultValue `Date.now`
   */
  constructor(
    private readonly limits: () => ResponseStoreOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held ({@link storedBytes} of every entry held). */
  get bytes(): number {
    return this.#bytes;
  }

  async put(principal: string, id: string, stored: StoredResponse): Promise<void> {
    this.set(principal, id, stored);
  }

  /** {@link InMemoryResponseStore.put}, synchronously. */
  set(principal: string, id: string, stored: StoredResponse): void {
    const limits = this.limits();
    this.#prune();
    const bytes = storedBytes(stored);
    if (!fitsResponseStore(bytes, limits)) return;
    const key = keyOf(principal, id);
    this.#delete(key);
    const entry: Entry = { principal, id, stored, bytes, expiresAt: this.now() + limits.ttlMs };
    this.#entries.set(key, entry);
    let mine = this.#principals.get(principal);
    if (mine === undefined) {
      mine = { keys: new Set(), bytes: 0 };
      this.#principals.set(principal, mine);
    }
    mine.keys.add(key);
    mine.bytes += bytes;
    this.#bytes += bytes;
    for (const item of stored.items) this.#items.set(keyOf(principal, item), id);
    for (const oldest of mine.keys) {
      if (mine.bytes <= limits.maxStoredBytesPerPrincipal) break;
      this.#delete(oldest);
    }
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= limits.maxStored && this.#bytes <= limits.maxStoredBytes) break;
      this.#delete(oldest);
    }
  }

  async get(principal: string, id: string): Promise<StoredResponse | undefined> {
    return this.#live(keyOf(principal, id))?.stored;
  }

  async findItem(principal: string, itemId: string): Promise<string | undefined> {
    const id = this.#items.get(keyOf(principal, itemId));
    return id === undefined || this.#live(keyOf(principal, id)) === undefined ? undefined : id;
  }

  async close(): Promise<void> {}

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#delete(key);
      return undefined;
    }
    return entry;
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    const mine = this.#principals.get(entry.principal);
    if (mine !== undefined) {
      mine.keys.delete(key);
      mine.bytes -= entry.bytes;
      if (mine.keys.size === 0) this.#principals.delete(entry.principal);
    }
    for (const item of entry.stored.items) {
      const itemKey = keyOf(entry.principal, item);
      if (this.#items.get(itemKey) === entry.id) this.#items.delete(itemKey);
    }
  }

  /** Drops the expired entries at the front (entries expire in the order they were stored). */
  #prune(): void {
    const now = this.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#delete(key);
    }
  }
}

function keyOf(principal: string, id: string): string {
  return `${principal}\n${id}`;
}
