/** Options of a {@link RedeliveryGuard}. */
export interface RedeliveryGuardOptions {
  /** Most keys remembered; the oldest are forgotten first. */
  maxEntries: number;
  /** How long a handled key is remembered. */
  ttlMs: number;
}

/** What {@link RedeliveryGuard.run} did. */
export type GuardOutcome<T> = { first: true; value: T } | { first: false };

/**
 * Runs work once per key: a repeat while the first run is in flight waits for it, a repeat after it
 * succeeded is skipped, and a repeat after it failed runs again. Bounded by count and age, so it
 * absorbs Slack's redeliveries (retries within minutes) without growing.
 */
export class RedeliveryGuard {
  readonly #done = new Map<string, number>();
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #options: RedeliveryGuardOptions;

  /**
   * @param options - Size and age bounds.
   */
  constructor(options: RedeliveryGuardOptions) {
    this.#options = options;
  }

  /** Keys remembered as handled. */
  get size(): number {
    return this.#done.size;
  }

  /**
   * Runs `work` unless `key` was handled already.
   *
   * @param key - The delivery's identity (an `event_id`, a message id, a `trigger_id`).
   * @param work - Handles the delivery; a rejection leaves the key free for a redelivery.
   * @returns `{ first: true, value }` when this call ran the work, `{ first: false }` for a repeat.
   */
  async run<T>(key: string, work: () => Promise<T>): Promise<GuardOutcome<T>> {
    // Two passes at most: a repeat that waited for a failed first run runs the work itself.
    for (let pass = 0; pass < 2; pass++) {
      if (this.#isDone(key)) return { first: false };
      const running = this.#running.get(key);
      if (running === undefined) break;
      await running.catch(() => {});
    }
    if (this.#isDone(key)) return { first: false };
    const promise = work();
    this.#running.set(key, promise);
    try {
      const value = await promise;
      this.#remember(key);
      return { first: true, value };
    } finally {
      if (this.#running.get(key) === promise) this.#running.delete(key);
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.#done.clear();
    this.#running.clear();
  }

  #isDone(key: string): boolean {
    const expiresAt = this.#done.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > Date.now()) return true;
    this.#done.delete(key);
    return false;
  }

  #remember(key: string): void {
    const now = Date.now();
    this.#done.delete(key);
    this.#done.set(key, now + this.#options.ttlMs);
    // Insertion order is age order: drop expired and surplus entries from the front.
    for (const [oldest, expiresAt] of this.#done) {
      if (this.#done.size <= this.#options.maxEntries && expiresAt > now) break;
      this.#done.delete(oldest);
    }
  }
}
