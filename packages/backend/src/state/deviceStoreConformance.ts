import { afterEach, describe, expect, it } from "vitest";
import type { DeviceStore, PairedDevice } from "./DeviceStore";

/** One fresh backing store for a conformance test, and how to open it again. */
export interface DeviceStoreFixture {
  /** A store on an empty backing. */
  store: DeviceStore;
  /** A new store instance on the same backing (as after a restart). */
  reopen(): Promise<DeviceStore> | DeviceStore;
  /** Releases the backing. */
  cleanup?(): Promise<void> | void;
}

/** Options of {@link runDeviceStoreConformance}. */
export interface DeviceStoreConformanceOptions {
  /** The implementation's name, for the suite's title. */
  name: string;
  /** Makes a store on a fresh, empty backing. */
  create(): Promise<DeviceStoreFixture> | DeviceStoreFixture;
}

/** Two devices, one with every optional field and one with none. */
function sampleDevices(): PairedDevice[] {
  return [
    {
      nodeId: "node-kitchen",
      displayName: "Kitchen tablet",
      publicKeyFingerprint: "a".repeat(64),
      tokenHash: "b".repeat(64),
      pairedAt: 1_700_000_000_000,
      lastSeenAt: 1_700_000_360_000,
    },
    { nodeId: "node-2", publicKeyFingerprint: "c".repeat(64), tokenHash: "d".repeat(64), pairedAt: 1 },
  ];
}

/**
 * The behaviour every {@link DeviceStore} shares, as a vitest suite: an empty store loads no
 * devices, a save loads back equal and in order (also from a reopened store), a save replaces the
 * previous list whole, down to none.
 *
 * @example
 * ```ts
 * runDeviceStoreConformance({ name: "RedisDeviceStore", create: async () => ({ store, reopen }) });
 * ```
 */
export function runDeviceStoreConformance(options: DeviceStoreConformanceOptions): void {
  describe(`DeviceStore conformance: ${options.name}`, () => {
    const fixtures: DeviceStoreFixture[] = [];
    const create = async () => {
      const fixture = await options.create();
      fixtures.push(fixture);
      return fixture;
    };
    afterEach(async () => {
      for (const fixture of fixtures.splice(0)) await fixture.cleanup?.();
    });

    it("loads no devices from an empty store", async () => {
      const { store, reopen } = await create();
      expect(await store.load()).toEqual([]);
      expect(await (await reopen()).load()).toEqual([]);
    });

    it("loads back what it saved, in order, from the same store and from a reopened one", async () => {
      const { store, reopen } = await create();
      const devices = sampleDevices();
      await store.save(devices);
      expect(await store.load()).toEqual(devices);
      expect(await (await reopen()).load()).toEqual(devices);
    });

    it("keeps what it saved apart from later changes to the caller's objects", async () => {
      const { store, reopen } = await create();
      const devices = sampleDevices();
      await store.save(devices);
      devices[0]!.lastSeenAt = 42;
      devices.pop();
      expect(await (await reopen()).load()).toEqual(sampleDevices());
    });

    it("replaces the previous list whole, down to no devices at all", async () => {
      const { store, reopen } = await create();
      const [first, second] = sampleDevices();
      await store.save([first!, second!]);
      await store.save([second!]);
      expect(await (await reopen()).load()).toEqual([second]);
      await store.save([]);
      expect(await (await reopen()).load()).toEqual([]);
      expect(await store.load()).toEqual([]);
    });

    it("keeps the last of several saves made without waiting", async () => {
      const { store, reopen } = await create();
      const [first, second] = sampleDevices();
      await Promise.all([store.save([first!]), store.save([first!, second!]), store.save([second!])]);
      expect(await (await reopen()).load()).toEqual([second]);
    });
  });
}
