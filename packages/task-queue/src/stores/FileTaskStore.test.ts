import { spawnSync } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleTaskRecord } from "../testing";
import { FileTaskStore } from "./FileTaskStore";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-filestore-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("FileTaskStore", () => {
  it("writes one JSON line per change and reads them back in order", async () => {
    const store = await FileTaskStore.open({ dir });
    await store.put(sampleTaskRecord("a"));
    await store.put(sampleTaskRecord("b"));
    await store.delete("a");
    await store.close();
    const lines = (await readFile(join(dir, "tasks.log"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.op, l.record?.id ?? l.id])).toEqual([
      ["put", "a"],
      ["put", "b"],
      ["del", "a"],
    ]);
  });

  it("cuts a torn last line left by a crash and keeps everything before it", async () => {
    const store = await FileTaskStore.open({ dir });
    await store.put(sampleTaskRecord("a"));
    await store.close();
    await appendFile(join(dir, "tasks.log"), '{"op":"put","record":{"id":"b","ty');
    const reopened = await FileTaskStore.open({ dir });
    expect((await reopened.load()).map((r) => r.id)).toEqual(["a"]);
    expect(reopened.stats.corruptLines).toBe(0);
    // The next write starts on a fresh line.
    await reopened.put(sampleTaskRecord("c"));
    await reopened.close();
    const again = await FileTaskStore.open({ dir });
    expect((await again.load()).map((r) => r.id)).toEqual(["a", "c"]);
    await again.close();
  });

  it("skips and counts corrupt lines in the middle", async () => {
    const good = JSON.stringify({ op: "put", record: sampleTaskRecord("a") });
    await writeFile(
      join(dir, "tasks.log"),
      `${good}\nnot json\n{"op":"explode"}\n${JSON.stringify({ op: "put", record: sampleTaskRecord("b") })}\n`,
    );
    const store = await FileTaskStore.open({ dir });
    expect((await store.load()).map((r) => r.id)).toEqual(["a", "b"]);
    expect(store.stats.corruptLines).toBe(2);
    await store.close();
  });

  it("compacts the log once it holds far more lines than records, losing nothing", async () => {
    const store = await FileTaskStore.open({ dir, compactMinLines: 50 });
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.put(sampleTaskRecord(`t${i}`, { attempts: round }))),
      );
    }
    expect(store.stats.compactions).toBeGreaterThan(0);
    expect(store.stats.lines).toBeLessThan(60);
    const size = (await stat(join(dir, "tasks.log"))).size;
    await store.close();
    const reopened = await FileTaskStore.open({ dir });
    const records = await reopened.load();
    expect(records).toHaveLength(10);
    expect(records.every((r) => r.attempts === 19)).toBe(true);
    expect(size).toBeLessThan(10_000);
    await reopened.close();
  });

  it("refuses a second open of the same directory while the first is alive", async () => {
    const store = await FileTaskStore.open({ dir });
    await expect(FileTaskStore.open({ dir })).rejects.toMatchObject({
      code: "CONFLICT",
      details: { reason: "store_locked", pid: process.pid },
    });
    await store.close();
    const again = await FileTaskStore.open({ dir });
    await again.close();
  });

  it("takes over a lock left by a process that died", async () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    await writeFile(join(dir, "tasks.lock"), dead.stdout);
    const store = await FileTaskStore.open({ dir });
    expect((await readFile(join(dir, "tasks.lock"), "utf8")).split(" ")[0]).toBe(String(process.pid));
    await store.close();
  });

  it("fails writes after close with a typed error, and close is idempotent", async () => {
    const store = await FileTaskStore.open({ dir });
    await store.close();
    await store.close();
    expect(() => store.put(sampleTaskRecord("a"))).toThrow(
      expect.objectContaining({ code: "SHUTTING_DOWN" }),
    );
  });
});
