import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakePlatform, webhookChannel } from "@openclaw/channel-sdk/testing";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import {
  ADMIN,
  collect,
  type Harness,
  PLATFORM_TOKEN,
  pairNode,
  RawSocket,
  SIGNING_SECRET,
  TOKEN,
  until,
} from "@openclaw/gateway/testing";
import { GatewayClient } from "@openclaw/protocol";
import { RedisAdapter } from "@openclaw/redis";
import { type RedisServer, redisAvailable, startRedisServer } from "@openclaw/redis/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

// Issue 17, "events everywhere": two real gateways in this process share one real redis-server
// through their RedisAdapters; an event raised on one reaches the matching clients of the other.

const available = await redisAvailable();
if (!available) {
  if (process.env.CI) throw new Error("redis-server is required in CI (the cluster tests never skip there)");
  console.warn("redis-server not found: the cluster e2e tests are skipped");
}

/**
 * A harness gateway (the same shape as `startGateway`'s, with the "test" channel on a loopback fake
 * platform) running on a {@link RedisAdapter}: `startGateway` takes no `adapter` option.
 */
async function startClusterGateway(
  redisUrl: string,
  instanceId: string,
  namespace: string,
): Promise<Harness> {
  const stateDir = await mkdtemp(join(tmpdir(), "openclaw-cluster-"));
  let nextId = 1;
  const platform = await FakePlatform.start({
    "GET /health": () => ({ body: { ok: true } }),
    "POST /messages": () => ({ body: { id: `pm-${nextId++}` } }),
  });
  const configFile = join(stateDir, "openclaw.json");
  const test = {
    plugin: "webhook",
    baseUrl: platform.url,
    token: PLATFORM_TOKEN,
    signingSecret: SIGNING_SECRET,
  };
  await writeFile(configFile, JSON.stringify({ heartbeat: { intervalMs: 60_000 }, channels: { test } }));
  const config = new ConfigManager({
    path: configFile,
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      OPENCLAW_ADMIN_TOKEN: ADMIN,
    },
  });
  await config.load();
  const adapter = new RedisAdapter({ redisUrl, instanceId, namespace });
  await adapter.ready();
  const gateway = new Gateway({
    config,
    channels: [webhookChannel],
    logger: createLogger("silent"),
    channelStartWaitMs: 10_000,
    adapter,
  });
  const { url } = await gateway.start();
  const clients: GatewayClient[] = [];
  const raws: RawSocket[] = [];
  const http = url.replace(/^ws/, "http");
  return {
    gateway,
    platform,
    config,
    url,
    http,
    stateDir,
    async client(overrides = {}) {
      const client = new GatewayClient({
        url,
        token: TOKEN,
        WebSocket,
        reconnect: false,
        client: { name: "test", version: "1.0.0", platform: "test" },
        ...overrides,
      });
      clients.push(client);
      await client.connect();
      return client;
    },
    async raw(headers = {}) {
      const socket = await RawSocket.open(url, headers);
      raws.push(socket);
      return socket;
    },
    webhook(body, secret = SIGNING_SECRET) {
      const text = JSON.stringify(body);
      return fetch(`${http}/webhook/test`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-signature-256": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}`,
        },
        body: text,
      });
    },
    async stop() {
      await Promise.all(clients.map((client) => client.close()));
      for (const socket of raws) socket.ws.terminate();
      // The gateway closes its adapter.
      await gateway.stop({ drainTimeoutMs: 500 });
      await config.close();
      await platform.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
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
