import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBindingStoreConformance } from "@openclaw/backend/testing";
import { describe, expect, it } from "vitest";
import { BINDINGS_FILE, FileBindingStore } from "./FileBindingStore";
import { StateFileError } from "./files";

runBindingStoreConformance({
  name: "FileBindingStore",
  async create() {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-bindings-"));
    return {
      store: new FileBindingStore(dir),
      reopen: () => new FileBindingStore(dir),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe("FileBindingStore", () => {
  it("refuses a file that holds no valid bindings with a StateFileError naming it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-bindings-"));
    try {
      await writeFile(
        join(dir, BINDINGS_FILE),
        JSON.stringify({ version: 1, bindings: [{ level: "nope" }] }),
      );
      const error = await new FileBindingStore(dir).load().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StateFileError);
      expect((error as Error).message).toContain(BINDINGS_FILE);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
