import { afterEach, describe, expect, it } from "vitest";
import type { KeyStore, KeyStoreLimits } from "./KeyStore";

/** What the suite opens a store with: its limits (read at every write) and a clock it controls. */
export interface KeyStoreConformanceOpenOptions {
  /** The limits in force. */
  limits(): KeyStoreLimits;
  /** The clock (ms since the epoch); the store must read time only from it. */
  now(): number;
}

/** One fresh backing for a conformance test. */
export interface KeyStoreFixture {
  /**
   * Opens a store on this fixture's backing: empty the first time, holding what the closed earlier
   * store kept every later time (as after a restart). The suite closes one before opening the next.
   */
  open(options: KeyStoreConformanceOpenOptions): Promise<KeyStore<unknown>>;
  /** Releases the backing. */
  cleanup?(): Promise<void> | void;
}

/** Options of {@link runKeyStoreConformance}. */
export interface KeyStoreConformanceOptions {
  /** The implementation's name, for the suite's title. */
  name: string;
  /** Makes a fresh, empty backing. */
  create(): Promise<KeyStoreFixture> | KeyStoreFixture;
}

/** An arbitrary start time for the suite's clock. */
const T0 = 1_700_000_000_000;

/**
 * The behaviour every {@link KeyStore} shares, as a vitest suite: keys visible at once and after a
 * reopen, values copied, refreshing, the count bound (oldest first, also for writes not awaited), the
 * TTL on an injected clock (no waiting), expired keys forgotten for good, limits read at every write.
 *
 * @example
 * ```ts
 * runKeyStoreConformance({
 *   name: "RedisKeyStore",
 *   create: () => {
 *     const prefix = crypto.randomUUID();
 *     return { open: ({ limits, now }) => RedisKeyStore.open(redis, { prefix, limits, now }) };
 *   },
 * });
 * ```
 */
