import type { ConversationRecord, KeyStoreOpenOptions } from "@openclaw/backend";
import {
  runBindingStoreConformance,
  runDeviceStoreConformance,
  runKeyStoreConformance,
  runRecordStoreConformance,
} from "@openclaw/backend/testing";
import { ADMIN, collect, type Harness, pairNode, startGateway, until } from "@openclaw/gateway/testing";
import { GatewayClient, ProtocolError } from "@openclaw/protocol";
import {
  connectRedisStoreClient,
  RedisBindingStore,
  RedisChangeFeed,
  RedisDeviceStore,
  RedisKeyStore,
  RedisRecordStore,
} from "@openclaw/redis";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { freshNamespace, skipRedis, useRedis } from "./harness";

/** One gateway instance on the shared Redis: its own client, change feed and stores. */
interface Instance extends Harness {
  feed: RedisChangeFeed;
  redis: Redis;
}

describe.skipIf(skipRedis)("one state across instances", () => {
  const fixture = useRedis();
  const running: Instance[] = [];
  const feeds: RedisChangeFeed[] = [];

  afterEach(async () => {
    for (const h of running.splice(0)) {
      await h.stop();
      await h.feed.close();
      h.redis.disconnect();
    }
    for (const feed of feeds.splice(0)) await feed.close();
  });

  /** Starts a gateway whose state is the namespace's Redis stores, followed through its own feed. */
  async function instance(namespace: string): Promise<Instance> {
    const redis = await connectRedisStoreClient(fixture.server.url);
    const feed = new RedisChangeFeed(redis, { namespace });
    await feed.ready();
    const keys = <V>(options: KeyStoreOpenOptions) =>
      RedisKeyStore.open<V>(redis, { ...options, namespace, feed });
    const h = await startGateway({
      stores: {
        deviceStore: new RedisDeviceStore(redis, { namespace, feed }),
        bindingStore: new RedisBindingStore(redis, { namespace, feed }),
        idempotencyStore: (options) => keys<unknown>(options),
        dedupeStore: (options) => keys<1>(options),
        historyStore: ({ name }) =>
          RedisRecordStore.open<ConversationRecord>(redis, { name, namespace, feed }),
      },
    });
    const started = Object.assign(h, { feed, redis });
    running.push(started);
    return started;
  }

  /** Waits until every instance has applied every notice published so far. */
  const settled = (...instances: Instance[]) => Promise.all(instances.map((h) => h.feed.sync()));

  it("a device paired on A connects to B with its token; revoked on A, it is closed and refused on B", async () => {
    const namespace = freshNamespace();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const { node: onA, deviceToken, admin } = await pairNode(a, "phone", () => ({ output: "hi" }));
    await onA.close();
    await settled(b);
    const node = (h: Harness) =>
      new GatewayClient({
        url: h.url,
        role: "node",
        deviceToken,
        WebSocket,
        reconnect: false,
        client: { name: "ios", version: "1.0.0", platform: "ios" },
      });
    const onB = node(b);
    expect(await onB.connect()).toMatchObject({ role: "node", nodeId: "phone" });
    const closed = new Promise<number>((resolve) => onB.once("disconnected", ({ code }) => resolve(code)));

    expect(await admin.request("device.revoke", { nodeId: "phone" })).toEqual({ revoked: true });
    expect(await closed).toBe(1008);
    await settled(b);
    const again = node(b);
    await expect(again.connect()).rejects.toThrow();
    const operatorOnB = await b.client({ token: ADMIN });
    expect((await operatorOnB.request("device.list", {})).devices).toEqual([]);
  });

  it("a binding added on A routes on B, and its removal on B is seen on A", async () => {
    const namespace = freshNamespace();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const onA = await a.client({ token: ADMIN });
    const onB = await b.client({ token: ADMIN });
    const { binding } = await onA.request("binding.add", {
      level: "account",
      match: { userId: "alice" },
      target: { channel: "test", address: "alice-chat" },
    });
    await settled(b);
    expect(await onB.request("route.resolve", { recipient: "alice" })).toMatchObject({
      channel: "test",
      address: "alice-chat",
    });
    // Added on both at once: neither save loses the other's binding.
    await Promise.all([
      onA.request("binding.add", { level: "system", target: { channel: "test", address: "ops-a" } }),
      onB.request("binding.add", {
        level: "account",
        match: { userId: "bob" },
        target: { channel: "test", address: "bob-chat" },
      }),
    ]);
    await settled(a, b);
    expect((await onA.request("binding.list", {})).bindings).toHaveLength(3);
    expect((await onB.request("binding.list", {})).bindings).toHaveLength(3);
    expect(await onB.request("binding.remove", { id: binding.id })).toEqual({ removed: true });
    await settled(a);
    const left = (await onA.request("binding.list", {})).bindings.map((b) => b.id);
    expect(left).not.toContain(binding.id);
    expect(left).toHaveLength(2);
    // A restarted instance loads the same bindings.
    const c = await instance(namespace);
    expect((await (await c.client({ token: ADMIN })).request("binding.list", {})).bindings).toHaveLength(2);
  });

  it("keeps one history on every instance, concurrent appends to one conversation included", async () => {
    const namespace = freshNamespace();
    const instances = [await instance(namespace), await instance(namespace), await instance(namespace)];
    const [a, b] = instances as [Instance, Instance, Instance];
    const perInstance = 20;
    // Both instances append to the same conversation at the same time.
    await Promise.all(
      [a, b].flatMap((h, i) =>
        Array.from({ length: perInstance }, (_, n) =>
          h
            .webhook({ id: `m-${i}-${n}`, chat: "chat-1", from: { id: `u${i}` }, text: `${i}/${n}` })
            .then((response) => expect(response.status).toBe(200)),
        ),
      ),
    );
    // The webhook answers before the message is recorded: wait until Redis holds all of them.
    const held = () => a.redis.hlen(`openclaw:${namespace}:records:conversations:data`);
    await expect.poll(held, { timeout: 10_000 }).toBe(2 * perInstance);
    await a.webhook({ id: "other", chat: "chat-2", from: { id: "u9" }, text: "elsewhere" });
    await expect.poll(held, { timeout: 10_000 }).toBe(2 * perInstance + 1);
    await settled(...instances);
    const views = await Promise.all(
      instances.map(async (h) => {
        const client = await h.client();
        const history = await client.request("conversation.history", {
          channel: "test",
          conversationId: "chat-1",
          limit: 100,
        });
        const list = await client.request("conversation.list", {});
        return { history, list };
      }),
    );
    const first = views[0]!;
    expect(first.history.messages).toHaveLength(2 * perInstance);
    const seqs = first.history.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(new Set(first.history.messages.map((m) => m.messageId)).size).toBe(2 * perInstance);
    expect(first.list.conversations.map((c) => c.conversationId)).toEqual(["chat-2", "chat-1"]);
    for (const view of views.slice(1)) expect(view).toEqual(first);
    // A new instance loads the same history from Redis.
    const d = await instance(namespace);
    const loaded = await (await d.client()).request("conversation.history", {
      channel: "test",
      conversationId: "chat-1",
      limit: 100,
    });
    expect(loaded).toEqual(first.history);
  });

  it("returns A's result to an idempotencyKey repeated on B, without sending again", async () => {
    const namespace = freshNamespace();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const send = { recipient: "chat-1", channel: "test", text: "once", idempotencyKey: "k-1" };
    const first = await (await a.client()).request("message.send", send);
    await settled(b);
    expect(await (await b.client()).request("message.send", send)).toEqual(first);
    const sent = (h: Harness) => h.platform.requests.filter((r) => r.path === "/messages");
    expect(sent(a)).toHaveLength(1);
    expect(sent(b)).toHaveLength(0);
  });

  it("drops on B an inbound message A took already", async () => {
    const namespace = freshNamespace();
    const a = await instance(namespace);
    const b = await instance(namespace);
    const received = collect(await b.client(), "channel.message.received");
    const takenOnA = collect(await a.client(), "channel.message.received");
    const update = { id: "platform-msg-1", chat: "chat-1", from: { id: "u1" }, text: "only once" };
    expect((await a.webhook(update)).status).toBe(200);
    // The webhook answers before the message is taken: wait for A to announce it (recorded by then).
    await until(() => takenOnA.length === 1);
    await settled(b);
    expect((await b.webhook(update)).status).toBe(200);
    expect((await b.webhook({ ...update, id: "platform-msg-2", text: "new" })).status).toBe(200);
    await until(() => received.length === 1);
    await settled(b);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ message: { id: "platform-msg-2" } });
    const history = await (await b.client()).request("conversation.history", {
      channel: "test",
      conversationId: "chat-1",
    });
    expect(history.messages.map((m) => m.messageId)).toEqual(["platform-msg-1", "platform-msg-2"]);
  });

  it("reloads after the feed lost Redis: changes made meanwhile reach the mirrors", async () => {
    const namespace = freshNamespace();
    const writer = await connectRedisStoreClient(fixture.server.url);
    const reader = await connectRedisStoreClient(fixture.server.url);
    const feed = new RedisChangeFeed(reader, { namespace });
    feeds.push(feed);
    await feed.ready();
    try {
      const store = new RedisDeviceStore(reader, { namespace, feed });
      const changes: unknown[] = [];
      store.watch((change) => changes.push(change));
      expect(await store.load()).toEqual([]);
      const device = { nodeId: "n1", publicKeyFingerprint: "f", tokenHash: "t", pairedAt: 1 };
      // Notices published while the feed's connection is away are lost: the reload finds the change.
      const subscriber = (await fixture.redis.client("LIST")) as string;
      const id = subscriber
        .split("\n")
        .find((line) => line.includes("cmd=subscribe") || line.includes("sub=1"))
        ?.match(/id=(\d+)/)?.[1];
      expect(id).toBeDefined();
      await fixture.redis.client("KILL", "ID", id!);
      await new RedisDeviceStore(writer, { namespace }).save([device]);
      await until(() => changes.length > 0, 10_000);
      expect(changes).toEqual([{ put: [device], removed: [] }]);
    } finally {
      writer.disconnect();
      reader.disconnect();
    }
  });

  it("refuses a store operation with a typed error when Redis is gone", async () => {
    const namespace = freshNamespace();
    const redis = await connectRedisStoreClient(fixture.server.url);
    redis.disconnect();
    const store = new RedisBindingStore(redis, { namespace });
    await expect(store.save({ version: 1, bindings: [] })).rejects.toBeInstanceOf(ProtocolError);
    await expect(store.load()).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});

