/**
 * @packageDocumentation
 * A conformance suite every {@link TaskStore} implementation runs, so that stores are
 * interchangeable. Needs vitest.
 *
 * @example
 * ```ts
 * import { runTaskStoreConformance } from "@openclaw/task-queue/testing";
 * runTaskStoreConformance({
 *   name: "RedisTaskStore",
 *   open: () => RedisTaskStore.connect(url, { prefix: crypto.randomUUID() }),
 *   reopen: (closed) => RedisTaskStore.connect(url, { prefix: (closed as RedisTaskStore).prefix }),
 * });
 * ```
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TaskStore } from "./stores/TaskStore";
import type { TaskRecord } from "./types";

/** How {@link runTaskStoreConformance} gets stores. */
export interface TaskStoreConformanceOptions {
  /** Shown in the test names. */
  name: string;
  /** Opens a fresh, empty store. */
  open: () => Promise<TaskStore>;
  /** For persistent stores: opens the data of `closed` (already closed) again. Omit for volatile stores. */
  reopen?: (closed: TaskStore) => Promise<TaskStore>;
}

/** A valid record for tests. */
export function sampleTaskRecord(id: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id,
    type: "message.send",
    payload: { recipient: "alice", text: `hello ${id}`, nested: { list: [1, 2, 3] } },
    status: "scheduled",
    schedule: { kind: "once" },
    nextRunAt: 1_000,
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 60_000,
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

/**
 * Registers the shared store tests with vitest.
 *
 * @param options - How to open the store under test.
 */
export function runTaskStoreConformance(options: TaskStoreConformanceOptions): void {
  describe(`TaskStore conformance: ${options.name}`, () => {
    const open: TaskStore[] = [];
    const openStore = async () => {
      const store = await options.open();
      open.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close().catch(() => {});
    });

    it("starts empty and returns what was put", async () => {
      const store = await openStore();
      expect(await store.load()).toEqual([]);
      await store.put(sampleTaskRecord("a"));
      await store.put(
        sampleTaskRecord("b", {
          schedule: { kind: "cron", expression: "0 9 * * *", timezone: "Europe/Berlin" },
        }),
      );
      expect(await store.load()).toEqual([
        sampleTaskRecord("a"),
        sampleTaskRecord("b", {
          schedule: { kind: "cron", expression: "0 9 * * *", timezone: "Europe/Berlin" },
        }),
      ]);
    });

    it("replaces a record put again under the same id", async () => {
      const store = await openStore();
      await store.put(sampleTaskRecord("a"));
      await store.put(sampleTaskRecord("a", { status: "completed", attempts: 1, result: { ok: true } }));
      expect(await store.load()).toEqual([
        sampleTaskRecord("a", { status: "completed", attempts: 1, result: { ok: true } }),
      ]);
    });

    it("deletes records, and deleting an unknown id is harmless", async () => {
      const store = await openStore();
      await store.put(sampleTaskRecord("a"));
      await store.put(sampleTaskRecord("b"));
      await store.delete("a");
      await store.delete("never-existed");
      expect((await store.load()).map((r) => r.id)).toEqual(["b"]);
    });

    it("keeps its own copies: mutating what was put or loaded changes nothing", async () => {
      const store = await openStore();
      const record = sampleTaskRecord("a");
      await store.put(record);
      record.status = "failed";
      const [loaded] = await store.load();
      loaded!.attempts = 99;
      expect(await store.load()).toEqual([sampleTaskRecord("a")]);
    });

    it("lands every one of many concurrent writes", async () => {
      const store = await openStore();
      await Promise.all(Array.from({ length: 500 }, (_, i) => store.put(sampleTaskRecord(`t${i}`))));
      await Promise.all(Array.from({ length: 250 }, (_, i) => store.delete(`t${i * 2}`)));
      const ids = (await store.load()).map((r) => r.id).sort();
      expect(ids).toEqual(Array.from({ length: 250 }, (_, i) => `t${i * 2 + 1}`).sort());
    });

    it("refuses use after close with a typed error", async () => {
      const store = await openStore();
      await store.close();
      await expect(Promise.resolve().then(() => store.put(sampleTaskRecord("a")))).rejects.toMatchObject({
        code: "SHUTTING_DOWN",
      });
      await expect(Promise.resolve().then(() => store.load())).rejects.toMatchObject({
        code: "SHUTTING_DOWN",
      });
    });

    const reopen = options.reopen;
    if (reopen !== undefined) {
      it("returns the same records after close and reopen", async () => {
        const store = await openStore();
        await store.put(sampleTaskRecord("a"));
        await store.put(sampleTaskRecord("b"));
        await store.put(sampleTaskRecord("a", { status: "running", attempts: 1 }));
        await store.delete("b");
        await store.close();
        const reopened = await reopen(store);
        open.push(reopened);
        expect(await reopened.load()).toEqual([sampleTaskRecord("a", { status: "running", attempts: 1 })]);
      });
    }
  });
}
