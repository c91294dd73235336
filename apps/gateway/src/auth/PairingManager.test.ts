import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeviceStore, PairedDevice } from "@openclaw/backend";
import { ProtocolError } from "@openclaw/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { FileDeviceStore } from "../state/FileDeviceStore";
import { PairingManager } from "./PairingManager";

const LIMITS = { codeTtlMs: 60_000, maxFailedAttemptsPerMinute: 5, maxPending: 10, maxPendingPerSource: 3 };
const CLIENT = { name: "test-node", version: "1.0.0", platform: "linux" } as const;

/** A store that fails its saves while `failing` is set, and keeps the last good save. */
class FlakyDeviceStore implements DeviceStore {
  failing = false;
  saved: PairedDevice[] = [];

  async load(): Promise<PairedDevice[]> {
    return structuredClone(this.saved);
  }

  async save(devices: readonly PairedDevice[]): Promise<void> {
    if (this.failing) throw new ProtocolError("UNAVAILABLE", "the store is down");
    this.saved = structuredClone([...devices]);
  }
}

function startPairing(pairing: PairingManager, code: string, nodeId: string): void {
  pairing.start({ code, publicKey: `key-${nodeId}`, nodeId }, CLIENT, {
    connectionId: nodeId,
    source: "1.2.3.4",
  });
}

describe("PairingManager on a DeviceStore", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("stores approvals and revocations, and a new manager on the same store knows them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-pairing-"));
    dirs.push(dir);
    const pairing = new PairingManager({ ...LIMITS, store: new FileDeviceStore(dir) });
    await pairing.load();
    startPairing(pairing, "111111", "node-a");
    startPairing(pairing, "222222", "node-b");
    const a = await pairing.approve("111111", "admin");
    const b = await pairing.approve("222222", "admin");
    expect(await pairing.revoke("node-b")).toBe(true);

    const restarted = new PairingManager({ ...LIMITS, store: new FileDeviceStore(dir) });
    await restarted.load();
    expect(restarted.authenticate(a.deviceToken)).toEqual({ nodeId: "node-a" });
    expect(restarted.authenticate(b.deviceToken)).toBeUndefined();
    expect(restarted.devices(() => false).map((device) => device.nodeId)).toEqual(["node-a"]);
  });

  it("undoes an approval the store could not save: the request waits again and the admin may retry", async () => {
    const store = new FlakyDeviceStore();
    const pairing = new PairingManager({ ...LIMITS, store });
    await pairing.load();
    startPairing(pairing, "333333", "node-c");
    store.failing = true;
    await expect(pairing.approve("333333", "admin")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(pairing.devices(() => false)).toEqual([]);
    expect(pairing.list().map((request) => request.code)).toEqual(["333333"]);
    store.failing = false;
    const approved = await pairing.approve("333333", "admin");
    expect(pairing.authenticate(approved.deviceToken)).toEqual({ nodeId: "node-c" });
    expect(store.saved.map((device) => device.nodeId)).toEqual(["node-c"]);
  });

  it("undoes a revocation the store could not save: the token still works", async () => {
    const store = new FlakyDeviceStore();
    const pairing = new PairingManager({ ...LIMITS, store });
    await pairing.load();
    startPairing(pairing, "444444", "node-d");
    const { deviceToken } = await pairing.approve("444444", "admin");
    store.failing = true;
    await expect(pairing.revoke("node-d")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(pairing.authenticate(deviceToken)).toEqual({ nodeId: "node-d" });
    expect(store.saved.map((device) => device.nodeId)).toEqual(["node-d"]);
  });
});
