import type { KeyStore, KeyStoreLimits, KeyStoreOpenOptions } from "@openclaw/backend";
import { RecordLog, type RecordLogStats } from "@openclaw/record-log";

/** One remembered key, as journaled. */
interface Entry<V> {
  id: string;
  /** When it was last remembered (ms since the epoch). */
  at: number;
  value: V;
}

/**
 * The default {@link KeyStore}: an fsync'd {@link RecordLog} (`<name>.log` in the state dir) bounded
 * by count and age, oldest forgotten first. The gateway keeps its idempotency keys and inbound dedupe
 * ids in two of them.
 */
export class FileKeyStore<V> implements KeyStore<V> {
  readonly #log: RecordLog<Entry<V>>;
  readonly #limits: () => KeyStoreLimits;
  readonly #now: () => number;

  private constructor(log: RecordLog<Entry<V>>, limits: () => KeyStoreLimits, now: () => number) {
    this.#log = log;
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Opens `<name>.log` in the state dir (a `KeyStoreFactory`).
   *
   * @param options - Where, which, its limits (read at every write) and its clock.
   * @returns The store, with the keys of earlier runs loaded.
   * @throws A `RecordLogError` when the journal cannot be opened (locked by another process, unreadable).
   */
  static async open<V>(options: KeyStoreOpenOptions): Promise<FileKeyStore<V>> {
    const log = await RecordLog.open<Entry<V>>({ dir: options.stateDir, name: options.name });
    return new FileKeyStore<V>(log, options.limits, options.now ?? Date.now);
  }

  get(key: string): V | undefined {
    const entry = this.#live(key);
    return entry === undefined ? undefined : structuredClone(entry.value);
  }

  has(key: string): boolean {
    return this.#live(key) !== undefined;
  }

  async remember(key: string, value: V): Promise<void> {
    const now = this.#now();
    const write = this.#log.put({ id: key, at: now, value });
    const { maxEntries, ttlMs } = this.#limits();
    const expired = now - ttlMs;
    const forget: string[] = [];
    let over = this.#log.size - maxEntries;
    // The log keeps the order of the last put: the oldest entries come first.
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

  /** Keys held, expired ones not yet forgotten among them. */
  get size(): number {
    return this.#log.size;
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  #live(key: string): Entry<V> | undefined {
    const entry = this.#log.get(key);
    if (entry === undefined || entry.at + this.#limits().ttlMs <= this.#now()) return undefined;
    return entry;
  }
}
