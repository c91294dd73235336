import type { GatewayClient, TaskInfo } from "@openclaw/protocol";
import { describe, expect, it } from "vitest";
import { clusterTestsAvailable, collect, connect, poll, startInstance, useCluster } from "./cluster-process";
import { kill9, until } from "./gateway-process";

// Issue 17, "every job once", end to end: a task accepted by one `openclaw gateway` process of three
// lives in the task store they share on Redis, so it runs once, on a live instance, after the
// accepting instance is SIGKILLed; `task.list` and `task.cancel` on another instance see it.

const available = await clusterTestsAvailable();
const { newCluster } = useCluster("cluster-tasks", available);

async function listTasks(client: GatewayClient): Promise<TaskInfo[]> {
  const page = (await client.request("task.list", { limit: 1000 })) as { tasks: TaskInfo[] };
  return page.tasks;
}

describe.skipIf(!available)("cluster mode: every job once, whichever instance accepted it", () => {
  it("runs each of 20 tasks scheduled on A exactly once on B or C after A is SIGKILLed", async () => {
    const setup = newCluster();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
    const onA = await connect(setup, a!);
    const onB = await connect(setup, b!);
    const onC = await connect(setup, c!);
    // Task events are broadcast to every instance's clients: B's client sees C's runs too.
    const completed = collect(onB, "task.completed") as Array<{ taskId: string }>;
    const started = collect(onB, "task.started") as Array<{ taskId: string }>;

    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { taskId } = (await onA.request("task.schedule", {
        type: "noop",
        payload: { i },
        delayMs: 8_000,
      })) as { taskId: string };
      ids.push(taskId);
    }
    const { taskId: later } = (await onA.request("task.schedule", {
      type: "noop",
      delayMs: 3_600_000,
    })) as { taskId: string };
    // B lists what A accepted before A dies (and A has not run any of it yet).
    const listedOnB = await poll(
      () => listTasks(onB),
      (tasks) => tasks.length === 21,
    );
    expect(listedOnB.map((task) => task.taskId).toSorted()).toEqual([...ids, later].toSorted());
    expect(started).toEqual([]);
    await kill9(a!.child);

    await until(() => completed.length >= 20, "20 task.completed events", 60_000);
    const onBList = await poll(
      () => listTasks(onB),
      (tasks) => tasks.filter((task) => task.status === "completed").length === 20,
    );
    expect(
      onBList
        .filter((task) => task.status === "completed")
        .map((task) => task.taskId)
        .toSorted(),
    ).toEqual(ids.toSorted());
    for (const task of onBList.filter((task) => task.status === "completed")) expect(task.attempts).toBe(1);

    // Cancelled on C although A accepted it: cancelled on B too, and never run.
    expect(await onC.request("task.cancel", { taskId: later })).toEqual({ cancelled: true });
    const afterCancel = await poll(
      () => listTasks(onB),
      (tasks) => tasks.find((task) => task.taskId === later)?.status === "cancelled",
    );
    expect(afterCancel.find((task) => task.taskId === later)?.status).toBe("cancelled");

    // A marker task run after all of them: the events of any second run would have come by now.
    const { taskId: marker } = (await onC.request("task.schedule", { type: "noop" })) as { taskId: string };
    await until(() => completed.some((event) => event.taskId === marker), "the marker task", 30_000);
    const runs = completed.map((event) => event.taskId).filter((id) => id !== marker);
    expect(runs.toSorted()).toEqual(ids.toSorted());
    expect(
      started
        .map((event) => event.taskId)
        .filter((id) => id !== marker)
        .toSorted(),
    ).toEqual(ids.toSorted());
  }, 180_000);

  it("keeps one task per cron job however many instances reconcile it", async () => {
    const setup = newCluster({ cron: [{ id: "hourly", schedule: "0 * * * *", type: "noop" }] });
    const instances = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
    for (const instance of instances) {
      const client = await connect(setup, instance);
      const tasks = await poll(
        () => listTasks(client),
        (list) => list.length === 1,
      );
      expect(tasks.map((task) => task.name)).toEqual(["cron hourly"]);
    }
  }, 120_000);
});
