import { InMemoryAdapter } from "@openclaw/backend";
import { type Harness, startGateway } from "@openclaw/gateway/testing";
import { connectRedisStoreClient, RedisChangeFeed, RedisTaskClaims, RedisTaskStore } from "@openclaw/redis";
import {
  type TaskEvent,
  TaskQueue,
  type TaskQueueOptions,
  type TaskRecord,
  type TaskStore,
} from "@openclaw/task-queue";
import { runTaskStoreConformance, sampleTaskRecord } from "@openclaw/task-queue/testing";
import type { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { freshNamespace, skipRedis, useRedis } from "./harness";

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

describe.skipIf(skipRedis)("RedisTaskStore with a change feed", () => {
  const fixture = useRedis();
  const feeds: RedisChangeFeed[] = [];
  const namespaces = new WeakMap<TaskStore, string>();
  afterAll(async () => {
    for (const feed of feeds.splice(0)) await feed.close();
  });
  const open = async (namespace: string): Promise<TaskStore> => {
    const feed = new RedisChangeFeed(fixture.redis, { namespace });
    feeds.push(feed);
    await feed.ready();
    const store: TaskStore = new RedisTaskStore<TaskRecord>(fixture.redis, { namespace, feed });
    namespaces.set(store, namespace);
    return store;
  };
  runTaskStoreConformance({
    name: "RedisTaskStore (shared, with a feed)",
    open: () => open(freshNamespace()),
    reopen: (closed) => open(namespaces.get(closed) ?? freshNamespace()),
  });

  it("reports the other writers' changes in order, never its own, and inserts an id once", async () => {
    const namespace = freshNamespace();
    const [a, b] = [await open(namespace), await open(namespace)];
    const seen: unknown[] = [];
    b.watch!((change) => seen.push(change));
    await b.load();
    await a.put(sampleTaskRecord("t1"));
    await b.put(sampleTaskRecord("t2"));
    await a.put(sampleTaskRecord("t1", { status: "running", attempts: 1 }));
    await a.delete("t1");
    expect(await a.putIfAbsent!(sampleTaskRecord("t2", { status: "failed" }))).toBe(false);
    expect(await a.putIfAbsent!(sampleTaskRecord("t3"))).toBe(true);
    await vi.waitFor(() => expect(seen).toHaveLength(4), DEADLINE);
    expect(seen).toEqual([
      { kind: "put", record: sampleTaskRecord("t1") },
      { kind: "put", record: sampleTaskRecord("t1", { status: "running", attempts: 1 }) },
      { kind: "delete", id: "t1" },
      { kind: "put", record: sampleTaskRecord("t3") },
    ]);
    expect((await b.load()).map((record) => [record.id, record.status])).toEqual([
      ["t2", "scheduled"],
      ["t3", "scheduled"],
    ]);
  });

  it("has no watch without a feed (a queue treats it as its own)", () => {
    const store: TaskStore = new RedisTaskStore<TaskRecord>(fixture.redis, { namespace: freshNamespace() });
    expect(store.watch).toBeUndefined();
    expect(store.putIfAbsent).toBeUndefined();
  });
});

describe.skipIf(skipRedis)("tasks shared by the instances (RedisTaskStore with a feed)", () => {
  const fixture = useRedis();
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of opened.splice(0).reverse()) await close().catch(() => {});
  });

  /** One instance: its own client, feed, store, claims and queue (not started). */
  const instance = async (namespace: string, id: string, options: Partial<TaskQueueOptions> = {}) => {
    const redis = await connectRedisStoreClient(fixture.server.url);
    const feed = new RedisChangeFeed(redis, { namespace });
    await feed.ready();
    const queue = new TaskQueue({
      store: new RedisTaskStore<TaskRecord>(redis, { namespace, feed }),
      claims: new RedisTaskClaims({ redis, instanceId: id, namespace }),
      retryDelayMs: 50,
      ...options,
    });
    opened.push(async () => {
      await queue.stop({ drainTimeoutMs: 1_000 });
      await feed.close();
      redis.disconnect();
    });
    const events: Record<string, TaskEvent[]> = {};
    for (const name of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const) {
      events[name] = [];
      queue.on(name, (event) => events[name]?.push(event));
    }
    return { id, queue, events };
  };
  const three = (namespace: string, options?: Partial<TaskQueueOptions>) =>
    Promise.all(["a", "b", "c"].map((id) => instance(namespace, id, options)));
  const count = (events: Record<string, TaskEvent[]>[], name: string) =>
    events.reduce((sum, e) => sum + (e[name]?.length ?? 0), 0);

  it("runs each task scheduled on A once on B or C after A is gone, and lists it on both", async () => {
    const namespace = freshNamespace();
    const [a, b, c] = await three(namespace);
    const ran: Array<[string, string]> = [];
    for (const { id, queue } of [b!, c!])
      queue.register("work", (_payload, { taskId }) => void ran.push([taskId, id]));
    // A accepts the tasks but never runs them (no handler), then stops for good.
    await Promise.all([a!, b!, c!].map(({ queue }) => queue.start()));
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push(await a!.queue.schedule({ type: "work", payload: { i } }, { delayMs: 500 }));
    await a!.queue.stop();

    await vi.waitFor(() => {
      for (const { queue } of [b!, c!])
        expect(
          queue
            .list({ status: "completed" })
            .map((record) => record.id)
            .toSorted(),
        ).toEqual(ids.toSorted());
    }, DEADLINE);
    expect(ran.map(([taskId]) => taskId).toSorted()).toEqual(ids.toSorted());
    expect(count([b!.events, c!.events], "task.completed")).toBe(20);
  });

  it("cancels on B a task scheduled on A, before it runs and while it runs on another instance", async () => {
    const namespace = freshNamespace();
    const instances = await three(namespace);
    const aborted: string[] = [];
    for (const { id, queue } of instances) {
      queue.register("block", (_payload, { signal }) => {
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            aborted.push(id);
            reject(signal.reason);
          }),
        );
      });
      await queue.start();
    }
    const [a, b, c] = instances;
    const later = await a!.queue.schedule({ type: "block" }, { delayMs: 3_600_000 });
    await vi.waitFor(() => expect(b!.queue.get(later)?.status).toBe("scheduled"), DEADLINE);
    expect(await b!.queue.cancel(later)).toBe(true);
    await vi.waitFor(() => {
      for (const { queue } of instances) expect(queue.get(later)?.status).toBe("cancelled");
    }, DEADLINE);

    const now = await a!.queue.schedule({ type: "block" });
    await vi.waitFor(
      () =>
        expect(
          count(
            instances.map((i) => i.events),
            "task.started",
          ),
        ).toBe(1),
      DEADLINE,
    );
    const runner = instances.find((i) => (i.events["task.started"]?.length ?? 0) === 1)!;
    const other = runner === b ? c! : b!;
    await vi.waitFor(() => expect(other.queue.get(now)?.status).toBe("running"), DEADLINE);
    expect(await other.queue.cancel(now)).toBe(true);
    await vi.waitFor(() => expect(aborted).toEqual([runner.id]), DEADLINE);
    await vi.waitFor(() => {
      for (const { queue } of instances) expect(queue.get(now)?.status).toBe("cancelled");
    }, DEADLINE);
    expect(
      count(
        instances.map((i) => i.events),
        "task.cancelled",
      ),
    ).toBe(2);
    expect(
      count(
        instances.map((i) => i.events),
        "task.completed",
      ),
    ).toBe(0);
  });

  it("runs once more, on one instance, a task a dead instance left running or claimed", async () => {
    const namespace = freshNamespace();
    const stale = { staleRunGraceMs: 200, staleCheckMs: 50 };
    const [a, b, c] = await three(namespace, stale);
    // What a dead instance left: one task running since long ago, one it claimed and never started.
    const store = new RedisTaskStore<TaskRecord>(fixture.redis, { namespace });
    const long = Date.now() - 60_000;
    await store.put(
      sampleTaskRecord("left-running", {
        type: "work",
        status: "running",
        attempts: 1,
        maxAttempts: 1,
        timeoutMs: 1_000,
        nextRunAt: long,
        lastRunAt: long,
        updatedAt: long,
      }),
    );
    await store.put(
      sampleTaskRecord("left-claimed", { type: "work", nextRunAt: Date.now(), timeoutMs: 1_000 }),
    );
    await fixture.redis.set(`openclaw:${namespace}:claim:left-claimed@once`, "dead");
    const ran: string[] = [];
    for (const { queue } of [a!, b!, c!]) {
      queue.register("work", (_payload, { taskId }) => void ran.push(taskId));
      await queue.start();
    }
    await vi.waitFor(() => {
      for (const { queue } of [a!, b!, c!]) {
        expect(queue.get("left-running")?.status).toBe("completed");
        expect(queue.get("left-claimed")?.status).toBe("completed");
      }
    }, DEADLINE);
    expect(ran.toSorted()).toEqual(["left-claimed", "left-running"]);
  });

  it("makes one task of one idempotency key scheduled on every instance at once", async () => {
    const namespace = freshNamespace();
    const instances = await three(namespace);
    await Promise.all(instances.map(({ queue }) => queue.start()));
    const ids = await Promise.all(
      instances.map(({ queue }) =>
        queue.schedule({ type: "work", idempotencyKey: "daily" }, { every: 3_600_000 }),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    await vi.waitFor(() => {
      for (const { queue } of instances) expect(queue.list().map((record) => record.id)).toEqual([ids[0]]);
    }, DEADLINE);
    expect(await new RedisTaskStore<TaskRecord>(fixture.redis, { namespace }).load()).toHaveLength(1);
  });

  it("refuses to start a queue on a shared store without claims", async () => {
    const namespace = freshNamespace();
    const feed = new RedisChangeFeed(fixture.redis, { namespace });
    opened.push(() => feed.close());
    const queue = new TaskQueue({
      store: new RedisTaskStore<TaskRecord>(fixture.redis, { namespace, feed }),
    });
    await expect(queue.start()).rejects.toMatchObject({
      code: "INVALID_PARAMS",
      details: { reason: "claims_required" },
    });
  });

  it("gives three gateways one cron task, run once per tick", async () => {
    const namespace = freshNamespace();
    const gateways: Harness[] = [];
    opened.push(async () => {
      for (const h of gateways) await h.stop();
    });
    const runs = new Map<number, string[]>();
    await Promise.all(
      ["a", "b", "c"].map(async (id) => {
        const redis = await connectRedisStoreClient(fixture.server.url);
        const feed = new RedisChangeFeed(redis, { namespace });
        opened.push(async () => {
          await feed.close();
          redis.disconnect();
        });
        await feed.ready();
        const h = await startGateway({
          testChannel: false,
          config: { cron: [{ id: "heartbeat", schedule: "* * * * * *", type: "noop" }] },
          adapter: new InMemoryAdapter({ instanceId: id }),
          gateway: {
            taskClaims: new RedisTaskClaims({ redis, instanceId: id, namespace }),
            taskStore: () => new RedisTaskStore<TaskRecord>(redis, { namespace, feed }),
          },
        });
        gateways.push(h);
        h.gateway.tasks.on("task.started", ({ taskId }) => {
          const tick = h.gateway.tasks.get(taskId)?.nextRunAt;
          if (typeof tick === "number") runs.set(tick, [...(runs.get(tick) ?? []), id]);
        });
      }),
    );
    await vi.waitFor(() => expect(runs.size).toBeGreaterThanOrEqual(4), DEADLINE);
    const stored = await new RedisTaskStore<TaskRecord>(fixture.redis, { namespace }).load();
    expect(stored.map((record) => record.idempotencyKey)).toEqual([
      expect.stringMatching(/^cron:heartbeat:/),
    ]);
    for (const h of gateways)
      expect(h.gateway.tasks.list().map((record) => record.id)).toEqual([stored[0]!.id]);
    for (const [tick, by] of runs) expect(by, `tick ${new Date(tick).toISOString()}`).toHaveLength(1);
  });
});
