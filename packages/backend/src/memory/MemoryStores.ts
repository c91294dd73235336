import type { RouterSnapshot } from "@openclaw/router";
import type { KeyStore, KeyStoreLimits } from "../delivery/KeyStore";
import type { BindingStore } from "../state/BindingStore";
import type { DeviceStore, PairedDevice } from "../state/DeviceStore";
import type { RecordStore } from "../state/RecordStore";

/**
 * A {@link DeviceStore} in memory, for tests and embedders that keep nothing on disk. Its backing
 * (an object you may share) outlives the store: a store made again on the same backing is a restart.
 */
export class MemoryDeviceStore implements DeviceStore {
  /** @param backing - Where the devices are kept; a new, empty one by default. */
  constructor(readonly backing: { devices: PairedDevice[] } = { devices: [] }) {}

  async load(): Promise<PairedDevice[]> {
    return structuredClone(this.backing.devices);
  }

  async save(devices: readonly PairedDevice[]): Promise<void> {
    this.backing.devices = structuredClone([...devices]);
  }
}

/**
 * A {@link BindingStore} in memory, for tests and embedders that keep nothing on disk. Its backing
 * outlives the store: a store made again on the same backing is a restart.
 */
export class MemoryBindingStore implements BindingStore {
  /** @param backing - Where the snapshot is kept; a new, empty one by default. */
  constructor(readonly backing: { snapshot?: RouterSnapshot | undefined } = {}) {}

  async load(): Promise<RouterSnapshot | undefined> {
    return this.backing.snapshot === undefined ? undefined : structuredClone(this.backing.snapshot);
  }

  async save(snapshot: RouterSnapshot): Promise<void> {
    this.backing.snapshot = structuredClone(snapshot);
  }
}

/** The backing of a {@link MemoryKeyStore}: each key's value and when it was remembered, oldest first. */
export type MemoryKeyBacking = Map<string, { at: number; value: unknown }>;

/**
 * A {@link KeyStore} in memory, bounded like any key store (`maxEntries`, `ttlMs`, oldest dropped
 * first). Its backing outlives the store: a store made again on the same backing is a restart.
 */
export class MemoryKeyStore<V> implements KeyStore<V> {
  /**
   * @param backing - Where the keys are kept (see {@link MemoryKeyBacking}).
   * @param limits - The limits in force, read at every use.
   * @param now - The clock.
   */
  constructor(
    readonly backing: MemoryKeyBacking,
    private readonly limits: () => KeyStoreLimits,
    private readonly now: () => number = Date.now,
  ) {}

  has(key: string): boolean {
    return this.#live(key) !== undefined;
  }

  get(key: string): V | undefined {
    const entry = this.#live(key);
    return entry === undefined ? undefined : (structuredClone(entry.value) as V);
  }

  async remember(key: string, value: V): Promise<void> {
    const now = this.now();
    this.backing.delete(key);
    this.backing.set(key, { at: now, value: structuredClone(value) });
    const { maxEntries, ttlMs } = this.limits();
    for (const [other, entry] of this.backing) {
      if (this.backing.size <= maxEntries && entry.at > now - ttlMs) break;
      if (other !== key) this.backing.delete(other);
    }
  }

  async close(): Promise<void> {}

  #live(key: string) {
    const entry = this.backing.get(key);
    return entry === undefined || entry.at + this.limits().ttlMs <= this.now() ? undefined : entry;
  }
}

/**
 * A {@link RecordStore} in memory, for tests and embedders that keep nothing on disk. Its backing
 * (a map by id, least recently put first) outlives the store: a store made again on the same backing
 * is a restart.
 */
export class MemoryRecordStore<R extends { id: string }> implements RecordStore<R> {
  /** @param backing - Where the records are kept; a new, empty map by default. */
  constructor(readonly backing: Map<string, R> = new Map()) {}

  get(id: string): R | undefined {
    return this.backing.get(id);
  }

  values(): IterableIterator<R> {
    return this.backing.values();
  }

  get size(): number {
    return this.backing.size;
  }

  async put(record: R): Promise<void> {
    this.backing.delete(record.id);
    this.backing.set(record.id, structuredClone(record));
  }

  async delete(id: string): Promise<void> {
    this.backing.delete(id);
  }

  async close(): Promise<void> {}
}
