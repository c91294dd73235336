/** Options of a {@link ResponseStore}. */
export interface ResponseStoreOptions {
  /** Entries kept at most; the oldest is dropped beyond it. `0` keeps none. @defaultValue 1000 */
  maxStored: number;
  /** How long an entry is kept after it was stored. @defaultValue 3600000 */
  ttlMs: number;
}

/** Default {@link ResponseStoreOptions} (the config's `openai.responses`). */
export const RESPONSE_STORE_DEFAULTS: ResponseStoreOptions = { maxStored: 1000, ttlMs: 3_600_000 };

/**
 * Stored Responses API results, bounded in count and age: entries leave in the order they came
 * (oldest first), when there are more than `maxStored` or once `ttlMs` has passed. Limits are read
 * at each call, so a config reload applies at once.
 *
 * @typeParam T - What is stored per response.
 */
export class ResponseStore<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();

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

  /** Stores `value` under `id` (dropping expired and the oldest entries beyond `maxStored`). */
  set(id: string, value: T): void {
    const { maxStored, ttlMs } = this.limits();
    this.#prune();
    if (maxStored === 0) return;
    this.#entries.delete(id);
    this.#entries.set(id, { value, expiresAt: this.now() + ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= maxStored) break;
      this.#entries.delete(oldest);
    }
  }

  /** The value stored under `id`, unless it was dropped or expired. */
  get(id: string): T | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  /** The live values, newest first. */
  *values(): IterableIterator<T> {
    const now = this.now();
    const entries = [...this.#entries.values()];
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.expiresAt > now) yield entries[i]!.value;
  }

  /** Drops the expired entries at the front (entries expire in the order they were stored). */
  #prune(): void {
    const now = this.now();
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(id);
    }
  }
}
