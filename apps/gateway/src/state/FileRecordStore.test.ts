import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runRecordStoreConformance } from "@openclaw/backend/testing";
import { describe, expect, it } from "vitest";
import { FileRecordStore } from "./FileRecordStore";

runRecordStoreConformance({
  name: "FileRecordStore",
  async create() {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-records-"));
    return {
      open: () => FileRecordStore.open({ stateDir: dir, name: "records" }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe("FileRecordStore", () => {
  it("journals to <name>.log in the state dir and reports lines it skipped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-records-"));
    try {
      await writeFile(join(dir, "deliveries.log"), "garbage\n");
      const store = await FileRecordStore.open<{ id: string; text: string }>({
        stateDir: dir,
        name: "deliveries",
      });
      expect(store.journal).toMatchObject({ corruptLines: 1, corruptOffsets: [0] });
      await store.put({ id: "d1", text: "hello" });
      await store.close();
      expect(await readFile(join(dir, "deliveries.log"), "utf8")).toContain('"text":"hello"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
