/**
 * A bounded set of recently seen ids: the oldest is forgotten when it is full. The plugin uses it
 * to drop events the daemon delivers again (after a reconnect with `Last-Event-ID`, or a replay of
 * its buffer after a restart).
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  readonly #capacity: number;

  /**
   * @param capacity - How many ids to remember (at least 1).
   */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  /** Whether `id` was added and not forgotten since. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Remembers `id`, forgetting the oldest id when full. */
  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.values().next().value as string;
      this.#ids.delete(oldest);
    }
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#ids.size;
  }
}
