import { type DeliveryQueueHost, type DeliveryRecord, LocalLeases } from "@openclaw/backend";
import { FakePlatform, type RecordedRequest } from "@openclaw/channel-sdk/testing";
import { type Harness, startGateway } from "@openclaw/gateway/testing";
import type { GatewayClient } from "@openclaw/protocol";
import { connectRedisStoreClient, RedisDeliveryQueue, RedisLeases } from "@openclaw/redis";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { freshNamespace, skipRedis, useRedis } from "./harness";

/** Polls `check` until it holds, within a generous deadline. */
async function eventually(check: () => boolean | Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${deadlineMs} ms: ${check.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A loopback platform shared by every instance; its `POST /messages` can be held (answers wait). */
async function sharedPlatform(): Promise<{
  platform: FakePlatform;
  hold(): void;
  release(): void;
  /** Requests waiting for `release` now. */
  waiting(): number;
}> {
  let nextId = 1;
  let waiting = 0;
  let held: Promise<void> | undefined;
  let release = () => {};
  const platform = await FakePlatform.start({
    "GET /health": () => ({ body: { ok: true } }),
    "POST /messages": async () => {
      if (held !== undefined) {
        waiting++;
        await held;
        waiting--;
      }
      return { body: { id: `m-${nextId++}` } };
    },
  });
  return {
    platform,
    hold() {
      held ??= new Promise((resolve) => {
        release = resolve;
      });
    },
    release() {
      release();
      held = undefined;
    },
    waiting: () => waiting,
  };
}

/** One gateway instance of the test cluster, with the Redis links it owns. */
interface Instance {
  h: Harness;
  redis: Redis;
  subscriber: Redis;
  leases: RedisLeases;
  queue: RedisDeliveryQueue;
  client: GatewayClient;
  dead: boolean;
}

describe.skipIf(skipRedis)("cluster delivery: every message once", () => {
  const fixture = useRedis();
  const running: Instance[] = [];
  const platforms: FakePlatform[] = [];

  afterEach(async () => {
    for (const instance of running.splice(0)) {
      if (!instance.dead) await instance.h.stop();
      await instance.leases.close();
      instance.redis.disconnect();
      instance.subscriber.disconnect();
    }
    for (const platform of platforms.splice(0)) await platform.close();
  });

  async function startInstance(
    namespace: string,
    instanceId: string,
    platform: FakePlatform,
    options: { delivery?: object } = {},
  ): Promise<Instance> {
    const redis = await connectRedisStoreClient(fixture.server.url);
    const subscriber = await connectRedisStoreClient(fixture.server.url);
    const leases = new RedisLeases({ redis, instanceId, namespace, ttlMs: 1_500, renewMs: 200 });
    let queue: RedisDeliveryQueue | undefined;
    const h = await startGateway({
      testChannel: { baseUrl: platform.url },
      config: { delivery: { backoffBaseMs: 50, backoffMaxMs: 200, ...options.delivery } },
      gateway: {
        deliveryQueue: async ({ host }) => {
          queue = await RedisDeliveryQueue.open({
            ...{ redis, subscriber, instanceId, namespace, leases, host },
            pollMs: 100,
          });
          return queue;
        },
      },
    });
    const instance: Instance = {
      h,
      redis,
      subscriber,
      leases,
      queue: queue!,
      client: await h.client(),
      dead: false,
    };
    running.push(instance);
    return instance;
  }

  /** The `idempotency-key` (delivery id) and text of every message the platform received, in order. */
  function received(platform: FakePlatform): Array<{ id: string; to: string; text: string }> {
    return platform.requests
      .filter((request: RecordedRequest) => request.method === "POST" && request.path === "/messages")
      .map((request) => {
        const body = request.json as { to: string; text: string };
        return { id: request.headers["idempotency-key"] ?? "", to: body.to, text: body.text };
      });
  }

  it("delivers 1,000 sends accepted across three instances exactly once, in order per address, when the working instance dies mid-traffic", async () => {
    const namespace = freshNamespace();
    const shared = await sharedPlatform();
    platforms.push(shared.platform);
    const instances = [
      await startInstance(namespace, "a", shared.platform),
      await startInstance(namespace, "b", shared.platform),
      await startInstance(namespace, "c", shared.platform),
    ];
    await fixture.redis.config("RESETSTAT");
    const addresses = Array.from({ length: 10 }, (_, i) => `chat-${i}`);
    const perAddress = 100;
    const acknowledged = new Set<string>();
    let resent = 0;
    /** Sends one address's messages in order, each to the next instance, again elsewhere when one dies. */
    const sender = async (address: string, offset: number) => {
      for (let k = 0; k < perAddress; k++) {
        for (let attempt = 0; ; attempt++) {
          const alive = instances.filter((instance) => !instance.dead);
          const instance = alive[(k + offset + attempt) % alive.length]!;
          try {
            const result = await instance.client.request("message.send", {
              channel: "test",
              recipient: address,
              text: `${address}#${k}`,
              idempotencyKey: `${address}#${k}`,
            });
            acknowledged.add(result.deliveryId!);
            break;
          } catch (error) {
            // Only the killed instance may fail a send; the same idempotency key goes elsewhere.
            if (!instance.dead || attempt > 5) throw error;
            resent++;
          }
        }
      }
    };
    const senders = addresses.map((address, i) => sender(address, i));

    // Mid-traffic: hold the platform's answers once 300 messages arrived, until the worker has a
    // send in flight, then cut the worker off from Redis and stop it without draining.
    await eventually(() => received(shared.platform).length >= 300);
    shared.hold();
    await eventually(() => shared.waiting() > 0);
    const worker = instances.find((instance) => instance.queue.worked().includes("test"));
    expect(worker).toBeDefined();
    worker!.dead = true;
    worker!.redis.disconnect();
    worker!.subscriber.disconnect();
    const inFlightAtDeath = received(shared.platform).length;
    shared.release();
    await worker!.h.stop();

    await Promise.all(senders);
    const survivor = instances.find((instance) => !instance.dead)!;
    await eventually(async () => {
      const { counts } = await survivor.client.request("delivery.list", {});
      return counts.pending === 0 && new Set(received(shared.platform).map((m) => m.id)).size >= 1000;
    });

    const messages = received(shared.platform);
    const ids = new Set(messages.map((m) => m.id));
    expect(ids.size).toBe(1000);
    expect(acknowledged.size).toBe(1000);
    for (const id of acknowledged) expect(ids.has(id)).toBe(true);
    // One delivery id is always the same message.
    const textOf = new Map<string, string>();
    for (const m of messages) {
      expect(textOf.get(m.id) ?? m.text).toBe(m.text);
      textOf.set(m.id, m.text);
    }
    // In order per address: leaving out repeats of an id already received, each address's messages
    // arrive as #0, #1, #2, ...; a repeat is only ever of the message just before (the one in flight).
    let duplicates = 0;
    for (const address of addresses) {
      const seen = new Set<string>();
      const order: number[] = [];
      for (const m of messages.filter((message) => message.to === address)) {
        const k = Number(m.text.split("#")[1]);
        if (seen.has(m.id)) {
          duplicates++;
          expect(k).toBe(order.at(-1));
          continue;
        }
        seen.add(m.id);
        order.push(k);
      }
      expect(order).toEqual(Array.from({ length: perAddress }, (_, k) => k));
    }
    // The sends in flight when the worker died went out again (same id); at most one per address.
    expect(duplicates).toBeGreaterThanOrEqual(1);
    expect(duplicates).toBeLessThanOrEqual(addresses.length);
    const { counts } = await survivor.client.request("delivery.list", {});
    expect(counts).toEqual({ pending: 0, dead: 0 });
    const stats = Object.fromEntries(
      [...(await fixture.redis.info("commandstats")).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [
        m[1],
        Number(m[2]),
      ]),
    );
    const perSend = (name: string) => ((stats[name] ?? 0) / 1000).toFixed(2);
    console.log(
      `[delivery.cluster] Redis calls per send (whole cluster, leases included): eval ${perSend("eval")}, ` +
        `zrangebyscore ${perSend("zrangebyscore")}, zrange ${perSend("zrange")}, hmget ${perSend("hmget")}, ` +
        `smembers ${perSend("smembers")}`,
    );
    console.log(
      `[delivery.cluster] 1000 sends, ${messages.length} platform requests, ${ids.size} distinct delivery ids, ` +
        `${duplicates} repeats (same delivery id) after the worker died with ${inFlightAtDeath} received, ` +
        `${resent} sends re-sent to another instance by their client`,
    );
  }, 120_000);

  it("answers a sender on one instance with the outcome of the attempt made on another, and lists the queue cluster-wide", async () => {
    const namespace = freshNamespace();
    const shared = await sharedPlatform();
    platforms.push(shared.platform);
    const a = await startInstance(namespace, "a", shared.platform, {
      delivery: { backoffBaseMs: 60_000, backoffMaxMs: 60_000 },
    });
    // Make `a` the worker of "test" before `b` starts.
    await a.client.request("message.send", { channel: "test", recipient: "warm", text: "up" });
    expect(a.queue.worked()).toEqual(["test"]);
    const b = await startInstance(namespace, "b", shared.platform, {
      delivery: { backoffBaseMs: 60_000, backoffMaxMs: 60_000 },
    });
    expect(b.queue.worked()).toEqual([]);

    const sent = await b.client.request("message.send", { channel: "test", recipient: "chat-1", text: "hi" });
    expect(sent).toMatchObject({ status: "sent", messageId: expect.stringMatching(/^m-/) });
    expect(received(shared.platform).at(-1)).toMatchObject({ id: sent.deliveryId, text: "hi" });

    // Refused for good on a (no such chat): b's sender gets the typed error, nothing is kept.
    shared.platform.failNext({ status: 404 });
    await expect(
      b.client.request("message.send", { channel: "test", recipient: "nobody", text: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });

    // The platform is down: b's sender hears `queued`, and b lists what a retries.
    shared.platform.failNext({ status: 503 });
    const queued = await b.client.request("message.send", {
      channel: "test",
      recipient: "chat-2",
      text: "later",
    });
    expect(queued).toMatchObject({ status: "queued" });
    const behind = await b.client.request("message.send", {
      channel: "test",
      recipient: "chat-2",
      text: "after",
    });
    expect(behind).toMatchObject({ status: "queued" });
    const listed = await b.client.request("delivery.list", { channel: "test" });
    expect(listed.counts).toEqual({ pending: 2, dead: 0 });
    expect(listed.deliveries.map((d) => d.content.text)).toEqual(["later", "after"]);
    expect(listed.deliveries[0]).toMatchObject({ attempts: 1, lastError: { code: "PLATFORM_UNAVAILABLE" } });

    // delivery.retry on b makes it due now on a; both go out, in order.
    await b.client.request("delivery.retry", { id: queued.deliveryId! });
    await eventually(async () => (await b.client.request("delivery.list", {})).counts.pending === 0);
    expect(
      received(shared.platform)
        .map((m) => m.text)
        .filter((t) => t === "later" || t === "after"),
    ).toEqual(["later", "later", "after"]);
  }, 60_000);

  it("refuses the writes of a worker whose lease was taken over (fencing), and the new holder finishes its message", async () => {
    const namespace = freshNamespace();
    const sends: Array<{ by: string; id: string }> = [];
    let releaseA = () => {};
    const aHeld = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    const sentOn: string[] = [];
    const host = (by: string, gate?: Promise<void>): DeliveryQueueHost => ({
      logger: { debug() {}, info() {}, warn() {}, error() {} } as unknown as DeliveryQueueHost["logger"],
      config: () => ({
        maxAttempts: 3,
        backoffBaseMs: 10,
        backoffMaxMs: 10,
        maxQueued: 100,
        maxDeadLetters: 10,
        idempotencyWindowMs: 60_000,
        maxIdempotencyKeys: 100,
        inboundDedupeWindowMs: 60_000,
        maxInboundDedupeIds: 100,
      }),
      send: async (record: DeliveryRecord) => {
        sends.push({ by, id: record.id });
        await gate;
        return { messageId: `${by}-${record.id}` };
      },
      onSent: (record) => void sentOn.push(`${by}:${record.id}`),
      onDead: () => {},
    });
    // a holds the lease with token 1; b's provider grants token 2 (a later holder).
    const aLeases = new LocalLeases();
    const bLeases = new LocalLeases();
    await bLeases.tryAcquire("warm-up");
    const redisA = await connectRedisStoreClient(fixture.server.url);
    const redisB = await connectRedisStoreClient(fixture.server.url);
    const a = await RedisDeliveryQueue.open({
      ...{ redis: redisA, instanceId: "a", namespace, leases: aLeases, host: host("a", aHeld) },
      pollMs: 50,
      outcomeWaitMs: 200,
    });
    const first = await a.enqueue({ channel: "x", address: "one", content: { text: "1" }, id: "d-1" });
    expect(first).toMatchObject({ status: "queued", reason: "awaiting_worker" });
    await eventually(() => sends.length === 1);
    const b = await RedisDeliveryQueue.open({
      ...{ redis: redisB, instanceId: "b", namespace, leases: bLeases, host: host("b") },
      pollMs: 50,
    });
    await eventually(() => sentOn.includes("b:d-1"), 10_000);
    expect(b.worked()).toEqual(["x"]);
    releaseA();
    await eventually(() => a.worked().length === 0, 10_000);
    expect(sentOn).toEqual(["b:d-1"]); // a's late success was fenced off: recorded by b only
    expect(sends).toEqual([
      { by: "a", id: "d-1" },
      { by: "b", id: "d-1" },
    ]);
    expect(await b.counts()).toEqual({ pending: 0, dead: 0 });
    // The delivered id is remembered: enqueueing it again does not send it again.
    expect(
      await b.enqueue({ channel: "x", address: "one", content: { text: "1" }, id: "d-1" }),
    ).toMatchObject({
      status: "queued",
      reason: "already_delivered",
    });
    await a.close();
    await b.close();
    redisA.disconnect();
    redisB.disconnect();
  }, 30_000);
});
