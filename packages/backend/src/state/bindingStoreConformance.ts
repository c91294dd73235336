import { Router, type RouterSnapshot } from "@openclaw/router";
import { afterEach, describe, expect, it } from "vitest";
import type { BindingStore } from "./BindingStore";

/** One fresh backing store for a conformance test, and how to open it again. */
export interface BindingStoreFixture {
  /** A store on an empty backing. */
  store: BindingStore;
  /** A new store instance on the same backing (as after a restart). */
  reopen(): Promise<BindingStore> | BindingStore;
  /** Releases the backing. */
  cleanup?(): Promise<void> | void;
}

/** Options of {@link runBindingStoreConformance}. */
export interface BindingStoreConformanceOptions {
  /** The implementation's name, for the suite's title. */
  name: string;
  /** Makes a store on a fresh, empty backing. */
  create(): Promise<BindingStoreFixture> | BindingStoreFixture;
}

/** Two bindings, as the router makes them (ids, priorities and creation times filled in). */
function sampleSnapshot(): RouterSnapshot {
  const router = new Router();
  router.bind({ id: "sys", level: "system", target: { channel: "email", address: "ops@example.com" } });
  router.bind({
    id: "alice",
    level: "account",
    match: { userId: "alice" },
    target: { channel: "signal", address: "+4915112345678" },
  });
  return router.toJSON();
}

/**
 * The behaviour every {@link BindingStore} shares, as a vitest suite: an empty store loads nothing, a
 * save loads back equal (also from a reopened store), a save replaces the previous snapshot whole.
 *
 * @example
 * ```ts
 * runBindingStoreConformance({ name: "RedisBindingStore", create: async () => ({ store, reopen }) });
 * ```
 */
export function runBindingStoreConformance(options: BindingStoreConformanceOptions): void {
  describe(`BindingStore conformance: ${options.name}`, () => {
    const fixtures: BindingStoreFixture[] = [];
    const create = async () => {
      const fixture = await options.create();
      fixtures.push(fixture);
      return fixture;
    };
    afterEach(async () => {
      for (const fixture of fixtures.splice(0)) await fixture.cleanup?.();
    });

    it("loads nothing from an empty store", async () => {
      const { store } = await create();
      expect(await store.load()).toBeUndefined();
    });

    const SNAPSHOT = sampleSnapshot();

    it("loads back what it saved, from the same store and from a reopened one", async () => {
      const { store, reopen } = await create();
      await store.save(SNAPSHOT);
      expect(await store.load()).toEqual(SNAPSHOT);
      expect(await (await reopen()).load()).toEqual(SNAPSHOT);
    });

    it("replaces the previous snapshot whole, down to no bindings at all", async () => {
      const { store, reopen } = await create();
      await store.save(SNAPSHOT);
      const one: RouterSnapshot = { version: 1, bindings: [SNAPSHOT.bindings[1]!] };
      await store.save(one);
      expect(await (await reopen()).load()).toEqual(one);
      await store.save({ version: 1, bindings: [] });
      expect(await (await reopen()).load()).toEqual({ version: 1, bindings: [] });
    });
  });
}
