import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecordedRequest } from "@openclaw/channel-sdk/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ADMIN, collect, type Harness, pairNode, startGateway, until } from "./harness";

/** Fast retries, so that the tests wait milliseconds, not minutes. */
const FAST = { backoffBaseMs: 20, backoffMaxMs: 100 };

let h: Harness | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const posts = (harness: Harness): RecordedRequest[] =>
  harness.platform.requests.filter((r) => r.method === "POST" && r.path === "/messages");
const texts = (requests: RecordedRequest[]) => requests.map((r) => (r.json as { text: string }).text);
const delivered = (harness: Harness) =>
  // Failed attempts are recorded too: count only the ones the platform accepted (not failed by failNext).
  harness.platform.requests.filter((r) => r.method === "POST" && r.path === "/messages" && accepted.has(r));
const accepted = new WeakSet<RecordedRequest>();

async function gateway(options: Parameters<typeof startGateway>[0] = {}): Promise<Harness> {
  const harness = await startGateway(options);
  let nextId = 1;
  // Answers like the default route, and remembers which requests it accepted.
  harness.platform.route("POST /messages", (request) => {
    accepted.add(request);
    return { body: { id: `m-${nextId++}` } };
  });
  return harness;
}

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-delivery-"));
  dirs.push(dir);
  return dir;
}

