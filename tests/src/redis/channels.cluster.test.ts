import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { InMemoryAdapter } from "@openclaw/backend";
import { type ChannelPluginFactory, defineChannel } from "@openclaw/channel-sdk";
import { webhookChannel } from "@openclaw/channel-sdk/testing";
import { type Harness, startGateway } from "@openclaw/gateway/testing";
import type { ChannelStatus } from "@openclaw/protocol";
import { connectRedisStoreClient, RedisLeases } from "@openclaw/redis";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freshNamespace, skipRedis, useRedis } from "./harness";

/** Generous deadlines: the lease TTL below is 1.5 s; nothing here asserts how fast. */
const DEADLINE = { timeout: 20_000, interval: 25 };
const LEASE_TTL_MS = 1_500;
/** The built-in chat channel: on every instance, ready (it holds no connection). */
const WEBCHAT_READY = { name: "webchat", state: "ready" };

/**
 * A loopback "platform" a channel holds one TCP connection to (as Telegram polling or Discord's
 * gateway socket would): it counts the connections open at once and the most ever open at once.
 */
class HeldConnections {
  readonly open = new Set<Socket>();
  /** Instance ids in the order they connected (each connection says who it is). */
  readonly connectedBy: string[] = [];
  maxOpen = 0;
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket) => {
      this.open.add(socket);
      this.maxOpen = Math.max(this.maxOpen, this.open.size);
      socket.setEncoding("utf8");
      socket.once("data", (hello: string) => this.connectedBy.push(hello.trim()));
      socket.on("close", () => this.open.delete(socket));
      socket.on("error", () => {});
    });
  }

  static async start(): Promise<HeldConnections> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new HeldConnections(server);
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/**
 * A channel holding one connection to {@link HeldConnections}; placement left at its default
 * (`leased`). Its settings reuse the reference plugin's schema: `baseUrl` is
 * `http://127.0.0.1:<port>/<instance id>`.
 */
const heldChannel = defineChannel({
  name: "held",
  capabilities: ["text"],
  config: webhookChannel.configSchema,
  create() {
    let socket: Socket | undefined;
    return {
      async start(context) {
        const url = new URL(context.config.baseUrl);
        socket = createConnection({ port: Number(url.port), host: url.hostname });
        socket.on("error", () => {});
        await once(socket, "connect");
        socket.write(`${url.pathname.slice(1)}\n`);
      },
      send: () => ({ messageId: "unused" }),
      stop() {
        socket?.destroy();
      },
    };
  },
}) as ChannelPluginFactory;

const SECRET = "0123456789abcdef0123";

