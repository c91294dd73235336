import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createLogger } from "@openclaw/gateway";
import { type Harness, startGateway } from "@openclaw/gateway/testing";
import type { GatewayClient } from "@openclaw/protocol";
import { createCluster, type RedisCluster } from "@openclaw/redis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freshNamespace, skipRedis, useRedis } from "./harness";

// Issue 29, item 4, in one process: a web chat's "platform" is its history on Redis. Redis itself
// refuses the writes (an ACL makes some of the gateway's keys read-only, NOPERM), so the history or
// the delivery queue cannot be written at the moment a message to a chat is delivered.

/** Generous deadlines: the queue retries within 200 ms; nothing here asserts how fast. */
const DEADLINE = { timeout: 20_000, interval: 25 };
const USER = "gateway";
const PASSWORD = "gateway-password-0123456789";

/**
 * Key patterns of the namespace's keys that do not start with `prefix + rest` (Redis ACL key
 * patterns have no "except": one pattern per character where a key can leave `rest`).
 */
function allBut(prefix: string, rest: string): string[] {
  const patterns: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    patterns.push(`~${prefix}${rest.slice(0, i)}`, `~${prefix}${rest.slice(0, i)}[^${rest[i]}]*`);
  }
  return patterns;
}

/**
 * A loopback TCP proxy in front of Redis that can cut one connection right after Redis answered a
 * command: the command is done in Redis, its answer never reaches the client (as when Redis dies
 * between storing a write and answering it).
 */
class CuttingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #marker: string | undefined;
  #cut: (() => void) | undefined;

  private constructor(server: Server, target: number) {
    this.#server = server;
    server.on("connection", (client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: target });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on("error", () => {});
        socket.on("close", () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      let cutting = false;
      client.on("data", (chunk: Buffer) => {
        if (this.#marker !== undefined && chunk.includes(this.#marker)) {
          this.#marker = undefined;
          cutting = true;
        }
        upstream.write(chunk);
      });
      upstream.on("data", (chunk: Buffer) => {
        if (!cutting) {
          client.write(chunk);
          return;
        }
        client.destroy();
        upstream.destroy();
        this.#cut?.();
      });
    });
  }

  static async start(target: number): Promise<CuttingProxy> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new CuttingProxy(server, target);
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /**
   * Cuts the connection that next sends a command containing `marker`, once Redis answers on it.
   *
   * @returns Resolves when it was cut.
   */
  cutAfterAnswer(marker: string): Promise<void> {
    this.#marker = marker;
    return new Promise((resolve) => {
      this.#cut = resolve;
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe.skipIf(skipRedis)("cluster: a message.send to a web chat is recorded in its history, once", () => {
  const fixture = useRedis();
  let h: Harness | undefined;
  let cluster: RedisCluster | undefined;
  let proxy: CuttingProxy | undefined;

  afterEach(async () => {
    await h?.stop();
    await cluster?.close();
    await proxy?.close();
    h = undefined;
    cluster = undefined;
    proxy = undefined;
    await fixture.redis.acl("DELUSER", USER);
  });

  /** The gateway's Redis user may write every key of the namespace, except `readOnly`'s (read only). */
  async function grant(namespace: string, readOnly?: "records:conversations:" | "delivery:"): Promise<void> {
    const prefix = `openclaw:${namespace}:`;
    const keys =
      readOnly === undefined ? [`~${prefix}*`] : [...allBut(prefix, readOnly), `%R~${prefix}${readOnly}*`];
    await fixture.redis.acl("SETUSER", USER, "on", `>${PASSWORD}`, "resetkeys", ...keys, "&*", "+@all");
  }

  async function start(namespace: string, through?: CuttingProxy): Promise<GatewayClient> {
    await grant(namespace);
    const url = new URL(through?.url ?? fixture.server.url);
    url.username = USER;
    url.password = PASSWORD;
    const logger = createLogger("silent");
    cluster = await createCluster(
      { redisUrl: url.toString(), instanceId: "a", namespace, leaseTtlMs: 1_500, instanceTtlMs: 1_500 },
      { logger },
    );
    h = await startGateway({
      testChannel: false,
      config: { delivery: { backoffBaseMs: 50, backoffMaxMs: 200, maxAttempts: 1000 } },
      gateway: { ...cluster.options },
    });
    return h.client();
  }

  /** The outbound texts of a chat's history, in order. */
  async function history(client: GatewayClient, chat: string): Promise<string[]> {
    const { messages } = await client.request("conversation.history", {
      channel: "webchat",
      conversationId: chat,
      limit: 1000,
    });
    return messages.filter((m) => m.direction === "out").map((m) => m.content.text ?? "");
  }

  async function pending(client: GatewayClient) {
    return (await client.request("delivery.list", {})).deliveries;
  }

  it("keeps a send queued while its chat's history cannot be written, and records it once Redis takes it", async () => {
    const namespace = freshNamespace();
    const client = await start(namespace);
    const first = await client.request("message.send", {
      channel: "webchat",
      recipient: "c1",
      text: "first",
    });
    expect(first.status).toBe("sent");
    expect(await history(client, "c1")).toEqual(["first"]);

    // Redis refuses writes to the history: the send is not answered `sent` without being recorded.
    await grant(namespace, "records:conversations:");
    const second = await client.request("message.send", {
      channel: "webchat",
      recipient: "c1",
      text: "second",
    });
    expect(second.status).toBe("queued");
    await vi.waitFor(async () => {
      const [queued] = await pending(client);
      expect(queued).toMatchObject({ id: second.deliveryId, status: "pending" });
      expect(queued?.attempts).toBeGreaterThanOrEqual(1);
      expect(queued?.lastError?.code).toBe("PLATFORM_UNAVAILABLE");
    }, DEADLINE);
    expect(await history(client, "c1")).toEqual(["first"]);

    // Redis takes the writes again: the queued send is recorded, once, and leaves the queue.
    await grant(namespace);
    await vi.waitFor(async () => expect(await pending(client)).toEqual([]), DEADLINE);
    expect(await history(client, "c1")).toEqual(["first", "second"]);
  });

  it("records a send once when its outcome could not be recorded after the history had it", async () => {
    const namespace = freshNamespace();
    const client = await start(namespace);
    // Queued while the history refuses writes...
    await grant(namespace, "records:conversations:");
    const sent = await client.request("message.send", {
      channel: "webchat",
      recipient: "c2",
      text: "only once",
    });
    expect(sent.status).toBe("queued");
    await vi.waitFor(
      async () => expect((await pending(client))[0]?.attempts).toBeGreaterThanOrEqual(1),
      DEADLINE,
    );
    // ...then the history takes it but the queue's outcome cannot be written: the worker gives up.
    await grant(namespace, "delivery:");
    await vi.waitFor(async () => expect(await history(client, "c2")).toEqual(["only once"]), DEADLINE);
    expect(await pending(client)).toMatchObject([{ id: sent.deliveryId, status: "pending" }]);
    // Redis takes every write again: the worker resumes, finds the message recorded, and finishes.
    await grant(namespace);
    await vi.waitFor(async () => expect(await pending(client)).toEqual([]), DEADLINE);
    expect(await history(client, "c2")).toEqual(["only once"]);
  });

  it("records a send once when Redis stored it in the history but its answer was lost", async () => {
    const namespace = freshNamespace();
    proxy = await CuttingProxy.start(fixture.server.port);
    const client = await start(namespace, proxy);
    expect(
      await client.request("message.send", { channel: "webchat", recipient: "c3", text: "before" }),
    ).toMatchObject({
      status: "sent",
    });
    // The history's write of the next message reaches Redis; its answer does not.
    const cut = proxy.cutAfterAnswer(`openclaw:${namespace}:records:conversations:data`);
    const answer = client.request("message.send", {
      channel: "webchat",
      recipient: "c3",
      text: "answer lost",
    });
    await cut;
    // The gateway reconnects and tries the delivery again: the message is in the history once.
    await vi.waitFor(async () => expect(await pending(client)).toEqual([]), DEADLINE);
    expect(await history(client, "c3")).toEqual(["before", "answer lost"]);
    const stored = Object.values(
      await fixture.redis.hgetall(`openclaw:${namespace}:records:conversations:data`),
    );
    expect(stored.filter((json) => json.includes('"answer lost"'))).toHaveLength(1);
    expect(await answer).toMatchObject({ status: "sent" });
  });
});
