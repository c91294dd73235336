import type { BackendLogger, DeliveryQueueHost, NodeHost } from "@openclaw/backend";
import { DeliverySectionSchema } from "@openclaw/config";
import { Redis } from "ioredis";
import * as v from "valibot";
import { afterEach, describe, expect, it } from "vitest";
import {
  ClusterMembership,
  MALFORMED_MESSAGE_WARNING,
  MalformedMessages,
  RedisChangeFeed,
  RedisDeliveryQueue,
  RedisDeviceStore,
  RedisKeyStore,
  RedisLeases,
  RedisNodeBus,
  RedisRecordStore,
  RedisTaskStore,
} from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

// Issue 29, item 1: every receiver of Redis data checks what it reads; a malformed message is
// dropped with one rate-limited warning and nothing a listener throws reaches ioredis (where it
// would end the process: vitest reports it as an uncaught exception and fails the file).

/** Messages no receiver can use, whatever its format. */
const GARBAGE = ["null", "{}", "[]", "42", '"text"', "{not json", JSON.stringify({ sync: null })];

/** A logger that keeps the malformed-message warnings. */
function warnings() {
  const seen: Array<Record<string, unknown>> = [];
  const warn = (object: object, message: string) => {
    if (message === MALFORMED_MESSAGE_WARNING) seen.push(object as Record<string, unknown>);
  };
  return {
    seen,
    malformed: (source: string) => seen.filter((fields) => fields.source === source),
    logger: { warn },
    /** The same, as a whole backend logger (the other levels go nowhere). */
    backendLogger: { debug: () => {}, info: () => {}, warn: warn as BackendLogger["warn"], error: () => {} },
  };
}

