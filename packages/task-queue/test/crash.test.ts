import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileTaskStore, TaskQueue } from "../src/index";

const child = new URL("./crash-child.ts", import.meta.url).pathname;
const tsx = createRequire(import.meta.url).resolve("tsx");

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-crash-"));
});
afterEach(async () => {
  for (const proc of children.splice(0)) proc.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

/** Starts the child; resolves its stdout lines as they come. */
function start(...args: string[]) {
  const proc = spawn(process.execPath, ["--conditions=@openclaw/source", "--import", tsx, child, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(proc);
  const lines: string[] = [];
  let buffer = "";
  proc.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return { proc, lines, exited };
}

const until = (predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000) =>
  vi.waitFor(
    async () => {
      if (!(await predicate())) throw new Error("condition not met in time");
    },
    { timeout: timeoutMs, interval: 10 },
  );

describe("crash safety with FileTaskStore (SIGKILL)", () => {
  it("keeps every acknowledged schedule, whatever moment the process is killed", async () => {
    for (let round = 0; round < 4; round++) {
      const { proc, lines, exited } = start("schedule", dir);
      await until(() => lines.length > 0);
      // Let it run for a random while, then kill it mid-flight.
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 200)));
      proc.kill("SIGKILL");
      await exited;
      const acknowledged = lines.filter((line) => line.startsWith("ACK ")).map((line) => line.slice(4));
      const store = await FileTaskStore.open({ dir });
      const stored = new Set((await store.load()).map((record) => record.id));
      await store.close();
      const lost = acknowledged.filter((id) => !stored.has(id));
      expect(lost, `round ${round}: ${acknowledged.length} acknowledged`).toEqual([]);
      expect(acknowledged.length).toBeGreaterThan(0);
    }
  });

  it("runs a task that was running at the crash exactly once more after restart", async () => {
    const marker = join(dir, "marker.txt");
    const { proc, exited } = start("hang", join(dir, "state"), marker);
    await until(async () => (await readFile(marker, "utf8").catch(() => "")).includes("START"));
    proc.kill("SIGKILL");
    await exited;

    const queue = new TaskQueue({ store: await FileTaskStore.open({ dir: join(dir, "state") }) });
    let running = 0;
    let peak = 0;
    const runs: unknown[] = [];
    queue.register("job", async (payload) => {
      running += 1;
      peak = Math.max(peak, running);
      runs.push(payload);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running -= 1;
      return "recovered";
    });
    await queue.start();
    await until(() => queue.list({ status: "completed" }).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runs).toEqual([{ important: true }]);
    expect(peak).toBe(1);
    expect(queue.list()[0]).toMatchObject({ status: "completed", attempts: 2, result: "recovered" });
    await queue.stop();
    expect((await readFile(marker, "utf8")).trim().split("\n")).toHaveLength(1);
  });

  it("never runs a cancelled task, even after a crash", async () => {
    const { proc, lines, exited } = start("cancel", dir);
    await until(() => lines.some((line) => line.startsWith("CANCELLED ")));
    proc.kill("SIGKILL");
    await exited;
    const queue = new TaskQueue({ store: await FileTaskStore.open({ dir }) });
    let ran = false;
    queue.register("never", () => {
      ran = true;
    });
    await queue.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ran).toBe(false);
    expect(queue.list()).toMatchObject([{ status: "cancelled" }]);
    await queue.stop();
  });

  it("keeps a second process off a directory in use", async () => {
    const { lines } = start("schedule", dir);
    await until(() => lines.length > 0);
    await expect(FileTaskStore.open({ dir })).rejects.toMatchObject({
      code: "CONFLICT",
      details: { reason: "store_locked" },
    });
  });
});
