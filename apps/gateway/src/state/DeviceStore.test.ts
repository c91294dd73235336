import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDeviceStoreConformance } from "@openclaw/backend/testing";
import { ProtocolError } from "@openclaw/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { DEVICES_FILE, FileDeviceStore } from "./FileDeviceStore";
import { StateFileError } from "./files";

runDeviceStoreConformance({
  name: "FileDeviceStore",
  async create() {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-devices-"));
    return {
      store: new FileDeviceStore(dir),
      reopen: () => new FileDeviceStore(dir),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe("FileDeviceStore", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-devices-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["not JSON", "{ this is not json", "is not valid JSON"],
    ["no list", JSON.stringify({ devices: {} }), "does not hold a list of paired devices"],
    ["a device without a token hash", JSON.stringify({ devices: [{ nodeId: "n" }] }), "paired devices"],
    ["null", "null", "does not hold a list of paired devices"],
  ])("refuses a file holding %s with a StateFileError naming it", async (_what, text, problem) => {
    const dir = await tempDir();
    await writeFile(join(dir, DEVICES_FILE), text);
    const error = await new FileDeviceStore(dir).load().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StateFileError);
    expect((error as Error).message).toContain(join(dir, DEVICES_FILE));
    expect((error as Error).message).toContain(problem);
  });

  it("answers a failed write with UNAVAILABLE state_write_failed naming the file", async () => {
    const dir = await tempDir();
    const state = join(dir, "state");
    await writeFile(state, "a file where the state dir should be"); // fails for root too
    const device = { nodeId: "n", publicKeyFingerprint: "f", tokenHash: "h", pairedAt: 1 };
    const error = await new FileDeviceStore(state).save([device]).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "state_write_failed", file: DEVICES_FILE, retryable: true },
    });
  });
});
