import { execFileSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LogSink } from "./LogSink";

// A real full filesystem (a 64 KiB tmpfs) behind a LogSink on a regular file.

/** Whether this machine lets the tests mount a tmpfs (root with CAP_SYS_ADMIN, as in CI here). */
const canMount = (() => {
  if (process.env.CI) return true; // CI runs as root: a missing capability must fail, not skip
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("mount", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const line = (i: number) => `${JSON.stringify({ level: 30, i, msg: "x".repeat(100) })}\n`;

describe.skipIf(!canMount)("LogSink on a full disk", () => {
  let dir: string;
  let disk: string;
  let fd: number | undefined;
  let sink: LogSink | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-logsink-"));
    disk = join(dir, "disk");
    await mkdir(disk);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", disk]);
  });
  afterEach(async () => {
    sink?.close();
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    execFileSync("umount", ["-l", disk]);
    await rm(dir, { recursive: true, force: true });
  });

  const fill = () => {
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(disk, "filler")}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      // dd stops with "No space left on device", as intended
    }
  };

  it("keeps what fits, drops and counts the rest, never blocks, and reports the count once it writes again", async () => {
    const file = join(disk, "gateway.log");
    fd = openSync(file, "a");
    sink = new LogSink({ fd, maxBufferedBytes: 4096, base: { service: "test" } });
    fill();
    // The file's last page may still take a few lines: write one at a time until the disk refuses.
    let next = 0;
    while (sink.stats.error === undefined && next < 1000) {
      sink.write(line(next++));
      await sink.drain();
    }
    expect(sink.stats.error).toBe("ENOSPC");
    const flood = 200;
    let accepted = 0;
    for (let i = 0; i < flood; i++) if (sink.write(line(next + i))) accepted++;
    // Every write returned at once; what did not fit was dropped.
    expect(accepted).toBeLessThan(flood);
    expect(sink.stats.bufferedBytes).toBeLessThanOrEqual(4096);
    expect(sink.stats.droppedLines).toBe(flood - accepted);
    // The budget is not waited out on a failing log: drain gives up at the first failure.
    const started = Date.now();
    await sink.drain(60_000);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(sink.stats.bufferedBytes).toBeGreaterThan(0);
    // Space is back: what was kept is written, then the report; nothing else lost.
    await rm(join(disk, "filler"));
    await vi.waitFor(() => expect(sink!.stats.bufferedBytes).toBe(0), { timeout: 10_000, interval: 10 });
    const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
    const report = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(report).toMatchObject({
      level: 40,
      service: "test",
      droppedLines: flood - accepted,
      error: "ENOSPC",
      msg: `dropped ${flood - accepted} log lines while the log could not be written`,
    });
    // The kept lines are whole and in order: all before the flood, then the first `accepted` of it.
    const written = lines.slice(0, -1).map((text) => (JSON.parse(text) as { i: number }).i);
    expect(written).toEqual(Array.from({ length: next + accepted }, (_, i) => i));
    expect(sink.stats).toMatchObject({
      droppedLines: 0,
      totalDroppedLines: flood - accepted,
      error: undefined,
    });
  });

  it("applies a new bound from the next line", async () => {
    const file = join(disk, "gateway.log");
    await writeFile(file, "");
    fd = openSync(file, "a");
    sink = new LogSink({ fd, maxBufferedBytes: 1024 * 1024 });
    fill();
    sink.write(line(0));
    await vi.waitFor(() => expect(sink!.stats.error).toBe("ENOSPC"), { timeout: 10_000, interval: 10 });
    sink.maxBufferedBytes = sink.stats.bufferedBytes;
    expect(sink.write(line(1))).toBe(false);
    expect(sink.stats.droppedLines).toBe(1);
  });
});
