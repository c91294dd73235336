import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryTaskStore } from "./stores/MemoryTaskStore";
import { MemoryTaskClaims, type TaskClaims } from "./TaskClaims";
import { TaskQueue, type TaskQueueOptions } from "./TaskQueue";
import type { TaskQueueError } from "./TaskQueueError";
import { sampleTaskRecord } from "./testing";

const EVERY_SECOND = "* * * * * *";
const queues: TaskQueue[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2030, 0, 1, 0, 0, 0, 500) });
});
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.stop({ drainTimeoutMs: 0 });
  vi.useRealTimers();
});

const newQueue = async (options: TaskQueueOptions) => {
  const queue = new TaskQueue({ retryDelayMs: 100, ...options });
  queues.push(queue);
  await queue.start();
  return queue;
};

describe("TaskQueue claims", () => {
  it("runs each tick of a cron job scheduled on three queues once", async () => {
    const claims = new MemoryTaskClaims();
    const runs: Array<{ queue: number; at: number }> = [];
    for (const index of [0, 1, 2]) {
      const queue = await newQueue({ claims });
      queue.register("tick", () => {
        runs.push({ queue: index, at: Date.now() });
      });
      await queue.schedule({ type: "tick", idempotencyKey: "cron:job" }, { cron: EVERY_SECOND });
    }
    await vi.advanceTimersByTimeAsync(5_000);
    const ticks = new Map<number, number>();
    for (const run of runs) ticks.set(run.at, (ticks.get(run.at) ?? 0) + 1);
    expect(ticks.size).toBe(5);
    expect([...ticks.values()]).toEqual([1, 1, 1, 1, 1]);
    expect([...ticks.keys()].every((at) => at % 1000 === 0)).toBe(true);
  });

  it("runs a one-off task that two queues loaded from a shared store once, and forgets it on the loser", async () => {
    const claims = new MemoryTaskClaims();
    const shared = sampleTaskRecord("t1", { type: "once", nextRunAt: Date.now() });
    const runs: number[] = [];
    const queues = [];
    for (const index of [0, 1]) {
      const store = new MemoryTaskStore();
      await store.put(shared);
      const queue = await newQueue({ store, claims });
      queue.register("once", () => runs.push(index));
      queues.push(queue);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(1);
    const [winner, loser] = runs[0] === 0 ? queues : [...queues].reverse();
    expect(winner?.get("t1")?.status).toBe("completed");
    expect(loser?.get("t1")).toBeUndefined();
  });

  it("claims the same occurrence again after a failed claim and never runs it unclaimed", async () => {
    const asked: string[] = [];
    let failures = 2;
    const claims: TaskClaims = {
      claim: async (occurrence) => {
        asked.push(occurrence);
        if (failures-- > 0) throw new Error("backend unreachable");
        return true;
      },
    };
    const queue = await newQueue({ claims });
    const errors: TaskQueueError[] = [];
    queue.on("error", (error) => errors.push(error));
    const runs: number[] = [];
    queue.register("tick", () => {
      runs.push(Date.now());
    });
    await queue.schedule({ type: "tick", idempotencyKey: "cron:job" }, { cron: EVERY_SECOND });
    // Due at 1.000 s: claims fail at 1.000 and 1.100 (retryDelayMs 100), then succeed at 1.200.
    await vi.advanceTimersByTimeAsync(650);
    expect(runs).toEqual([]);
    expect(errors.map((error) => error.details?.reason)).toEqual(["claim_failed", "claim_failed"]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs[0]).toBe(Date.UTC(2030, 0, 1, 0, 0, 1, 200));
    expect(new Set(asked.slice(0, 3)).size).toBe(1);
    expect(asked[0]).toBe(`cron:job@${Date.UTC(2030, 0, 1, 0, 0, 1)}`);
  });

  it("moves a recurring task it lost past the occurrence, and runs the next one it wins", async () => {
    let lose = true;
    const claims: TaskClaims = {
      claim: async () => {
        const won = !lose;
        lose = false;
        return won;
      },
    };
    const queue = await newQueue({ claims });
    const runs: number[] = [];
    queue.register("tick", () => {
      runs.push(Date.now());
    });
    const id = await queue.schedule({ type: "tick" }, { cron: EVERY_SECOND });
    await vi.advanceTimersByTimeAsync(600);
    expect(runs).toEqual([]);
    expect(queue.get(id)).toMatchObject({ status: "scheduled", nextRunAt: Date.UTC(2030, 0, 1, 0, 0, 2) });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toEqual([Date.UTC(2030, 0, 1, 0, 0, 2)]);
  });

  it("runs execute() and retries without claims", async () => {
    const claim = vi.fn(async () => false);
    const queue = await newQueue({ claims: { claim } });
    queue.register("flaky", (_payload, { attempt }) => {
      if (attempt === 1) throw new Error("first attempt fails");
      return attempt;
    });
    const done = queue.execute({ type: "flaky" });
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(done).resolves.toMatchObject({ status: "completed", result: 2 });
    expect(claim).not.toHaveBeenCalled();
  });
});