export function runKeyStoreConformance(options: KeyStoreConformanceOptions): void {
  describe(`KeyStore conformance: ${options.name}`, () => {
    const open: KeyStore<unknown>[] = [];
    const fixtures: KeyStoreFixture[] = [];
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
      for (const fixture of fixtures.splice(0)) await fixture.cleanup?.();
    });

    /** A fixture with a clock and limits the test sets; `reopen` closes the current store first. */
    const setup = async (initial: KeyStoreLimits = { maxEntries: 100, ttlMs: 60_000 }) => {
      const fixture = await options.create();
      fixtures.push(fixture);
      const state = { now: T0, limits: { ...initial } };
      const openStore = async () => {
        const store = await fixture.open({ limits: () => state.limits, now: () => state.now });
        open.push(store);
        return store;
      };
      let store = await openStore();
      return {
        state,
        get store() {
          return store;
        },
        async reopen() {
          await store.close();
          open.splice(open.indexOf(store), 1);
          store = await openStore();
          return store;
        },
      };
    };

    it("knows no key when empty", async () => {
      const { store } = await setup();
      expect(store.has("nope")).toBe(false);
      expect(store.get("nope")).toBeUndefined();
    });

    it("knows a key as soon as `remember` is called, and after it resolves", async () => {
      const { store } = await setup();
      const stored = store.remember("k", { status: "sent", id: 7 });
      expect(store.has("k")).toBe(true);
      expect(store.get("k")).toEqual({ status: "sent", id: 7 });
      await stored;
      expect(store.has("k")).toBe(true);
      expect(store.get("k")).toEqual({ status: "sent", id: 7 });
      expect(store.has("K")).toBe(false);
    });

    it("keeps keys and values across a reopen, odd keys and nested values included", async () => {
      const h = await setup();
      const entries: [string, unknown][] = [
        ["message.send\u0000key-1", { messageId: "m1", nested: { list: [1, "two", null] } }],
        ["telegram\u000042", 1],
        ["ünïcødé 🔑", "text"],
        ["", null],
      ];
      for (const [key, value] of entries) await h.store.remember(key, value);
      const reopened = await h.reopen();
      for (const [key, value] of entries) {
        expect(reopened.has(key), key).toBe(true);
        expect(reopened.get(key), key).toEqual(value);
      }
    });

    it("copies values: changing the caller's object later changes nothing stored", async () => {
      const h = await setup();
      const value = { count: 1 };
      await h.store.remember("k", value);
      value.count = 2;
      expect(h.store.get("k")).toEqual({ count: 1 });
      expect((await h.reopen()).get("k")).toEqual({ count: 1 });
    });

    it("replaces the value of a key remembered again", async () => {
      const h = await setup();
      await h.store.remember("k", "first");
      await h.store.remember("k", "second");
      expect(h.store.get("k")).toBe("second");
      expect((await h.reopen()).get("k")).toBe("second");
    });

    it("forgets the oldest keys beyond maxEntries, also after a reopen", async () => {
      const h = await setup({ maxEntries: 3, ttlMs: 60_000 });
      for (const key of ["k1", "k2", "k3", "k4", "k5"]) {
        h.state.now += 1;
        await h.store.remember(key, key);
      }
      const kept = (store: KeyStore<unknown>) => ["k1", "k2", "k3", "k4", "k5"].filter((k) => store.has(k));
      expect(kept(h.store)).toEqual(["k3", "k4", "k5"]);
      expect(kept(await h.reopen())).toEqual(["k3", "k4", "k5"]);
    });

    it("counts a key remembered again as the newest", async () => {
      const h = await setup({ maxEntries: 3, ttlMs: 60_000 });
      for (const key of ["a", "b", "c", "a", "d"]) {
        h.state.now += 1;
        await h.store.remember(key, key);
      }
      expect(["a", "b", "c", "d"].filter((k) => h.store.has(k))).toEqual(["a", "c", "d"]);
    });

    it("holds the count bound for many writes not awaited one by one", async () => {
      const h = await setup({ maxEntries: 5, ttlMs: 60_000 });
      const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
      await Promise.all(keys.map((key) => h.store.remember(key, key)));
      expect(keys.filter((k) => h.store.has(k))).toEqual(keys.slice(-5));
      const reopened = await h.reopen();
      expect(keys.filter((k) => reopened.has(k))).toEqual(keys.slice(-5));
    });

    it("forgets a key once it is ttlMs old, on the store's clock, also after a reopen", async () => {
      const h = await setup({ maxEntries: 100, ttlMs: 1000 });
      await h.store.remember("k", "v");
      h.state.now = T0 + 999;
      expect(h.store.has("k")).toBe(true);
      expect(h.store.get("k")).toBe("v");
      expect((await h.reopen()).has("k")).toBe(true);
      h.state.now = T0 + 1000;
      expect(h.store.has("k")).toBe(false);
      expect(h.store.get("k")).toBeUndefined();
      expect((await h.reopen()).has("k")).toBe(false);
    });

    it("restarts a key's age when it is remembered again", async () => {
      const h = await setup({ maxEntries: 100, ttlMs: 1000 });
      await h.store.remember("k", "v");
      h.state.now = T0 + 800;
      await h.store.remember("k", "v");
      h.state.now = T0 + 1500;
      expect(h.store.has("k")).toBe(true);
      h.state.now = T0 + 1800;
      expect(h.store.has("k")).toBe(false);
    });

    it("drops expired keys for good: a longer TTL later does not bring them back", async () => {
      const h = await setup({ maxEntries: 100, ttlMs: 1000 });
      await h.store.remember("old", 1);
      h.state.now = T0 + 5000;
      await h.store.remember("new", 2);
      h.state.limits = { maxEntries: 100, ttlMs: 3_600_000 };
      const reopened = await h.reopen();
      expect(reopened.has("old")).toBe(false);
      expect(reopened.get("new")).toBe(2);
    });

    it("reads the limits at every write, so a lower maxEntries applies at the next one", async () => {
      const h = await setup({ maxEntries: 10, ttlMs: 60_000 });
      for (const key of ["a", "b", "c", "d"]) {
        h.state.now += 1;
        await h.store.remember(key, key);
      }
      h.state.limits = { maxEntries: 2, ttlMs: 60_000 };
      h.state.now += 1;
      await h.store.remember("e", "e");
      expect(["a", "b", "c", "d", "e"].filter((k) => h.store.has(k))).toEqual(["d", "e"]);
    });

    it("closes more than once without failing", async () => {
      const h = await setup();
      await h.store.remember("k", 1);
      await h.store.close();
      await expect(h.store.close()).resolves.toBeUndefined();
    });
  });
}
