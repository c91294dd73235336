import { spawn, spawnSync } from "node:child_process";
import { appendFile, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RecordLog, type RecordLogOptions } from "./RecordLog";
import { RecordLogError, toRecordLogError } from "./RecordLogError";

interface Note {
  id: string;
  text: string;
  n?: number;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-recordlog-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openLog = (options: Partial<RecordLogOptions> = {}) =>
  RecordLog.open<Note>({ dir, name: "notes", ...options });

const logLines = async (path = join(dir, "notes.log")) =>
  (await readFile(path, "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { op: string; id?: string; record?: Note });

/** Collects unhandled rejections while `body` runs and until the microtask queue has drained. */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await body();
    // Node reports unhandled rejections after the microtasks drain: let two turns pass.
    await new Promise((done) => setImmediate(done));
    await new Promise((done) => setImmediate(done));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

describe("RecordLog", () => {
  it("writes one JSON line per change and reads the records back, least recently put first", async () => {
    const log = await openLog();
    await log.put({ id: "a", text: "1" });
    await log.put({ id: "b", text: "2" });
    await log.put({ id: "a", text: "3" });
    await log.delete("b");
    expect([...log.values()]).toEqual([{ id: "a", text: "3" }]);
    await log.close();
    expect((await logLines()).map((l) => [l.op, l.record?.id ?? l.id])).toEqual([
      ["put", "a"],
      ["put", "b"],
      ["put", "a"],
      ["del", "b"],
    ]);
    const again = await openLog();
    expect(again.get("a")).toEqual({ id: "a", text: "3" });
    expect(again.size).toBe(1);
    expect(again.stats).toMatchObject({ lines: 4, records: 1, corruptLines: 0 });
    await again.close();
  });

  it("copies what is put: a later change to the caller's object is not stored", async () => {
    const log = await openLog();
    const note = { id: "a", text: "before" };
    await log.put(note);
    note.text = "after";
    expect(log.get("a")?.text).toBe("before");
    await log.close();
  });

  it("commits concurrent writes together and resolves each once it is on disk", async () => {
    const log = await openLog();
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.put({ id: `n${i % 50}`, text: "x", n: i })));
    expect(log.stats.lines).toBe(200);
    expect((await logLines()).length).toBe(200); // read back by another reader: all there
    await log.close();
  });

  it("cuts a torn last line left by a crash and keeps everything before it", async () => {
    const log = await openLog();
    await log.put({ id: "a", text: "1" });
    await log.close();
    await appendFile(join(dir, "notes.log"), '{"op":"put","record":{"id":"b","te');
    const reopened = await openLog();
    expect([...reopened.values()].map((r) => r.id)).toEqual(["a"]);
    expect(reopened.stats.corruptLines).toBe(0);
    await reopened.put({ id: "c", text: "3" }); // starts on a fresh line
    await reopened.close();
    const again = await openLog();
    expect([...again.values()].map((r) => r.id)).toEqual(["a", "c"]);
    await again.close();
  });

  it("skips and counts corrupt lines in the middle", async () => {
    await writeFile(
      join(dir, "notes.log"),
      `${JSON.stringify({ op: "put", record: { id: "a", text: "1" } })}\nnot json\nnull\n{"op":"explode"}\n${JSON.stringify({ op: "put", record: { id: "b", text: "2" } })}\n`,
    );
    const log = await openLog();
    expect([...log.values()].map((r) => r.id)).toEqual(["a", "b"]);
    expect(log.stats.corruptLines).toBe(3);
    await log.close();
  });

  it("compacts the log once it holds far more lines than records, losing nothing", async () => {
    const log = await openLog({ compactMinLines: 50 });
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => log.put({ id: `t${i}`, text: "x", n: round })));
    }
    expect(log.stats.compactions).toBeGreaterThan(0);
    expect(log.stats.compactionFailures).toBe(0);
    expect(log.stats.lines).toBeLessThan(60);
    await log.put({ id: "t0", text: "after compaction", n: 99 }); // appends to the new file
    await log.close();
    const reopened = await openLog();
    expect(reopened.size).toBe(10);
    expect(reopened.get("t0")).toMatchObject({ text: "after compaction", n: 99 });
    expect([...reopened.values()].filter((r) => r.id !== "t0").every((r) => r.n === 19)).toBe(true);
    await reopened.close();
  });

  it("creates its directory 0700 and its files 0600, also after a compaction", async () => {
    const nested = join(dir, "state", "deeper");
    const log = await RecordLog.open<Note>({ dir: nested, name: "notes", compactMinLines: 5 });
    expect((await stat(join(dir, "state"))).mode & 0o777).toBe(0o700);
    expect((await stat(nested)).mode & 0o777).toBe(0o700);
    expect((await stat(join(nested, "notes.lock"))).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 20; i++) await log.put({ id: "same", text: String(i) });
    expect(log.stats.compactions).toBeGreaterThan(0);
    expect((await stat(join(nested, "notes.log"))).mode & 0o777).toBe(0o600);
    await log.close();
  });

  it("refuses a second open while the first is alive, and takes over a dead process's lock", async () => {
    const log = await openLog();
    const refused = await openLog().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RecordLogError);
    expect(refused).toMatchObject({
      code: "CONFLICT",
      details: { reason: "store_locked", pid: process.pid },
    });
    await log.close();
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    await writeFile(join(dir, "notes.lock"), dead.stdout);
    const again = await openLog();
    expect((await readFile(join(dir, "notes.lock"), "utf8")).split(" ")[0]).toBe(String(process.pid));
    await again.close();
  });

  it("tells a live owner from a reused pid, and its own pid left by an earlier run (PID 1 in a container)", async () => {
    // Our own pid, but this process holds no such lock: an earlier incarnation with the same pid.
    await writeFile(join(dir, "notes.lock"), `${process.pid} 1`);
    const mine = await openLog();
    await mine.close();
    // A live process (our parent) named with its real start time: refused.
    const parent = (await readFile(`/proc/${process.ppid}/stat`, "utf8").catch(() => undefined)) ?? "";
    const started = parent.slice(parent.lastIndexOf(")") + 2).split(" ")[19];
    if (started !== undefined) {
      await writeFile(join(dir, "notes.lock"), `${process.ppid} ${started}`);
      await expect(openLog()).rejects.toMatchObject({
        details: { reason: "store_locked", pid: process.ppid },
      });
      // The same pid with another start time: the pid was reused, the owner is gone.
      await writeFile(join(dir, "notes.lock"), `${process.ppid} ${Number(started) + 12345}`);
      const taken = await openLog();
      await taken.close();
    }
  });

  it("refuses use after close with SHUTTING_DOWN, and close is idempotent", async () => {
    const log = await openLog();
    const pending = log.put({ id: "a", text: "1" });
    await Promise.all([log.close(), log.close()]);
    await pending; // a write queued before close still lands
    expect(() => log.put({ id: "b", text: "2" })).toThrow(
      expect.objectContaining({ name: "RecordLogError", code: "SHUTTING_DOWN" }),
    );
    expect(() => log.delete("a")).toThrow(expect.objectContaining({ code: "SHUTTING_DOWN" }));
    expect(() => log.values()).toThrow(expect.objectContaining({ code: "SHUTTING_DOWN" }));
    await expect(readFile(join(dir, "notes.lock"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("keeps a copy of what it writes: later changes to the record do not reach it, and it reads back the same after a reopen", async () => {
    const log = await RecordLog.open<Note & { meta?: { tags: string[]; gone?: undefined } }>({
      dir,
      name: "notes",
    });
    const record = { id: "a", text: 'é 👋 \u0000 "quoted"', meta: { tags: ["x"], gone: undefined } };
    const written = log.put(record);
    record.text = "changed";
    record.meta.tags.push("y");
    await written;
    const held = log.get("a");
    expect(held).toEqual({ id: "a", text: 'é 👋 \u0000 "quoted"', meta: { tags: ["x"] } });
    expect(held).not.toHaveProperty("meta.gone"); // the JSON form: what a reopened log loads
    await log.close();
    const reopened = await RecordLog.open<Note>({ dir, name: "notes" });
    expect(reopened.get("a")).toStrictEqual(held);
    await reopened.close();
  });

  it("holds exactly the JSON form of any record: what JSON.parse of its line gives", async () => {
    const log = await RecordLog.open<{ id: string; [key: string]: unknown }>({ dir, name: "notes" });
    const hostile = JSON.parse('{"__proto__":{"polluted":true},"a":1}');
    const values: Record<string, unknown> = {
      date: new Date(0),
      holes: [1, undefined, () => 2, Number.NaN, -0, [{ a: undefined }]],
      nan: Number.NaN,
      infinite: Number.POSITIVE_INFINITY,
      nested: { keep: "x", drop: undefined, fn: () => 1, deeper: { list: [null, true, "é"] } },
      nullProto: Object.assign(Object.create(null), { a: 1 }),
      hostile,
      withToJSON: { toJSON: () => ({ replaced: true }) },
      instance: new (class Point {
        x = 1;
      })(),
      map: new Map([["k", 1]]),
      text: "plain",
    };
    for (const [id, value] of Object.entries(values)) {
      const record = { id, value };
      await log.put(record);
      const held = log.get(id);
      expect(held, id).toStrictEqual(JSON.parse(JSON.stringify(record)));
    }
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.hasOwn(log.get("hostile")!.value as object, "__proto__")).toBe(true);
    await log.close();
  });

  it("refuses a record with no JSON form (a cycle, a BigInt) with INVALID_PARAMS, storing nothing", async () => {
    const log = await openLog();
    const cyclic: Note & { self?: unknown } = { id: "c", text: "loop" };
    cyclic.self = cyclic;
    for (const bad of [cyclic, { id: "b", text: "big", n: 1n as unknown as number }]) {
      await expect(log.put(bad)).rejects.toMatchObject({
        code: "INVALID_PARAMS",
        details: { reason: "record_not_json" },
      });
    }
    expect(log.size).toBe(0);
    await log.put({ id: "ok", text: "fine" });
    await log.close();
    expect((await logLines()).map((l) => l.record?.id)).toEqual(["ok"]);
  });

  it("refuses bad options with INVALID_PARAMS", async () => {
    for (const options of [
      { dir: "", name: "notes" },
      { dir, name: "../escape" },
      { dir, name: "" },
      { dir, name: "notes", compactMinLines: 0 },
      { dir, name: "notes", compactMinLines: 1.5 },
    ]) {
      await expect(RecordLog.open(options), JSON.stringify(options)).rejects.toMatchObject({
        name: "RecordLogError",
        code: "INVALID_PARAMS",
      });
    }
  });

  it("rejects open with the OS error when the directory's parent is a regular file (ENOTDIR)", async () => {
    await writeFile(join(dir, "plain-file"), "not a directory");
    const error = await RecordLog.open({ dir: join(dir, "plain-file", "state"), name: "notes" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RecordLogError);
    expect(error).toMatchObject({
      code: "INTERNAL",
      osCode: "ENOTDIR",
      details: { reason: "open_failed", osCode: "ENOTDIR" },
      cause: expect.objectContaining({ code: "ENOTDIR" }),
    });
  });

  it("a compaction the OS refuses (directory replaced by a file) is reported, never an unhandled rejection", async () => {
    const reported: RecordLogError[] = [];
    const log = await openLog({ compactMinLines: 5, onBackgroundError: (error) => reported.push(error) });
    await log.put({ id: "a", text: "0" });
    // The open file moves away with its directory; a regular file now stands where the directory was.
    const moved = `${dir}-moved`;
    await rename(dir, moved);
    await writeFile(dir, "not a directory any more");
    try {
      const unhandled = await unhandledDuring(async () => {
        for (let i = 1; i <= 12; i++) await log.put({ id: "a", text: String(i) }); // each write still lands
      });
      expect(unhandled).toEqual([]);
      expect(log.stats.compactions).toBe(0);
      // Attempted once past 5 lines, then not again until 5 more lines (lines 6 and 12).
      expect(log.stats.compactionFailures).toBe(2);
      expect(reported).toHaveLength(2);
      expect(reported[0]).toMatchObject({
        code: "INTERNAL",
        osCode: "ENOTDIR",
        details: { reason: "compaction_failed", osCode: "ENOTDIR" },
      });
      await log.close();
      expect((await logLines(join(moved, "notes.log"))).length).toBe(13);
    } finally {
      await rm(dir, { force: true });
      await rm(moved, { recursive: true, force: true });
    }
  });

  it("a write the OS refuses (file size limit, EFBIG) rejects that write only, with the OS code, and the log goes on", async () => {
    const child = resolve(import.meta.dirname, "../test/write-failure-child.ts");
    const tsx = createRequire(import.meta.url).resolve("tsx");
    // bash's `ulimit -f` counts KiB: the file may grow to 1 MiB; the big record needs 2 MiB.
    const run = spawn(
      "bash",
      [
        "-c",
        'ulimit -f 1024 && exec "$@"',
        "bash",
        process.execPath,
        "--conditions=@openclaw/source",
        "--import",
        tsx,
        child,
        dir,
        String(2 * 1024 * 1024),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    run.stdout.on("data", (chunk) => (stdout += chunk));
    run.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((done) => run.on("exit", done));
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as Record<string, unknown>;
    // The failed put left memory as it was, and memory and disk agree afterwards.
    expect(result).toMatchObject({
      bigInMemory: false,
      records: ["before", "after"],
      onDisk: ["before:replaced", "after:fits too"],
    });
    expect(result).toMatchObject({
      isRecordLogError: true,
      code: "INTERNAL",
      details: { reason: "write_failed", osCode: "EFBIG" },
      osCode: "EFBIG",
      causeCode: "EFBIG",
      unhandled: [],
    });
    // The partial line was cut: the file holds whole lines only, and the big record never landed.
    const lines = await readFile(join(dir, "limited.log"), "utf8");
    expect(lines.endsWith("\n")).toBe(true);
    const log = await RecordLog.open<Note>({ dir, name: "limited" });
    expect(log.stats.corruptLines).toBe(0);
    expect([...log.values()].map((r) => r.id)).toEqual(["before", "after"]);
    await log.close();
  });
});

describe("toRecordLogError", () => {
  it("keeps a RecordLogError and wraps anything else as INTERNAL with its OS code", () => {
    const own = new RecordLogError("CONFLICT", "taken");
    expect(toRecordLogError(own)).toBe(own);
    const os = Object.assign(new Error("no space"), { code: "ENOSPC" });
    const wrapped = toRecordLogError(os, "write_failed", "could not write");
    expect(wrapped).toMatchObject({
      name: "RecordLogError",
      code: "INTERNAL",
      message: "could not write",
      osCode: "ENOSPC",
      details: { reason: "write_failed", osCode: "ENOSPC" },
    });
    expect(wrapped.cause).toBe(os);
    expect(toRecordLogError("boom")).toMatchObject({
      code: "INTERNAL",
      message: "boom",
      details: { reason: "internal" },
    });
    expect(toRecordLogError("boom").osCode).toBeUndefined();
  });
});
