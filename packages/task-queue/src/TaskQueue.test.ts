import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProtocolError } from "@openclaw/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { planSchedule } from "./schedule";
import { FileTaskStore } from "./stores/FileTaskStore";
import { MemoryTaskStore } from "./stores/MemoryTaskStore";
import { type TaskEvent, TaskQueue, type TaskQueueOptions } from "./TaskQueue";
import { TaskQueueError } from "./TaskQueueError";

const queues: TaskQueue[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.stop({ drainTimeoutMs: 100 });
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const newQueue = async (options: TaskQueueOptions = {}) => {
  const queue = new TaskQueue({ retryDelayMs: 10, ...options });
  queues.push(queue);
  await queue.start();
  return queue;
};

const until = (predicate: () => boolean, timeoutMs = 5000) =>
  vi.waitFor(
    () => {
      if (!predicate()) throw new Error("condition not met in time");
    },
    { timeout: timeoutMs, interval: 5 },
  );

const record = (queue: TaskQueue) => {
  const events: string[] = [];
  for (const name of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const) {
    queue.on(name, (event: TaskEvent) =>
      events.push(
        `${name.slice(5)}:${event.attempt}${event.willRetry === undefined ? "" : `:${event.willRetry ? "retry" : "final"}`}`,
      ),
    );
  }
  return events;
};

describe("TaskQueue scheduling", () => {
  it("runs a task as soon as possible and records its result", async () => {
    const queue = await newQueue();
    const events = record(queue);
    queue.register("greet", (payload) => `hello ${(payload as { name: string }).name}`);
    const id = await queue.schedule({ type: "greet", payload: { name: "alice" } });
    await until(() => queue.get(id)?.status === "completed");
    expect(queue.get(id)).toMatchObject({
      status: "completed",
      result: "hello alice",
      attempts: 1,
      nextRunAt: null,
    });
    expect(events).toEqual(["started:1", "completed:1"]);
  });

  it("runs a delayed task no earlier than its delay, and an `at` task at its time", async () => {
    const queue = await newQueue();
    const ran: Array<[string, number]> = [];
    queue.register("mark", (payload) => ran.push([payload as string, Date.now()]));
    const started = Date.now();
    await queue.schedule({ type: "mark", payload: "delay" }, { delayMs: 80 });
    await queue.schedule({ type: "mark", payload: "at" }, { at: new Date(started + 40) });
    await until(() => ran.length === 2);
    expect(ran.map(([name]) => name)).toEqual(["at", "delay"]);
    expect(ran[1]![1] - started).toBeGreaterThanOrEqual(75);
  });

  it("repeats an interval task from each run's end, and stops when cancelled", async () => {
    const queue = await newQueue();
    let runs = 0;
    queue.register("tick", () => {
      runs += 1;
    });
    const id = await queue.schedule({ type: "tick" }, { every: 20 });
    await until(() => runs >= 3);
    expect(queue.get(id)).toMatchObject({
      status: "scheduled",
      attempts: 0,
      schedule: { kind: "every", intervalMs: 20 },
    });
    expect(await queue.cancel(id)).toBe(true);
    const after = runs;
    // Another interval task on the same 20 ms period runs three times: the cancelled one had its turns.
    let witnessRuns = 0;
    queue.register("witness", () => {
      witnessRuns += 1;
    });
    await queue.schedule({ type: "witness" }, { every: 20 });
    await until(() => witnessRuns >= 3);
    expect(runs).toBe(after);
    expect(queue.get(id)?.status).toBe("cancelled");
    expect(await queue.cancel(id)).toBe(false);
  });

  it("computes cron times in the given time zone", () => {
    const now = Date.UTC(2026, 10, 24, 7, 30); // 07:30 UTC = 08:30 in Berlin (CET)
    const berlin = planSchedule({ cron: "0 9 * * *", timezone: "Europe/Berlin" }, now);
    expect(new Date(berlin.firstRunAt).toISOString()).toBe("2026-11-24T08:00:00.000Z");
    const utc = planSchedule({ cron: "0 9 * * *" }, now);
    expect(new Date(utc.firstRunAt).toISOString()).toBe("2026-11-24T09:00:00.000Z");
    expect(berlin.schedule).toEqual({ kind: "cron", expression: "0 9 * * *", timezone: "Europe/Berlin" });
  });

  it("runs a seconds-resolution cron task", async () => {
    const queue = await newQueue();
    let runs = 0;
    queue.register("cron", () => {
      runs += 1;
    });
    await queue.schedule({ type: "cron" }, { cron: "* * * * * *" });
    await until(() => runs >= 2, 4000);
  });

  it("rejects bad schedules and tasks with typed errors", async () => {
    const queue = await newQueue();
    const bad: Array<[Parameters<TaskQueue["schedule"]>[0], Parameters<TaskQueue["schedule"]>[1], string]> = [
      [{ type: "x" }, { delayMs: 5, every: 1000 }, "conflicting_schedule"],
      [{ type: "x" }, { cron: "not a cron" }, "invalid_cron"],
      [{ type: "x" }, { cron: "* * * * *", timezone: "Mars/Olympus" }, "invalid_cron"],
      [{ type: "x" }, { timezone: "UTC" }, "timezone_without_cron"],
      [{ type: "x" }, { delayMs: -1 }, "invalid_delay"],
      [{ type: "x" }, { every: 0 }, "invalid_every"],
      [{ type: "x" }, { at: Number.NaN }, "invalid_at"],
      [{ type: "" }, {}, "invalid_type"],
      [{ type: "x", timeoutMs: 0 }, {}, "invalid_timeout"],
      [{ type: "x", maxAttempts: 0 }, {}, "invalid_max_attempts"],
    ];
    for (const [task, options, reason] of bad) {
      const error = await queue.schedule(task, options).catch((e: unknown) => e);
      expect(error, reason).toBeInstanceOf(TaskQueueError);
      expect(error).toMatchObject({ code: "INVALID_PARAMS", details: { reason } });
    }
    expect(queue.list()).toEqual([]);
  });

  it("returns the first task's id for a repeated idempotency key", async () => {
    const queue = await newQueue();
    const first = await queue.schedule(
      { type: "later", idempotencyKey: "standup-2026-11-24" },
      { delayMs: 60_000 },
    );
    const second = await queue.schedule(
      { type: "later", idempotencyKey: "standup-2026-11-24" },
      { delayMs: 60_000 },
    );
    expect(second).toBe(first);
    expect(queue.list()).toHaveLength(1);
  });

  it("waits with tasks whose handler is not registered yet", async () => {
    const queue = await newQueue();
    const id = await queue.schedule({ type: "late-handler" });
    // A task scheduled later, with a handler, runs to completion: the first one was due before it.
    queue.register("witness", () => "ok");
    const witness = await queue.schedule({ type: "witness" });
    await until(() => queue.get(witness)?.status === "completed");
    expect(queue.get(id)?.status).toBe("scheduled");
    queue.register("late-handler", () => "ok");
    await until(() => queue.get(id)?.status === "completed");
  });
});

describe("TaskQueue failures", () => {
  it("retries with backoff up to maxAttempts, then fails", async () => {
    const queue = await newQueue({ retryDelayMs: 20 });
    const events = record(queue);
    const times: number[] = [];
    queue.register("flaky", () => {
      times.push(Date.now());
      throw new ProtocolError("CHANNEL_UNAVAILABLE", "telegram is down");
    });
    const id = await queue.schedule({ type: "flaky", maxAttempts: 3 });
    await until(() => queue.get(id)?.status === "failed");
    expect(events).toEqual([
      "started:1",
      "failed:1:retry",
      "started:2",
      "failed:2:retry",
      "started:3",
      "failed:3:final",
    ]);
    expect(queue.get(id)).toMatchObject({
      attempts: 3,
      lastError: { code: "CHANNEL_UNAVAILABLE", message: "telegram is down" },
    });
    // 20 ms then 40 ms between attempts
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(18);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(38);
  });

  it("succeeds on a retry", async () => {
    const queue = await newQueue();
    let calls = 0;
    queue.register("second-time-lucky", () => {
      calls += 1;
      if (calls === 1) throw new Error("transient");
      return "done";
    });
    const result = await queue.execute({ type: "second-time-lucky" });
    expect(result).toMatchObject({ status: "completed", result: "done", attempts: 2 });
  });

  it("times out an attempt and aborts its signal", async () => {
    const queue = await newQueue();
    let aborted: unknown;
    queue.register("hang", (_payload, { signal }) => {
      signal.addEventListener("abort", () => {
        aborted = signal.reason;
      });
      return new Promise(() => {});
    });
    const result = await queue.execute({ type: "hang", timeoutMs: 30, maxAttempts: 1 });
    expect(result).toMatchObject({ status: "failed", attempts: 1, error: { code: "TIMEOUT" } });
    expect(aborted).toBeInstanceOf(TaskQueueError);
    expect(queue.runningCount).toBe(0);
  });

  it("treats a throwing handler's non-Error value as an INTERNAL failure", async () => {
    const queue = await newQueue();
    queue.register("weird", () => {
      throw "a string";
    });
    expect(await queue.execute({ type: "weird", maxAttempts: 1 })).toMatchObject({
      status: "failed",
      error: { code: "INTERNAL", message: "a string" },
    });
  });
});

describe("TaskQueue limits and lifecycle", () => {
  it("never runs more than `concurrency` attempts at once", async () => {
    const queue = await newQueue({ concurrency: 3 });
    let active = 0;
    let peak = 0;
    queue.register("work", async () => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 10));
      active -= 1;
    });
    const results = await Promise.all(Array.from({ length: 20 }, () => queue.execute({ type: "work" })));
    expect(results.every((r) => r.status === "completed")).toBe(true);
    expect(peak).toBe(3);
  });

  it("cancels a running task: its signal aborts and its result is discarded", async () => {
    const queue = await newQueue();
    const events = record(queue);
    let release: (() => void) | undefined;
    queue.register(
      "slow",
      () =>
        new Promise<string>((resolve) => {
          release = () => resolve("too late");
        }),
    );
    const id = await queue.schedule({ type: "slow" });
    await until(() => queue.get(id)?.status === "running");
    expect(await queue.cancel(id)).toBe(true);
    release?.();
    await until(() => queue.runningCount === 0);
    expect(queue.get(id)).toMatchObject({ status: "cancelled" });
    expect(queue.get(id)?.result).toBeUndefined();
    expect(events).toEqual(["started:1", "cancelled:1"]);
  });

  it("lists with filters, soonest first", async () => {
    const queue = await newQueue();
    queue.register("done", () => 1);
    const later = await queue.schedule({ type: "a" }, { delayMs: 60_000 });
    const sooner = await queue.schedule({ type: "b" }, { delayMs: 30_000 });
    const finished = await queue.schedule({ type: "done" });
    await until(() => queue.get(finished)?.status === "completed");
    expect(queue.list().map((t) => t.id)).toEqual([sooner, later, finished]);
    expect(queue.list({ status: "scheduled" }).map((t) => t.id)).toEqual([sooner, later]);
    expect(queue.list({ type: "a" }).map((t) => t.id)).toEqual([later]);
    expect(queue.list({ limit: 1 }).map((t) => t.id)).toEqual([sooner]);
    expect(queue.list({ limit: 1, offset: 1 }).map((t) => t.id)).toEqual([later]);
    expect(queue.list({ offset: 2 }).map((t) => t.id)).toEqual([finished]);
    expect(queue.list({ offset: 3 })).toEqual([]);
  });

  it("bounds the tasks it holds: maxTasks pending, maxFinishedTasks kept", async () => {
    const queue = await newQueue({ maxTasks: 3, maxFinishedTasks: 2 });
    queue.register("quick", () => null);
    for (let i = 0; i < 3; i++) await queue.schedule({ type: "parked" }, { delayMs: 60_000 });
    await expect(queue.schedule({ type: "parked" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      details: { reason: "too_many_tasks" },
    });
    for (const task of queue.list()) await queue.cancel(task.id);
    for (let i = 0; i < 5; i++) await queue.execute({ type: "quick" });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await queue.schedule({ type: "quick" }));
    await until(() => queue.runningCount === 0 && queue.list({ status: "scheduled" }).length === 0);
    const kept = queue.list();
    expect(kept).toHaveLength(2);
    expect(kept.every((t) => t.status === "completed" && ids.includes(t.id))).toBe(true);
  });

  it("refuses work after stop, and stop waits for running attempts", async () => {
    const queue = new TaskQueue();
    await queue.start();
    let finished = false;
    queue.register("slow", async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      finished = true;
    });
    await queue.schedule({ type: "slow" });
    await until(() => queue.runningCount === 1);
    await queue.stop();
    expect(finished).toBe(true);
    await expect(queue.schedule({ type: "slow" })).rejects.toMatchObject({ code: "SHUTTING_DOWN" });
    await expect(queue.execute({ type: "slow" })).rejects.toMatchObject({ code: "SHUTTING_DOWN" });
  });
});

