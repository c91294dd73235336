import { afterEach, describe, expect, it } from "vitest";
import type { RecordStore } from "./RecordStore";

/** A record for the suite: an id and some JSON. */
export interface ConformanceRecord {
  id: string;
  /** Some payload, nested, changed between versions. */
  body: { text: string; n: number; tags: string[] };
}

/** One fresh backing for a conformance test. */
export interface RecordStoreFixture {
  /**
   * Opens a store on this fixture's backing: empty the first time, holding what the closed earlier
   * store kept every later time (as after a restart). The suite closes one before opening the next.
   */
  open(): Promise<RecordStore<ConformanceRecord>>;
  /** Releases the backing. */
  cleanup?(): Promise<void> | void;
}

/** Options of {@link runRecordStoreConformance}. */
export interface RecordStoreConformanceOptions {
  /** The implementation's name, for the suite's title. */
  name: string;
  /** Makes a fresh, empty backing. */
  create(): Promise<RecordStoreFixture> | RecordStoreFixture;
}

const record = (id: string, n = 1): ConformanceRecord => ({
  id,
  body: { text: `${id} ünïcødé 🚀 "quoted"\n`, n, tags: ["a", id] },
});
const ids = (store: RecordStore<ConformanceRecord>) => [...store.values()].map((r) => r.id);

/**
 * The behaviour every {@link RecordStore} shares, as a vitest suite: records visible at once and
 * after a reopen, in the order they were last put; copies taken on put; the store's own records
 * handed out (one object per record version); deletes; writes not awaited one by one.
 *
 * @example
 * ```ts
 * runRecordStoreConformance({
 *   name: "RedisRecordStore",
 *   create: () => {
 *     const name = crypto.randomUUID();
 *     return { open: () => RedisRecordStore.open(redis, name) };
 *   },
 * });
 * ```
 */
export function runRecordStoreConformance(options: RecordStoreConformanceOptions): void {
  describe(`RecordStore conformance: ${options.name}`, () => {
    const open: RecordStore<ConformanceRecord>[] = [];
    const fixtures: RecordStoreFixture[] = [];
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
      for (const fixture of fixtures.splice(0)) await fixture.cleanup?.();
    });

    const setup = async () => {
      const fixture = await options.create();
      fixtures.push(fixture);
      const openStore = async () => {
        const store = await fixture.open();
        open.push(store);
        return store;
      };
      let store = await openStore();
      return {
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

    it("holds nothing when empty", async () => {
      const { store } = await setup();
      expect(store.size).toBe(0);
      expect(ids(store)).toEqual([]);
      expect(store.get("nope")).toBeUndefined();
    });

    it("shows a put at once and after it resolves, and keeps it across a reopen", async () => {
      const h = await setup();
      const stored = h.store.put(record("r1"));
      expect(h.store.get("r1")).toEqual(record("r1"));
      expect(h.store.size).toBe(1);
      await stored;
      expect((await h.reopen()).get("r1")).toEqual(record("r1"));
    });

    it("copies a record on put: changing the caller's object later changes nothing stored", async () => {
      const h = await setup();
      const mine = record("r1");
      await h.store.put(mine);
      mine.body.tags.push("changed");
      mine.body.n = 99;
      expect(h.store.get("r1")).toEqual(record("r1"));
      expect((await h.reopen()).get("r1")).toEqual(record("r1"));
    });

    it("hands out its own record: the same object from get and values until it is put again", async () => {
      const h = await setup();
      await h.store.put(record("r1"));
      await h.store.put(record("r2"));
      const held = h.store.get("r1");
      expect(h.store.get("r1")).toBe(held);
      expect([...h.store.values()].find((r) => r.id === "r1")).toBe(held);
      await h.store.put(record("r1", 2));
      expect(h.store.get("r1")).not.toBe(held);
      expect(h.store.get("r1")).toEqual(record("r1", 2));
    });

    it("orders records by their last put, also after a reopen", async () => {
      const h = await setup();
      for (const id of ["a", "b", "c"]) await h.store.put(record(id));
      await h.store.put(record("a", 2));
      expect(ids(h.store)).toEqual(["b", "c", "a"]);
      const reopened = await h.reopen();
      expect(ids(reopened)).toEqual(["b", "c", "a"]);
      expect(reopened.get("a")).toEqual(record("a", 2));
    });

    it("deletes at once and for good; deleting an unknown id does nothing", async () => {
      const h = await setup();
      for (const id of ["a", "b", "c"]) await h.store.put(record(id));
      const deleted = h.store.delete("b");
      expect(h.store.get("b")).toBeUndefined();
      expect(h.store.size).toBe(2);
      await deleted;
      await h.store.delete("never-there");
      const reopened = await h.reopen();
      expect(ids(reopened)).toEqual(["a", "c"]);
      expect(reopened.size).toBe(2);
    });

    it("keeps the outcome of many puts and deletes not awaited one by one", async () => {
      const h = await setup();
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) writes.push(h.store.put(record(`r${i}`, i)));
      for (let i = 0; i < 50; i += 2) writes.push(h.store.delete(`r${i}`));
      for (let i = 1; i < 10; i += 2) writes.push(h.store.put(record(`r${i}`, 1000 + i)));
      await Promise.all(writes);
      const expected = [
        ...Array.from({ length: 25 }, (_, k) => `r${2 * k + 1}`).filter((id) => Number(id.slice(1)) >= 10),
        ...["r1", "r3", "r5", "r7", "r9"],
      ];
      expect(ids(h.store)).toEqual(expected);
      const reopened = await h.reopen();
      expect(ids(reopened)).toEqual(expected);
      expect(reopened.get("r3")).toEqual(record("r3", 1003));
    });

    it("closes more than once without failing", async () => {
      const h = await setup();
      await h.store.put(record("r1"));
      await h.store.close();
      await expect(h.store.close()).resolves.toBeUndefined();
    });
  });
}
