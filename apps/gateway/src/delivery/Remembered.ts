import { RecordLog, type RecordLogStats } from "@openclaw/record-log";

interface Entry<V> {
  id: string;
  at: number;
  value: V;
}

/**
 * Keys remembered durably for a while: a {@link RecordLog} bounded by count and age, oldest
 * forgotten first. The basis of inbound dedupe and of idempotency keys.
 */
export class Remembered<V> {
  readonly #log: RecordLog<Entry<V>>;

  private constructor(
    log: RecordLog<Entry<V>>,
    private readonly limits: () => { maxEntries: number; ttlMs: number },
  ) {
    this.#log = log;
  }

  /**
   * Opens `<name>.log` in the state dir.
   *
   * @param limits - Read at every write, so config reloads apply.
   */
  static async open<V>(
    dir: string,
    name: string,
    limits: () => { maxEntries: number; ttlMs: number },
  ): Promise<Remembered<V>> {
    return new Remembered<V>(await RecordLog.open<Entry<V>>({ dir, name }), limits);
  }

  /** The value remembered for `key`, when it is younger than the TTL. */
  get(key: string): V | undefined {
    const entry = this.#log.get(key);
    if (entry === undefined || entry.at + this.limits().ttlMs <= Date.now()) return undefined;
    return entry.value;
  }

  /** Whether `key` is remembered (and younger than the TTL). */
  has(key: string): boolean {
    const entry = this.#log.get(key);
    return entry !== undefined && entry.at + this.limits().ttlMs > Date.now();
  }

  /**
   * Remembers `key` (visible to `has`/`get` at once) and resolves once it is on disk. Forgets the
   * oldest keys beyond the count and every key past the TTL.
   */
  async remember(key: string, value: V): Promise<void> {
    const write = this.#log.put({ id: key, at: Date.now(), value });
    const { maxEntries, ttlMs } = this.limits();
    const expired = Date.now() - ttlMs;
    const forget: string[] = [];
    let over = this.#log.size - maxEntries;
    // The log keeps insertion order: the oldest entries come first.
    for (const entry of this.#log.values()) {
      if (over <= 0 && entry.at > expired) break;
      if (entry.id === key) continue;
      forget.push(entry.id);
      over--;
    }
    await Promise.all([write, ...forget.map((id) => this.#log.delete(id))]);
  }

  /** Facts about the journal (skipped lines among them). */
  get journal(): RecordLogStats {
    return this.#log.stats;
  }

  get size(): number {
    return this.#log.size;
  }

  close(): Promise<void> {
    return this.#log.close();
  }
}
