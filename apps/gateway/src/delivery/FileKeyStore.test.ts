import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runKeyStoreConformance } from "@openclaw/backend/testing";
import { describe, expect, it } from "vitest";
import { FileKeyStore } from "./FileKeyStore";

runKeyStoreConformance({
  name: "FileKeyStore",
  async create() {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-keys-"));
    return {
      open: ({ limits, now }) => FileKeyStore.open({ stateDir: dir, name: "keys", limits, now }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe("FileKeyStore", () => {
  const limits = () => ({ maxEntries: 10, ttlMs: 60_000 });

  it("journals to <name>.log in the state dir and reports lines it skipped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-keys-"));
    try {
      const bad = "not a record\n";
      await writeFile(join(dir, "inbound-seen.log"), bad);
      const store = await FileKeyStore.open<number>({ stateDir: dir, name: "inbound-seen", limits });
      expect(store.journal).toMatchObject({ corruptLines: 1, corruptOffsets: [0] });
      await store.remember("telegram\u00001", 1);
      await store.close();
      expect(await readFile(join(dir, "inbound-seen.log"), "utf8")).toContain("telegram\\u00001");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("uses Date.now when given no clock", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-keys-"));
    try {
      const store = await FileKeyStore.open<number>({
        stateDir: dir,
        name: "k",
        limits: () => ({ maxEntries: 10, ttlMs: 1 }),
      });
      await store.remember("fresh", 1);
      expect(store.size).toBe(1);
      await store.close();
      const log = await readFile(join(dir, "k.log"), "utf8");
      const at = (JSON.parse(log.trim().split("\n").at(-1)!) as { record: { at: number } }).record.at;
      expect(Math.abs(at - Date.now())).toBeLessThan(60_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