describe.skipIf(skipRedis)("Redis stores with a change feed", () => {
  const fixture = useRedis();
  const feeds: RedisChangeFeed[] = [];
  afterEach(async () => {
    for (const feed of feeds.splice(0)) await feed.close();
  });
  const feedOf = (namespace: string) => {
    const feed = new RedisChangeFeed(fixture.redis, { namespace });
    feeds.push(feed);
    return feed;
  };

  const device = (nodeId: string, lastSeenAt?: number) => ({
    nodeId,
    publicKeyFingerprint: "f",
    tokenHash: `t-${nodeId}`,
    pairedAt: 1,
    ...(lastSeenAt === undefined ? {} : { lastSeenAt }),
  });

  it("two instances' device saves keep each other's changes; a stale copy does not bring back a revoked device", async () => {
    const namespace = freshNamespace();
    const [feedA, feedB] = [feedOf(namespace), feedOf(namespace)];
    await Promise.all([feedA.ready(), feedB.ready()]);
    const a = new RedisDeviceStore(fixture.redis, { namespace, feed: feedA });
    const b = new RedisDeviceStore(fixture.redis, { namespace, feed: feedB });
    const seenByB: unknown[] = [];
    b.watch((change) => seenByB.push(change));
    await Promise.all([a.load(), b.load()]);
    await a.save([device("x")]);
    await feedB.sync();
    expect(seenByB).toEqual([{ put: [device("x")], removed: [] }]);
    // Each saves its whole list at once, neither having seen the other's new device.
    await Promise.all([a.save([device("x"), device("y")]), b.save([device("x"), device("z")])]);
    await Promise.all([feedA.sync(), feedB.sync()]);
    const ids = async () =>
      (await new RedisDeviceStore(fixture.redis, { namespace }).load()).map((d) => d.nodeId);
    expect((await ids()).sort()).toEqual(["x", "y", "z"]);
    // A revokes x while B, unaware, saves x with a later lastSeenAt: x stays revoked.
    await a.save([device("y"), device("z")]);
    await b.save([device("x", 99), device("y"), device("z")]);
    expect((await ids()).sort()).toEqual(["y", "z"]);
    await feedB.sync();
    expect(seenByB.at(-1)).toEqual({ put: [], removed: ["x"] });
  });

  it("a record put or deleted on one instance reaches the other's mirror and watchers", async () => {
    const namespace = freshNamespace();
    const [feedA, feedB] = [feedOf(namespace), feedOf(namespace)];
    const a = await RedisRecordStore.open<{ id: string; n: number }>(fixture.redis, {
      name: "conversations",
      namespace,
      feed: feedA,
    });
    const b = await RedisRecordStore.open<{ id: string; n: number }>(fixture.redis, {
      name: "conversations",
      namespace,
      feed: feedB,
    });
    const changes: unknown[] = [];
    b.watch((change) => changes.push(change));
    await a.put({ id: "r1", n: 1 });
    expect(await a.putIfAbsent({ id: "r2", n: 2 })).toBe(true);
    expect(await b.putIfAbsent({ id: "r2", n: 3 })).toBe(false);
    await feedB.sync();
    expect([...b.values()]).toEqual([
      { id: "r1", n: 1 },
      { id: "r2", n: 2 },
    ]);
    await a.delete("r1");
    await feedB.sync();
    expect(b.get("r1")).toBeUndefined();
    expect(changes).toEqual([
      { kind: "put", record: { id: "r1", n: 1 } },
      { kind: "put", record: { id: "r2", n: 2 } },
      { kind: "delete", id: "r1", record: { id: "r1", n: 1 } },
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it("a key remembered on one instance is known on the other", async () => {
    const namespace = freshNamespace();
    const [feedA, feedB] = [feedOf(namespace), feedOf(namespace)];
    const limits = () => ({ maxEntries: 2, ttlMs: 60_000 });
    const open = (feed: RedisChangeFeed) =>
      RedisKeyStore.open<number>(fixture.redis, { name: "inbound-seen", namespace, limits, feed });
    const [a, b] = [await open(feedA), await open(feedB)];
    await a.remember("k1", 1);
    await feedB.sync();
    expect(b.get("k1")).toBe(1);
    await a.remember("k2", 2);
    await a.remember("k3", 3);
    await feedB.sync();
    // Forgotten by the same bound on both.
    expect([b.has("k1"), b.has("k2"), b.has("k3")]).toEqual([false, true, true]);
    await Promise.all([a.close(), b.close()]);
  });

  runDeviceStoreConformance({
    name: "RedisDeviceStore with a feed",
    create: () => {
      const namespace = freshNamespace();
      return {
        store: new RedisDeviceStore(fixture.redis, { namespace, feed: feedOf(namespace) }),
        reopen: () => new RedisDeviceStore(fixture.redis, { namespace, feed: feedOf(namespace) }),
      };
    },
  });
  runBindingStoreConformance({
    name: "RedisBindingStore with a feed",
    create: () => {
      const namespace = freshNamespace();
      return {
        store: new RedisBindingStore(fixture.redis, { namespace, feed: feedOf(namespace) }),
        reopen: () => new RedisBindingStore(fixture.redis, { namespace, feed: feedOf(namespace) }),
      };
    },
  });
  runRecordStoreConformance({
    name: "RedisRecordStore with a feed",
    create: () => {
      const namespace = freshNamespace();
      const feed = feedOf(namespace);
      return { open: () => RedisRecordStore.open(fixture.redis, { name: "conversations", namespace, feed }) };
    },
  });
  runKeyStoreConformance({
    name: "RedisKeyStore with a feed",
    create: () => {
      const namespace = freshNamespace();
      const feed = feedOf(namespace);
      return {
        open: ({ limits, now }) =>
          RedisKeyStore.open(fixture.redis, { name: "idempotency", namespace, limits, now, feed }),
      };
    },
  });
});