/** Polls `check` until it holds, within a generous deadline. */
async function eventually(check: () => boolean | Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${deadlineMs} ms: ${check.toString()}`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

describe("MalformedMessages", () => {
  it("warns at once, then at most once per interval with the count it held back; a guarded listener never throws", () => {
    let now = 1_000;
    const { seen, logger } = warnings();
    const malformed = new MalformedMessages({ source: "test", logger, warnIntervalMs: 500, now: () => now });
    expect(malformed.parse(v.object({ a: v.string() }), "null", "ch")).toBeUndefined();
    expect(malformed.parse(v.object({ a: v.string() }), "{oops")).toBeUndefined();
    expect(malformed.parse(v.object({ a: v.string() }), '{"a":"ok"}')).toEqual({ a: "ok" });
    malformed.guard(() => {
      throw new TypeError("boom");
    })();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ source: "test", channel: "ch", sample: "null" });
    now += 500;
    malformed.drop("late", { message: "x".repeat(1_000) });
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatchObject({ reason: "late", droppedWithoutWarning: 2 });
    expect(String(seen[1]!.sample).length).toBeLessThan(200);
    expect(malformed.dropped).toBe(4);
  });
});

describe.skipIf(skipRedis)("receivers of Redis data drop what is malformed", () => {
  const fixture = useRedis();
  const closers: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A plain client that publishes what a hostile writer would. */
  function publisher(): Redis {
    const redis = new Redis(fixture.server.url);
    closers.push(() => redis.disconnect());
    return redis;
  }

  it("the change feed and its stores: no crash, nothing applied, one warning; real notices still apply", async () => {
    const namespace = freshNamespace();
    const log = warnings();
    const feed = new RedisChangeFeed(fixture.redis, { namespace, logger: log.logger });
    closers.push(() => feed.close());
    await feed.ready();
    const writerFeed = new RedisChangeFeed(fixture.redis, { namespace });
    closers.push(() => writerFeed.close());
    const stores = { namespace, feed };
    const records = await RedisRecordStore.open<{ id: string; text: string }>(fixture.redis, {
      ...stores,
      name: "history",
    });
    const keys = await RedisKeyStore.open<number>(fixture.redis, {
      ...stores,
      name: "dedupe",
      limits: () => ({ maxEntries: 100, ttlMs: 60_000 }),
    });
    const tasks = new RedisTaskStore<{ id: string }>(fixture.redis, stores);
    const devices = new RedisDeviceStore(fixture.redis, stores);
    closers.push(
      () => records.close(),
      () => keys.close(),
    );
    const taskChanges: unknown[] = [];
    tasks.watch?.((change) => taskChanges.push(change));
    await tasks.load();
    const deviceChanges: unknown[] = [];
    devices.watch((change) => deviceChanges.push(change));
    await devices.load();

    const ns = `openclaw:${namespace}:`;
    const recordsKey = `${ns}records:history:data`;
    const keysKey = `${ns}keys:dedupe:order`;
    const tasksKey = `${ns}tasks:data`;
    const redis = publisher();
    const hostile = [
      ...GARBAGE,
      JSON.stringify({ s: 5, w: "x" }),
      JSON.stringify({ s: recordsKey, w: "x", v: 1e9, id: "r1", r: "null" }),
      JSON.stringify({ s: recordsKey, w: "x", v: 1e9, id: "r1", r: JSON.stringify({ id: "other" }) }),
      JSON.stringify({ s: recordsKey, w: "x", v: "high", id: "r1", r: JSON.stringify({ id: "r1" }) }),
      JSON.stringify({ s: keysKey, w: "x", k: "k1", e: "{not json" }),
      JSON.stringify({ s: keysKey, w: "x", k: "k1", e: JSON.stringify({ at: "yesterday", value: 1 }) }),
      JSON.stringify({ s: tasksKey, w: "x", v: 1e9, id: "t1", r: "[]" }),
      JSON.stringify({ s: devices.key, w: "x", v: 1e9, c: [["node-1", "x"], null] }),
      JSON.stringify({ s: devices.key, w: "x", v: "1", c: [] }),
    ];
    for (const message of hostile) await redis.publish(feed.channel, message);
    await feed.sync();
    expect(records.get("r1")).toBeUndefined();
    expect(keys.get("k1")).toBeUndefined();
    expect(taskChanges).toEqual([]);
    expect(deviceChanges).toEqual([]);
    expect(log.malformed("change feed")).toHaveLength(1);

    // Another instance's real writes still reach the mirrors.
    const writer = await RedisRecordStore.open<{ id: string; text: string }>(fixture.redis, {
      namespace,
      feed: writerFeed,
      name: "history",
    });
    closers.push(() => writer.close());
    await writer.put({ id: "r2", text: "hello" });
    await feed.sync();
    expect(records.get("r2")).toEqual({ id: "r2", text: "hello" });
  });

  it("the delivery queue's outcome listener: no crash, one warning; a sender still gets its outcome", async () => {
    const namespace = freshNamespace();
    const log = warnings();
    const logger = log.backendLogger;
    const config = v.parse(DeliverySectionSchema, {});
    const host: DeliveryQueueHost = {
      send: async () => ({ messageId: "m-1" }),
      config: () => config,
      onSent: () => {},
      onDead: () => {},
      logger,
    };
    const leases = new RedisLeases({ redis: fixture.redis, instanceId: "gw-a", namespace });
    closers.push(() => leases.close());
    const queue = await RedisDeliveryQueue.open({
      redis: fixture.redis,
      instanceId: "gw-a",
      leases,
      host,
      namespace,
    });
    closers.push(() => queue.close());
    const redis = publisher();
    const channel = `openclaw:${namespace}:delivery:outcome:gw-a`;
    const hostile = [
      ...GARBAGE,
      JSON.stringify({ deliveryId: 7, status: "sent" }),
      JSON.stringify({ deliveryId: "d", status: "sent" }),
      JSON.stringify({ deliveryId: "d", status: "failed", error: null }),
      JSON.stringify({ deliveryId: "d", status: "failed", error: { code: "NO_SUCH_CODE", message: "x" } }),
    ];
    for (const message of hostile) await redis.publish(channel, message);
    await redis.publish(`openclaw:${namespace}:delivery:wake`, "\u0000|||");
    const outcome = await queue.enqueue({ channel: "test", address: "a-1", content: { text: "hi" } });
    expect(outcome).toMatchObject({ status: "sent", messageId: "m-1" });
    await eventually(() => log.malformed("delivery outcome").length > 0);
    expect(log.malformed("delivery outcome")).toHaveLength(1);
  });

  it("the delivery queue leaves out stored records it cannot read: its channel's queue still runs", async () => {
    const namespace = freshNamespace();
    const log = warnings();
    const logger = log.backendLogger;
    const config = v.parse(DeliverySectionSchema, {});
    const sent: string[] = [];
    const host: DeliveryQueueHost = {
      send: async (record) => {
        sent.push(record.id);
        return { messageId: `m-${record.id}` };
      },
      config: () => config,
      onSent: () => {},
      onDead: () => {},
      logger,
    };
    // Someone else's values in the queue's hash, listed as pending on the channel (and one dead).
    const redis = publisher();
    const key = (name: string) => `openclaw:${namespace}:delivery:${name}`;
    const corrupt = {
      bad1: "{not json",
      bad2: "null",
      bad3: JSON.stringify({ id: "bad3", channel: "test" }),
    };
    await redis.hset(key("records"), corrupt);
    await redis.hset(key("records"), "bad4", JSON.stringify({ id: "other-id", status: "dead" }));
    await redis.zadd(key("pending:test"), 1, "bad1", 2, "bad2", 3, "bad3");
    await redis.zadd(key("dead"), 4, "bad4");
    await redis.sadd(key("channels"), "test");
    await redis.set(key("seq"), "10");
    const leases = new RedisLeases({ redis: fixture.redis, instanceId: "gw-a", namespace });
    closers.push(() => leases.close());
    const queue = await RedisDeliveryQueue.open({
      redis: fixture.redis,
      instanceId: "gw-a",
      leases,
      host,
      namespace,
    });
    closers.push(() => queue.close());
    const outcome = await queue.enqueue({ channel: "test", address: "a-1", content: { text: "hi" } });
    expect(outcome).toMatchObject({ status: "sent" });
    expect(sent).toHaveLength(1);
    expect(await queue.list({ limit: 100 })).toEqual([]);
    expect(await queue.retry("bad1")).toBeUndefined();
    expect(await queue.drop("bad4")).toBe(false);
    await eventually(() => log.malformed("delivery record").length > 0);
    expect(log.malformed("delivery record")).toHaveLength(1);
    expect(log.malformed("delivery record")[0]!.droppedWithoutWarning).toBeUndefined();
  });

  it("the node bus: malformed presence notices, entries and calls are dropped with one warning each", async () => {
    const namespace = freshNamespace();
    const log = warnings();
    const membership = new ClusterMembership({ redis: fixture.redis, instanceId: "gw-a", namespace });
    await membership.start();
    closers.push(() => membership.stop());
    const bus = new RedisNodeBus({
      redis: fixture.redis,
      instanceId: "gw-a",
      namespace,
      membership,
      logger: log.logger,
    });
    const registry = {
      list: () => [],
      get: () => undefined,
      on: () => {},
      off: () => {},
      invoke: async () => "answer",
    };
    const host = { registry, reconnectGraceMs: () => 0 } as unknown as NodeHost;
    const redis = publisher();
    // A corrupt entry in the presence hash, read at start.
    await redis.hset(
      bus.nodesKey,
      "bad-1",
      "{not json",
      "bad-2",
      JSON.stringify({ i: "gw-b", n: { nodeId: 3 } }),
    );
    await bus.start(host);
    closers.push(() => bus.close());
    const hostile = [
      ...GARBAGE,
      JSON.stringify({ k: "on", i: "gw-b", n: null }),
      JSON.stringify({ k: "on", i: "gw-b", n: { nodeId: "n-1", capabilities: "all" } }),
      JSON.stringify({ k: "off", i: 3 }),
      JSON.stringify({ i: "gw-b", q: [null, ["id", "node", "m", "soon", null]], r: [["id", 0, null]] }),
      JSON.stringify({ i: "gw-b", r: "nothing" }),
    ];
    for (const message of hostile) {
      await redis.publish(bus.presenceChannel, message);
      await redis.publish(bus.channel, message);
    }
    // A well-formed call after them is still served (one channel: in order).
    const replies: string[] = [];
    const caller = new Redis(fixture.server.url);
    closers.push(() => caller.disconnect());
    caller.on("message", (_channel: string, message: string) => replies.push(message));
    await caller.subscribe(`openclaw:${namespace}:rpc:gw-b`);
    await redis.publish(bus.channel, JSON.stringify({ i: "gw-b", q: [["c-1", "n-1", "ping", 1000, null]] }));
    await eventually(() => replies.length > 0);
    expect(JSON.parse(replies[0]!)).toEqual({ i: "gw-a", r: [["c-1", 1, "answer"]] });
    expect(bus.list()).toEqual([]);
    expect(log.malformed("node presence")).toHaveLength(1);
    expect(log.malformed("node bus")).toHaveLength(1);
  });

  it("stores leave out stored values they did not write, with one warning per store, and keep the good ones", async () => {
    const namespace = freshNamespace();
    const log = warnings();
    const ns = `openclaw:${namespace}:`;
    const redis = fixture.redis;
    const writer = await RedisRecordStore.open<{ id: string; text: string }>(redis, {
      namespace,
      name: "history",
    });
    await writer.put({ id: "r-good", text: "kept" });
    await writer.close();
    await redis.hset(
      `${ns}records:history:data`,
      "r-1",
      "{not json",
      "r-2",
      "null",
      "r-3",
      JSON.stringify({ id: "r-9" }),
    );
    await redis.zadd(`${ns}records:history:order`, 10, "r-1", 11, "r-2", 12, "r-3");
    await redis.set(`${ns}keys:dedupe:v:k-1`, JSON.stringify({ at: "yesterday", value: 1 }));
    await redis.zadd(`${ns}keys:dedupe:order`, 1, "k-1");
    await redis.hset(`${ns}tasks:data`, "t-1", "42");
    await redis.zadd(`${ns}tasks:order`, 1, "t-1");
    await redis.hset(
      `${ns}devices`,
      "node-1",
      "{not json",
      "node-2",
      JSON.stringify({ nodeId: "node-3", tokenHash: "h" }),
    );
    await redis.zadd(`${ns}devices:order`, 1, "node-1", 2, "node-2");
    await redis.set(`${ns}devices:version`, "1");

    const stores = { namespace, logger: log.logger };
    const records = await RedisRecordStore.open<{ id: string; text: string }>(redis, {
      ...stores,
      name: "history",
    });
    closers.push(() => records.close());
    expect([...records.values()]).toEqual([{ id: "r-good", text: "kept" }]);
    const keys = await RedisKeyStore.open<number>(redis, {
      ...stores,
      name: "dedupe",
      limits: () => ({ maxEntries: 100, ttlMs: 60_000 }),
    });
    closers.push(() => keys.close());
    expect(keys.has("k-1")).toBe(false);
    await expect(new RedisTaskStore<{ id: string }>(redis, stores).load()).resolves.toEqual([]);
    await expect(new RedisDeviceStore(redis, stores).load()).resolves.toEqual([]);
    expect(log.seen.map((fields) => fields.source).sort()).toEqual([
      "store devices",
      "store keys:dedupe",
      "store records:history",
      "store tasks",
    ]);
  });
});