describe("outbound delivery queue", () => {
  it("queues a rate-limited message and delivers it when the platform takes it again", async () => {
    h = await gateway({ config: { delivery: FAST } });
    const cli = await h.client();
    const sent = collect(cli, "channel.message.sent");
    h.platform.failNext({ status: 429, headers: { "retry-after": "0" } }, { status: 503 });
    const result = await cli.request("message.send", { recipient: "chat-1", channel: "test", text: "later" });
    expect(result).toMatchObject({ status: "queued", deliveryId: expect.any(String) });
    expect(result.messageId).toBeUndefined();
    await until(() => sent.length === 1);
    expect(sent[0]).toMatchObject({ channel: "test", address: "chat-1", content: { text: "later" } });
    expect(texts(delivered(h))).toEqual(["later"]);
    // Every attempt carried the same idempotency key: the delivery id.
    expect(new Set(posts(h).map((r) => r.headers["idempotency-key"]))).toEqual(new Set([result.deliveryId]));
    expect(await cli.request("delivery.list")).toEqual({ deliveries: [], counts: { pending: 0, dead: 0 } });
  });

  it("keeps the order per conversation while retrying, and does not hold up other conversations", async () => {
    h = await gateway({ config: { delivery: FAST } });
    const cli = await h.client();
    // The platform fails the first three attempts to chat-a only.
    let failuresLeft = 3;
    let nextId = 1;
    h.platform.route("POST /messages", (request) => {
      if ((request.json as { to: string }).to === "chat-a" && failuresLeft-- > 0) return { status: 500 };
      accepted.add(request);
      return { body: { id: `m-${nextId++}` } };
    });
    const first = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        cli.request("message.send", { recipient: "chat-a", channel: "test", text: `a${n}` }),
      ),
    );
    expect(first[0]!.status).toBe("queued");
    const other = await cli.request("message.send", { recipient: "chat-b", channel: "test", text: "b1" });
    expect(other.status).toBe("sent");
    await until(() => delivered(h!).length === 6);
    const toA = delivered(h).filter((r) => (r.json as { to: string }).to === "chat-a");
    expect(texts(toA)).toEqual(["a1", "a2", "a3", "a4", "a5"]);
  });

  it("gives up after maxAttempts into the dead-letter list; operators retry or drop", async () => {
    h = await gateway({ config: { delivery: { ...FAST, maxAttempts: 2 } } });
    const cli = await h.client();
    const failed = collect(cli, "delivery.failed");
    h.platform.failNext(...Array.from({ length: 4 }, () => ({ status: 502 })));
    const one = await cli.request("message.send", { recipient: "chat-1", channel: "test", text: "doomed" });
    const two = await cli.request("message.send", {
      recipient: "chat-2",
      channel: "test",
      text: "also doomed",
    });
    await until(() => failed.length === 2);
    const list = await cli.request("delivery.list", { status: "dead" });
    expect(list.counts).toEqual({ pending: 0, dead: 2 });
    expect(list.deliveries[0]).toMatchObject({
      id: one.deliveryId,
      status: "dead",
      attempts: 2,
      lastError: { code: "PLATFORM_UNAVAILABLE" },
    });
    const retried = await cli.request("delivery.retry", { id: one.deliveryId! });
    expect(retried.delivery).toMatchObject({ status: "pending", attempts: 0 });
    await until(() => delivered(h!).length === 1);
    expect(texts(delivered(h))).toEqual(["doomed"]);
    expect(await cli.request("delivery.drop", { id: two.deliveryId! })).toEqual({ dropped: true });
    expect(await cli.request("delivery.drop", { id: two.deliveryId! })).toEqual({ dropped: false });
    expect((await cli.request("delivery.list")).counts).toEqual({ pending: 0, dead: 0 });
    await expect(cli.request("delivery.retry", { id: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses sends beyond maxQueued with RATE_LIMITED", async () => {
    h = await gateway({
      config: { delivery: { ...FAST, backoffBaseMs: 60_000, backoffMaxMs: 60_000, maxQueued: 2 } },
    });
    const cli = await h.client();
    h.platform.failNext({ status: 503 });
    await cli.request("message.send", { recipient: "chat-1", channel: "test", text: "1" });
    await cli.request("message.send", { recipient: "chat-1", channel: "test", text: "2" });
    await expect(
      cli.request("message.send", { recipient: "chat-1", channel: "test", text: "3" }),
    ).rejects.toMatchObject({ code: "RATE_LIMITED" });
  });

  it("picks up stored messages after a restart and delivers them in order", async () => {
    const dir = await stateDir();
    h = await gateway({
      stateDir: dir,
      config: { delivery: { ...FAST, backoffBaseMs: 60_000, backoffMaxMs: 60_000 } },
    });
    const cli = await h.client();
    h.platform.failNext({ status: 503 });
    for (const n of [1, 2, 3])
      expect(
        (await cli.request("message.send", { recipient: "chat-1", channel: "test", text: `m${n}` })).status,
      ).toBe("queued");
    await h.stop();
    h = await gateway({ stateDir: dir, config: { delivery: FAST } });
    await until(() => delivered(h!).length === 3);
    expect(texts(delivered(h))).toEqual(["m1", "m2", "m3"]);
  });
});

describe("idempotency keys", () => {
  it("performs message.send once per key, also for concurrent repeats and after a restart", async () => {
    const dir = await stateDir();
    h = await gateway({ stateDir: dir });
    const cli = await h.client();
    const params = { recipient: "chat-1", channel: "test", text: "once", idempotencyKey: "order-42" };
    const [a, b] = await Promise.all([
      cli.request("message.send", params),
      cli.request("message.send", params),
    ]);
    const c = await cli.request("message.send", params);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(texts(delivered(h))).toEqual(["once"]);
    await h.stop();
    h = await gateway({ stateDir: dir });
    const again = await (await h.client()).request("message.send", params);
    expect(again).toEqual(a);
    expect(delivered(h)).toEqual([]);
  });

  it("does not remember failures: a repeat after an error tries again", async () => {
    h = await gateway();
    const cli = await h.client();
    h.platform.failNext({ status: 404 });
    const params = { recipient: "chat-1", channel: "test", text: "x", idempotencyKey: "retry-me" };
    await expect(cli.request("message.send", params)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(cli.request("message.send", params)).resolves.toMatchObject({ status: "sent" });
  });

  it("runs task.schedule and agent.run once per key", async () => {
    h = await gateway();
    const admin = await h.client({ token: ADMIN });
    const schedule = { type: "noop", delayMs: 60_000, idempotencyKey: "nightly" };
    const first = await admin.request("task.schedule", schedule);
    expect(await admin.request("task.schedule", schedule)).toEqual(first);
    const run = { input: "hello", idempotencyKey: "run-1" };
    const ran = await admin.request("agent.run", run);
    expect(await admin.request("agent.run", run)).toEqual(ran);
  });
});

describe("inbound dedupe", () => {
  it("emits a platform message once, even when the webhook is replayed across a restart", async () => {
    const dir = await stateDir();
    h = await gateway({ stateDir: dir });
    let cli = await h.client();
    let received = collect(cli, "channel.message.received");
    const update = { id: "platform-msg-7", chat: "chat-1", from: { id: "u1" }, text: "only once" };
    expect((await h.webhook(update)).status).toBe(200);
    expect((await h.webhook(update)).status).toBe(200);
    await until(() => received.length === 1);
    await h.stop();
    h = await gateway({ stateDir: dir });
    cli = await h.client();
    received = collect(cli, "channel.message.received");
    expect((await h.webhook(update)).status).toBe(200);
    expect((await h.webhook({ ...update, id: "platform-msg-8", text: "new" })).status).toBe(200);
    await until(() => received.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ message: { id: "platform-msg-8" } });
  });
});

describe("node.invoke across a node's reconnect", () => {
  it("re-delivers the pending call with the same id; the node runs it once and the caller gets the answer", async () => {
    h = await gateway();
    const { node: paired, deviceToken } = await pairNode(h, "phone-1", () => ({ output: "unused" }));
    await paired.close();
    const node = new GatewayClient({
      url: h.url,
      role: "node",
      deviceToken,
      capabilities: ["agent.run"],
      WebSocket,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50, jitter: 0 },
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    const seenIds: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    node.handle("agent.run", async (_data, request) => {
      seenIds.push(request.id);
      await released;
      return { output: "done once", runId: "r-1" };
    });
    await node.connect();
    const cli = await h.client();
    const call = cli.request("agent.run", { input: "slow" }, { target: "phone-1", timeoutMs: 10_000 });
    await until(() => seenIds.length === 1);
    // The node's connection drops mid-call; it reconnects within the grace period.
    for (const connection of h.gateway.connections())
      if (connection.nodeId === "phone-1") connection.socket.terminate();
    const online = collect(cli, "node.online");
    await until(() => online.length === 1, 5000);
    release();
    await expect(call).resolves.toMatchObject({ output: "done once" });
    // The gateway sent the request again with the same id; the node's handler ran once.
    expect(seenIds).toHaveLength(1);
    await node.close();
  });

  it("fails with NODE_OFFLINE when the node stays away past the grace period", async () => {
    h = await gateway({ config: { gateway: { nodeReconnectGraceMs: 100 } } });
    const { node } = await pairNode(h, "phone-2", () => new Promise(() => {}));
    const cli = await h.client();
    const call = cli.request("agent.run", { input: "x" }, { target: "phone-2", timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await node.close();
    await expect(call).rejects.toMatchObject({ code: "NODE_OFFLINE", details: { reconnectGraceMs: 100 } });
  });
});