describe.skipIf(skipRedis)("channels across instances (RedisLeases)", () => {
  const fixture = useRedis();
  const gateways: Harness[] = [];
  const clients: Redis[] = [];
  let platform: HeldConnections | undefined;

  afterEach(async () => {
    for (const h of gateways.splice(0)) await h.stop().catch(() => {});
    for (const redis of clients.splice(0)) redis.disconnect();
    await platform?.stop();
  });

  /** Starts instance `id`: its own Redis client and leases, the "held" channel configured. */
  async function instance(id: string, namespace: string): Promise<Harness & { id: string; redis: Redis }> {
    const redis = await connectRedisStoreClient(fixture.server.url);
    clients.push(redis);
    const leases = new RedisLeases({ redis, instanceId: id, namespace, ttlMs: LEASE_TTL_MS, renewMs: 250 });
    const h = await startGateway({
      testChannel: false,
      plugins: [heldChannel],
      config: {
        channels: {
          held: { baseUrl: `http://127.0.0.1:${platform!.port}/${id}`, token: SECRET, signingSecret: SECRET },
        },
      },
      adapter: new InMemoryAdapter({ instanceId: id }),
      gateway: { leases, channelLeaseRetryMs: 100 },
    });
    gateways.push(h);
    return Object.assign(h, { id, redis });
  }

  const held = (h: Harness): ChannelStatus => {
    const status = h.gateway.channels.statuses().find((s) => s.name === "held");
    if (status === undefined) throw new Error("channel held is not configured");
    return status;
  };

  /** Waits until exactly one instance runs the channel and the others stand by naming it. */
  async function settled<H extends Harness & { id: string }>(instances: H[]): Promise<H> {
    let holder: H | undefined;
    await vi.waitFor(() => {
      const running = instances.filter((h) => held(h).state === "ready");
      expect(running).toHaveLength(1);
      holder = running[0]!;
      for (const h of instances) {
        expect(held(h).instance).toBe(holder.id);
        if (h !== holder) expect(held(h).state).toBe("standby");
      }
      expect(platform!.open.size).toBe(1);
    }, DEADLINE);
    return holder!;
  }

  it("runs a leased channel on one of three instances, reports where, and fails over when its holder stops", async () => {
    platform = await HeldConnections.start();
    const namespace = freshNamespace();
    const instances = [
      await instance("a", namespace),
      await instance("b", namespace),
      await instance("c", namespace),
    ];
    const holder = await settled(instances);
    expect(platform.connectedBy).toEqual([holder.id]);
    expect(holder.gateway.channels.holdsLease("held")).toBe(true);
    expect(holder.gateway.channels.leaseToken("held")).toBeGreaterThan(0);

    // /ready, system.status and channel.status on a standby instance: standby, on the holder, not down.
    const standby = instances.find((h) => h !== holder)!;
    expect(standby.gateway.channels.holdsLease("held")).toBe(false);
    expect(standby.gateway.channels.get("held")).toBeUndefined();
    const ready = await fetch(`${standby.http}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      channels: [{ name: "held", state: "standby", instance: holder.id }, WEBCHAT_READY],
    });
    const client = await standby.client();
    expect(await client.request("system.status", {})).toMatchObject({
      channels: [{ name: "held", state: "standby", instance: holder.id }, WEBCHAT_READY],
    });
    expect(await client.request("channel.status", { channel: "held" })).toMatchObject({
      channels: [{ name: "held", state: "standby", instance: holder.id }],
    });
    // A webhook for the channel reaching a standby instance is refused as retryable, not lost.
    const webhook = await fetch(`${standby.http}/webhook/held`, { method: "POST", body: "{}" });
    expect(webhook.status).toBe(503);
    expect(await webhook.json()).toMatchObject({
      error: { code: "UNAVAILABLE", details: { reason: "channel_standby", retryable: true } },
    });
    const holderReady = await (await fetch(`${holder.http}/ready`)).json();
    expect(holderReady).toMatchObject({
      channels: [{ name: "held", state: "ready", instance: holder.id }, WEBCHAT_READY],
    });

    // The other instances hear when they take the lease.
    const changes: Array<{ instance: string; held: boolean }> = [];
    for (const h of instances)
      h.gateway.channels.on("lease.changed", (change) => changes.push({ instance: h.id, held: change.held }));

    // A graceful stop releases the lease: another instance takes over.
    await holder.stop();
    gateways.splice(gateways.indexOf(holder), 1);
    const rest = instances.filter((h) => h !== holder);
    const next = await settled(rest);
    expect(next.id).not.toBe(holder.id);
    expect(platform.connectedBy).toEqual([holder.id, next.id]);
    expect(changes).toContainEqual({ instance: next.id, held: true });
    expect(platform.maxOpen).toBe(1);
  });

  it("moves the channel when its holder loses Redis, with a larger fencing token, never connected twice", async () => {
    platform = await HeldConnections.start();
    const namespace = freshNamespace();
    const instances = [
      await instance("a", namespace),
      await instance("b", namespace),
      await instance("c", namespace),
    ];
    const holder = await settled(instances);
    const firstToken = holder.gateway.channels.leaseToken("held")!;
    const lost = once(holder.gateway.channels, "lease.changed");

    holder.redis.disconnect(); // the holder's link to Redis is cut; the process lives on

    expect(await lost).toEqual([{ channel: "held", held: false }]);
    const rest = instances.filter((h) => h !== holder);
    const next = await settled(rest);
    expect(next.gateway.channels.leaseToken("held")).toBeGreaterThan(firstToken);
    // The cut-off instance stopped its connection and stands by (it cannot see the new holder).
    expect(held(holder).state).toBe("standby");
    expect(holder.gateway.channels.get("held")).toBeUndefined();
    expect(platform.maxOpen).toBe(1);
    expect(platform.connectedBy).toEqual([holder.id, next.id]);
  });

  it("runs a webhook-only channel on every instance", async () => {
    const namespace = freshNamespace();
    const instances = [];
    for (const id of ["a", "b"]) {
      const redis = await connectRedisStoreClient(fixture.server.url);
      clients.push(redis);
      const h = await startGateway({
        adapter: new InMemoryAdapter({ instanceId: id }),
        gateway: { leases: new RedisLeases({ redis, instanceId: id, namespace, ttlMs: LEASE_TTL_MS }) },
      });
      gateways.push(h);
      instances.push(h);
    }
    for (const h of instances) {
      await vi.waitFor(
        () =>
          expect(h.gateway.channels.statuses()).toMatchObject([
            { name: "test", state: "ready" },
            { name: "webchat", state: "ready" },
          ]),
        DEADLINE,
      );
      expect(h.gateway.channels.holdsLease("test")).toBe(true);
      expect(h.gateway.channels.statuses()[0]?.instance).toBeUndefined();
      const response = await h.webhook({
        id: `m-${h.gateway.adapter.instanceId}`,
        chat: "c1",
        from: { id: "u1" },
        text: "hi",
      });
      expect(response.status).toBe(200);
    }
  });
});