describe("TaskQueue store failures", () => {
  /** A store whose disk fills up: writes fail once `full` is set. */
  class FillingStore extends MemoryTaskStore {
    full = false;
    override async put(record: Parameters<MemoryTaskStore["put"]>[0]): Promise<void> {
      if (this.full) throw new Error("ENOSPC: no space left on device");
      return super.put(record);
    }
  }

  it("reports a failed schedule to the caller and keeps nothing", async () => {
    const store = new FillingStore();
    const queue = await newQueue({ store });
    store.full = true;
    await expect(queue.schedule({ type: "x", idempotencyKey: "k" })).rejects.toThrow("ENOSPC");
    expect(queue.list()).toEqual([]);
    store.full = false;
    await queue.schedule({ type: "x", idempotencyKey: "k" }, { delayMs: 60_000 });
    expect(queue.list()).toHaveLength(1);
  });

  it("emits an error when an outcome cannot be recorded, and keeps running tasks", async () => {
    const store = new FillingStore();
    const queue = await newQueue({ store });
    const errors: TaskQueueError[] = [];
    queue.on("error", (error) => errors.push(error));
    let runs = 0;
    queue.register("job", () => {
      runs += 1;
      if (runs === 1) store.full = true; // the disk fills up while the first task runs
    });
    const first = await queue.schedule({ type: "job" });
    await until(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: "CONFLICT", details: { reason: "store_failed", taskId: first } });
    store.full = false;
    await queue.schedule({ type: "job" });
    await until(() => runs === 2);
  });
});

