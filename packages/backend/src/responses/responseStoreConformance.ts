import { afterEach, describe, expect, it } from "vitest";
import {
  RESPONSE_STORE_DEFAULTS,
  type ResponseStore,
  type ResponseStoreOptions,
  type StoredResponse,
  storedBytes,
} from "./ResponseStore";

/** What the suite makes a store with: its limits (read at every write) and a clock it controls. */
export interface ResponseStoreConformanceOpenOptions {
  /** The limits in force. */
  limits(): ResponseStoreOptions;
  /** The clock (ms since the epoch); the store must read the age of entries only from it. */
  now(): number;
}

/** Options of {@link runResponseStoreConformance}. */
export interface ResponseStoreConformanceOptions {
  /** The implementation's name, for the suite's title. */
  name: string;
  /** Makes a store on a fresh, empty backing. */
  create(options: ResponseStoreConformanceOpenOptions): Promise<ResponseStore> | ResponseStore;
}

/** An arbitrary start time for the suite's clock. */
const T0 = 1_700_000_000_000;

/** An entry of about `size` bytes whose output holds the items `items`. */
function entry(tag: string, size = 100, items: string[] = []): StoredResponse {
  const response = JSON.stringify({ id: tag, pad: "x".repeat(Math.max(0, size - 30 - tag.length)) });
  return { response, messages: "[]", items };
}

/**
 * The behaviour every {@link ResponseStore} shares, as a vitest suite: entries readable at once by
 * their principal only (items too), the count bound, the byte bounds in total and per principal
 * (oldest first), entries over a byte bound not stored, the TTL on an injected clock (no waiting),
 * a replaced id counted once, limits read at every write.
 *
 * @example
 * ```ts
 * runResponseStoreConformance({
 *   name: "RedisResponseStore",
 *   create: ({ limits, now }) => new RedisResponseStore(redis, { namespace: randomUUID(), limits, now }),
 * });
 * ```
 */
export function runResponseStoreConformance(options: ResponseStoreConformanceOptions): void {
  describe(`ResponseStore conformance: ${options.name}`, () => {
    const made: ResponseStore[] = [];
    afterEach(async () => {
      for (const store of made.splice(0)) await store.close();
    });

    const setup = async (initial: Partial<ResponseStoreOptions> = {}) => {
      const limits: ResponseStoreOptions = { ...RESPONSE_STORE_DEFAULTS, ...initial };
      const clock = { now: T0 };
      const store = await options.create({ limits: () => limits, now: () => clock.now });
      made.push(store);
      /** The ids among `ids` that `principal` still reads. */
      const live = async (principal: string, ids: string[]) => {
        const found: string[] = [];
        for (const id of ids) if ((await store.get(principal, id)) !== undefined) found.push(id);
        return found;
      };
      return { store, limits, clock, live };
    };

    it("reads an entry and its items back for its principal only", async () => {
      const { store } = await setup();
      const stored = entry("r1", 100, ["msg_1", "fc_1"]);
      await store.put("alice", "r1", stored);
      expect(await store.get("alice", "r1")).toEqual(stored);
      expect(await store.findItem("alice", "msg_1")).toBe("r1");
      expect(await store.findItem("alice", "fc_1")).toBe("r1");
      expect(await store.get("bob", "r1")).toBeUndefined();
      expect(await store.findItem("bob", "msg_1")).toBeUndefined();
      expect(await store.get("alice", "r2")).toBeUndefined();
      expect(await store.findItem("alice", "msg_2")).toBeUndefined();
    });

    it("drops the oldest entries beyond maxStored", async () => {
      const { store, live } = await setup({ maxStored: 3 });
      const ids = ["a", "b", "c", "d", "e"];
      for (const [i, id] of ids.entries()) await store.put(i % 2 === 0 ? "alice" : "bob", id, entry(id));
      expect([...(await live("alice", ids)), ...(await live("bob", ids))].sort()).toEqual(["c", "d", "e"]);
    });

    it("keeps the bytes of all principals under maxStoredBytes, the oldest dropped first", async () => {
      const size = storedBytes(entry("r00", 1000, ["item-r00"]));
      const { store, live } = await setup({
        maxStoredBytes: size * 4 + 10,
        maxStoredBytesPerPrincipal: size * 100,
      });
      const ids = Array.from({ length: 12 }, (_, i) => `r${String(i).padStart(2, "0")}`);
      for (const [i, id] of ids.entries()) await store.put(`p${i % 3}`, id, entry(id, 1000, [`item-${id}`]));
      const kept = (await Promise.all(["p0", "p1", "p2"].map((p) => live(p, ids)))).flat().sort();
      expect(kept).toEqual(ids.slice(-4));
      expect(await store.findItem("p0", "item-r00")).toBeUndefined();
    });

    it("keeps each principal's bytes under maxStoredBytesPerPrincipal without touching the others'", async () => {
      const size = storedBytes(entry("r00", 1000));
      const { store, live } = await setup({
        maxStoredBytes: size * 100,
        maxStoredBytesPerPrincipal: size * 2,
      });
      await store.put("bob", "b1", entry("b1", 1000));
      const ids = ["a1", "a2", "a3", "a4"];
      for (const id of ids) await store.put("alice", id, entry(id, 1000));
      expect(await live("alice", ids)).toEqual(["a3", "a4"]);
      expect(await live("bob", ["b1"])).toEqual(["b1"]);
    });

    it("does not store an entry larger than a byte bound, and keeps what it holds", async () => {
      const { store, live } = await setup({ maxStoredBytes: 5000, maxStoredBytesPerPrincipal: 3000 });
      await store.put("alice", "small", entry("small"));
      await store.put("alice", "big", entry("big", 4000, ["item-big"]));
      expect(await live("alice", ["small", "big"])).toEqual(["small"]);
      expect(await store.findItem("alice", "item-big")).toBeUndefined();
    });

    it("forgets entries past ttlMs on its clock, and they no longer count against the bounds", async () => {
      const size = storedBytes(entry("r1", 1000));
      const { store, clock, live } = await setup({
        ttlMs: 60_000,
        maxStoredBytes: size * 2,
        maxStoredBytesPerPrincipal: size * 2,
      });
      await store.put("alice", "r1", entry("r1", 1000, ["item-1"]));
      clock.now += 30_000;
      await store.put("alice", "r2", entry("r2", 1000));
      clock.now += 30_000; // r1 is 60 s old: gone; r2 is 30 s old
      expect(await live("alice", ["r1", "r2"])).toEqual(["r2"]);
      expect(await store.findItem("alice", "item-1")).toBeUndefined();
      await store.put("alice", "r3", entry("r3", 1000));
      expect(await live("alice", ["r2", "r3"])).toEqual(["r2", "r3"]);
    });

    it("counts an id stored again once, and reads the limits at every write", async () => {
      const size = storedBytes(entry("r1", 1000));
      const { store, limits, live } = await setup({
        maxStoredBytes: size * 3,
        maxStoredBytesPerPrincipal: size * 3,
      });
      for (let i = 0; i < 5; i++) await store.put("alice", "same", entry("r1", 1000));
      await store.put("alice", "r2", entry("r2", 1000));
      await store.put("alice", "r3", entry("r3", 1000));
      expect(await live("alice", ["same", "r2", "r3"])).toEqual(["same", "r2", "r3"]);
      limits.maxStoredBytes = size * 2;
      await store.put("alice", "r4", entry("r4", 1000));
      expect(await live("alice", ["same", "r2", "r3", "r4"])).toEqual(["r3", "r4"]);
    });
  });
}
