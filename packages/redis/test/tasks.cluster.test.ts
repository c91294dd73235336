import { InMemoryAdapter } from "@openclaw/gateway";
import { type Harness, startGateway } from "@openclaw/gateway/testing";
import { TaskQueue, type TaskRecord } from "@openclaw/task-queue";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { connectRedisStoreClient, RedisTaskClaims, RedisTaskStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

/** Generous deadlines; nothing here asserts how fast. */
const DEADLINE = { timeout: 30_000, interval: 50 };

describe.skipIf(skipRedis)("tasks across instances (RedisTaskClaims)", () => {
  const fixture = useRedis();
  const gateways: Harness[] = [];
  const queues: TaskQueue[] = [];
  const clients: Redis[] = [];

  afterEach(async () => {
    for (const h of gateways.splice(0)) await h.stop().catch(() => {});
    for (const queue of queues.splice(0)) await queue.stop({ drainTimeoutMs: 1_000 });
    for (const redis of clients.splice(0)) redis.disconnect();
  });

  const client = async () => {
    const redis = await connectRedisStoreClient(fixture.server.url);
    clients.push(redis);
    return redis;
  };

  it("runs a cron job of every second once per tick across three gateways, for several ticks", async () => {
    const namespace = freshNamespace();
    /** Runs per tick (the occurrence's scheduled time), and who ran them. */
    const runs = new Map<number, string[]>();
    for (const id of ["a", "b", "c"]) {
      const claims = new RedisTaskClaims({ redis: await client(), instanceId: id, namespace });
      const h = await startGateway({
        testChannel: false,
        config: { cron: [{ id: "heartbeat", schedule: "* * * * * *", type: "noop" }] },
        adapter: new InMemoryAdapter({ instanceId: id }),
        gateway: { taskClaims: claims },
      });
      gateways.push(h);
      // When an attempt starts, its record still says which occurrence it is (nextRunAt).
      h.gateway.tasks.on("task.started", ({ taskId }) => {
        const tick = h.gateway.tasks.get(taskId)?.nextRunAt;
        if (typeof tick === "number") runs.set(tick, [...(runs.get(tick) ?? []), id]);
      });
    }
    // Every instance has the job in its own queue (its own state dir).
    for (const h of gateways) expect(h.gateway.tasks.list({ status: "scheduled" })).toHaveLength(1);

    await vi.waitFor(() => expect(runs.size).toBeGreaterThanOrEqual(5), DEADLINE);
    for (const h of gateways) await h.stop();
    gateways.splice(0);

    for (const [tick, by] of runs) {
      expect(tick % 1000).toBe(0);
      expect(by, `tick ${new Date(tick).toISOString()}`).toHaveLength(1);
    }
    // One claim in Redis for each tick that ran.
    const claimKeys = await fixture.redis.keys(`openclaw:${namespace}:claim:cron:heartbeat:*`);
    expect(claimKeys.length).toBeGreaterThanOrEqual(runs.size);
  });

  it("runs each one-off task of a shared RedisTaskStore once when three queues load it", async () => {
    const namespace = freshNamespace();
    const redis = await client();
    // Scheduled through a queue that never starts: the records land in the shared store.
    const producer = new TaskQueue({ store: new RedisTaskStore<TaskRecord>(redis, { namespace }) });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await producer.schedule({ type: "work", payload: { i } }));
    await producer.stop();

    const ran: string[] = [];
    for (const id of ["a", "b", "c"]) {
      const queue = new TaskQueue({
        store: new RedisTaskStore<TaskRecord>(redis, { namespace }),
        claims: new RedisTaskClaims({ redis, instanceId: id, namespace }),
      });
      queue.register("work", (_payload, { taskId }) => {
        ran.push(taskId);
      });
      queues.push(queue);
    }
    await Promise.all(queues.map((queue) => queue.start()));

    await vi.waitFor(async () => {
      const stored = await new RedisTaskStore<TaskRecord>(redis, { namespace }).load();
      expect(stored.filter((record) => record.status === "completed")).toHaveLength(20);
    }, DEADLINE);
    expect(ran.toSorted()).toEqual(ids.toSorted());
  });

  it("answers a typed retryable error when Redis cannot be reached", async () => {
    const redis = await client();
    redis.disconnect();
    const claims = new RedisTaskClaims({ redis, instanceId: "a", namespace: freshNamespace() });
    await expect(claims.claim("job@1")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "redis_unavailable", retryable: true },
    });
  });
});