describe("TaskQueue persistence", () => {
  const fileQueue = async (dir: string, options: TaskQueueOptions = {}) =>
    newQueue({ store: await FileTaskStore.open({ dir }), ...options });

  it("keeps scheduled tasks across a restart and runs them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-queue-"));
    dirs.push(dir);
    const first = await fileQueue(dir);
    const id = await first.schedule({ type: "later", payload: { n: 1 } }, { delayMs: 50 });
    await first.stop();
    queues.splice(queues.indexOf(first), 1);
    const second = await fileQueue(dir);
    const seen: unknown[] = [];
    second.register("later", (payload) => seen.push(payload));
    await until(() => second.get(id)?.status === "completed");
    expect(seen).toEqual([{ n: 1 }]);
  });

  it("catches up a recurring task that missed runs only once, or skips it", async () => {
    for (const [policy, expectedRuns] of [
      ["once", 1],
      ["skip", 0],
    ] as const) {
      const store = new MemoryTaskStore();
      const hourAgo = Date.now() - 3_600_000;
      // An interval task due every minute that last ran an hour ago: 60 missed runs.
      await store.put({
        id: "minutely",
        type: "report",
        status: "scheduled",
        schedule: { kind: "every", intervalMs: 60_000 },
        nextRunAt: hourAgo + 60_000,
        attempts: 0,
        maxAttempts: 3,
        timeoutMs: 1000,
        createdAt: hourAgo,
        updatedAt: hourAgo,
      });
      const queue = await newQueue({ store, catchUp: policy });
      let runs = 0;
      queue.register("report", () => {
        runs += 1;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(runs, policy).toBe(expectedRuns);
      expect(queue.get("minutely")?.nextRunAt).toBeGreaterThan(Date.now() + 50_000);
    }
  });

  it("runs a task that was running at a crash once more, even past maxAttempts", async () => {
    const store = new MemoryTaskStore();
    await store.put({
      id: "interrupted",
      type: "job",
      status: "running",
      schedule: { kind: "once" },
      nextRunAt: null,
      attempts: 3,
      maxAttempts: 3,
      timeoutMs: 1000,
      createdAt: 1,
      updatedAt: 1,
    });
    const queue = await newQueue({ store });
    let runs = 0;
    queue.register("job", () => {
      runs += 1;
      throw new Error("still broken");
    });
    await until(() => queue.get("interrupted")?.status === "failed");
    expect(runs).toBe(1);
    expect(queue.get("interrupted")?.attempts).toBe(4);
  });
});
