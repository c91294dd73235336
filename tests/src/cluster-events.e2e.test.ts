import { collect, type Harness, pairNode, startGateway, until } from "@openclaw/gateway/testing";
import { RedisAdapter } from "@openclaw/redis";
import { type RedisServer, redisAvailable, startRedisServer } from "@openclaw/redis/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

// Issue 17, "events everywhere": two real gateways in this process share one real redis-server
// through their RedisAdapters; an event raised on one reaches the matching clients of the other.

const available = await redisAvailable();
if (!available) {
  if (process.env.CI) throw new Error("redis-server is required in CI (the cluster tests never skip there)");
  console.warn("redis-server not found: the cluster e2e tests are skipped");
}

/** A harness gateway (the "test" channel on a loopback fake platform) on a {@link RedisAdapter}. */
async function startClusterGateway(
  redisUrl: string,
  instanceId: string,
  namespace: string,
): Promise<Harness> {
  const adapter = new RedisAdapter({ redisUrl, instanceId, namespace });
  await adapter.ready();
  return startGateway({ adapter });
}

describe.skipIf(!available)("cluster events over Redis", () => {
  let server: RedisServer;
  let a: Harness;
  let b: Harness;
  let run = 0;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  async function twoGateways(): Promise<void> {
    const namespace = `e2e-${++run}`;
    a = await startClusterGateway(server.url, "gw-a", namespace);
    b = await startClusterGateway(server.url, "gw-b", namespace);
  }

  it("streams a chat reply running on A to the chat's subscriber on B, and to nobody else there", async () => {
    await twoGateways();
    const sender = await a.client();
    const follower = await b.client();
    const bystander = await b.client();
    const senderRuns = collect(sender, "chat.run") as Array<{ runId: string; status: string }>;
    const followerChunks = collect(follower, "chat.chunk") as Array<{ runId: string; delta: string }>;
    const followerRuns = collect(follower, "chat.run") as Array<{ runId: string; status: string }>;
    const bystanderChunks = collect(bystander, "chat.chunk");
    const first = await sender.request("chat.send", { text: "opening words" });
    await until(() => senderRuns.some((run) => run.runId === first.runId && run.status === "completed"));
    await follower.request("chat.subscribe", { conversationId: first.conversationId });
    const second = await sender.request("chat.send", {
      conversationId: first.conversationId,
      text: "seen on the other instance",
    });
    await until(() => followerRuns.some((run) => run.runId === second.runId && run.status === "completed"));
    expect(
      followerChunks
        .filter((c) => c.runId === second.runId)
        .map((c) => c.delta)
        .join(""),
    ).toBe("seen on the other instance");
    expect(followerChunks.every((c) => c.runId === second.runId)).toBe(true);
    await bystander.request("ping", {});
    expect(bystanderChunks).toEqual([]);
  });

  it("delivers channel.message.received and conversation.updated for a webhook on A to a client of B, once", async () => {
    await twoGateways();
    const onA = await a.client();
    const onB = await b.client();
    const receivedA = collect(onA, "channel.message.received");
    const receivedB = collect(onB, "channel.message.received");
    const updatedB = collect(onB, "conversation.updated");
    const update = { id: "platform-msg-1", chat: "chat-1", from: { id: "u1" }, text: "hello cluster" };
    expect((await a.webhook(update)).status).toBe(200);
    await until(() => receivedB.length === 1 && updatedB.length === 1);
    expect(receivedB[0]).toMatchObject({ channel: "test", message: { id: "platform-msg-1" } });
    expect(receivedA).toEqual(receivedB);
    // A second event from B's side, seen on A: everything before it has arrived too, and only once.
    const second = { id: "platform-msg-2", chat: "chat-1", from: { id: "u1" }, text: "from B" };
    expect((await b.webhook(second)).status).toBe(200);
    await until(() => receivedA.length === 2 && receivedB.length === 2);
    expect(receivedA.map((event) => (event as { message: { id: string } }).message.id)).toEqual([
      "platform-msg-1",
      "platform-msg-2",
    ]);
    expect(receivedB).toEqual(receivedA);
  });

  it("tells a client of B that a node paired and came online on A, and B locates it", async () => {
    await twoGateways();
    const onB = await b.client();
    const online = collect(onB, "node.online");
    const requested = collect(onB, "pairing.requested");
    await pairNode(a, "phone-1", () => ({ ok: true }));
    await until(() => online.length === 1);
    expect(online[0]).toMatchObject({ nodeId: "phone-1" });
    expect(requested).toEqual([expect.objectContaining({ code: "4821", nodeId: "phone-1" })]);
    await expect(b.gateway.adapter.locateNode("phone-1")).resolves.toEqual({ instanceId: "gw-a" });
  });
});
