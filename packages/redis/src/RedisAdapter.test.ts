import { type AdapterMember, connectionRoom, nodeRoom, scopeRoom } from "@openclaw/backend";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisAdapter, type RedisAdapterState } from "./RedisAdapter";
import { type RedisServer, redisAvailable, startRedisServer } from "./testing/redisServer";
import { MALFORMED_MESSAGE_WARNING } from "./untrusted";

class Member implements AdapterMember {
  readonly received: string[] = [];
  closed: { code: number; reason: string } | undefined;
  constructor(readonly id: string) {}
  send(frame: Buffer): boolean {
    this.received.push(frame.toString());
    return true;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
}

const bytes = (text: string) => Buffer.from(text);
const READ = scopeRoom("operator.read");
const ADMIN = scopeRoom("operator.admin");
const WAIT = { timeout: 5000, interval: 5 };

const available = await redisAvailable();
if (!available) {
  if (process.env.CI) throw new Error("redis-server is required in CI (the cluster tests never skip there)");
  console.warn("redis-server not found: the RedisAdapter tests are skipped");
}

describe.skipIf(!available)("RedisAdapter", () => {
  let server: RedisServer;
  const adapters: RedisAdapter[] = [];
  let namespace = 0;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(adapters.splice(0).map((adapter) => adapter.close()));
  });

  /** Two instances on one namespace of their own, with members on each. */
  async function cluster(url = server.url) {
    const ns = `test-${++namespace}`;
    const warnings: string[] = [];
    const logger = { warn: (_object: object, message: string) => void warnings.push(message) };
    const a = new RedisAdapter({ redisUrl: url, instanceId: "gw-a", namespace: ns, logger });
    const b = new RedisAdapter({
      redis: new Redis(url, { lazyConnect: true }),
      instanceId: "gw-b",
      namespace: ns,
    });
    adapters.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    const aAdmin = new Member("a-admin");
    const aOperator = new Member("a-op");
    const bAdmin = new Member("b-admin");
    const bOperator = new Member("b-op");
    const bNode = new Member("b-node");
    a.join(aAdmin, [connectionRoom(aAdmin.id), READ, ADMIN]);
    a.join(aOperator, [connectionRoom(aOperator.id), READ]);
    b.join(bAdmin, [connectionRoom(bAdmin.id), READ, ADMIN]);
    b.join(bOperator, [connectionRoom(bOperator.id), READ]);
    b.join(bNode, [connectionRoom(bNode.id), scopeRoom("node"), nodeRoom("phone")]);
    return { a, b, aAdmin, aOperator, bAdmin, bOperator, bNode, warnings, ns };
  }

  it("needs a Redis URL or client", () => {
    expect(() => new RedisAdapter({})).toThrow(TypeError);
  });

  it("delivers a broadcast on one instance to the matching members of the other, once each", async () => {
    const { a, b, aAdmin, aOperator, bAdmin, bOperator, bNode } = await cluster();
    a.broadcast([
      { bytes: bytes("read"), rooms: [READ] },
      { bytes: bytes("admin"), rooms: [ADMIN, READ] },
    ]);
    // Local delivery is synchronous.
    expect(aAdmin.received).toEqual(["read", "admin"]);
    expect(aOperator.received).toEqual(["read", "admin"]);
    await expect.poll(() => bOperator.received, WAIT).toEqual(["read", "admin"]);
    expect(bAdmin.received).toEqual(["read", "admin"]);
    expect(bNode.received).toEqual([]);
    // B answers; by the time A has B's message, it has also seen (and skipped) its own echo.
    b.broadcast([{ bytes: bytes("from-b"), rooms: [ADMIN] }]);
    expect(bAdmin.received).toEqual(["read", "admin", "from-b"]);
    await expect.poll(() => aAdmin.received, WAIT).toEqual(["read", "admin", "from-b"]);
    expect(aOperator.received).toEqual(["read", "admin"]);
    expect(bOperator.received).toEqual(["read", "admin"]);
  });

  it("keeps the bytes exactly as they were encoded, whatever they hold", async () => {
    const { a, bOperator } = await cluster();
    const text = `{"type":"event","event":"x","data":{"t":"héllo 👋 \\u0000 ${"z".repeat(70_000)}"}}`;
    a.broadcast([
      { bytes: bytes(text), rooms: [READ] },
      { bytes: bytes(""), rooms: [READ] },
      { bytes: bytes("after"), rooms: [READ] },
    ]);
    await expect.poll(() => bOperator.received.length, WAIT).toBe(3);
    expect(bOperator.received).toEqual([text, "", "after"]);
  });

  it("keeps a local packet on its own instance and forwards the rest of the batch", async () => {
    const { a, aAdmin, bAdmin, bOperator } = await cluster();
    a.broadcast([
      { bytes: bytes("tick-a"), rooms: [READ], local: true },
      { bytes: bytes("shared"), rooms: [READ] },
    ]);
    a.broadcast([{ bytes: bytes("tick-a2"), rooms: [READ], local: true }]); // nothing to publish
    a.broadcast([{ bytes: bytes("marker"), rooms: [ADMIN] }]);
    expect(aAdmin.received).toEqual(["tick-a", "shared", "tick-a2", "marker"]);
    // Messages from one publisher arrive in order: once the marker is there, a tick would be too.
    await expect.poll(() => bAdmin.received, WAIT).toEqual(["shared", "marker"]);
    expect(bOperator.received).toEqual(["shared"]);
  });

  it("leaves out the excepted members on every instance", async () => {
    const { a, b, aAdmin, aOperator, bAdmin, bOperator } = await cluster();
    a.broadcast([{ bytes: bytes("e1"), rooms: [READ], except: new Set(["a-op", "b-admin"]) }]);
    b.broadcast([{ bytes: bytes("marker"), rooms: [ADMIN] }]);
    await expect.poll(() => aAdmin.received, WAIT).toEqual(["e1", "marker"]);
    await expect.poll(() => bOperator.received, WAIT).toEqual(["e1"]);
    expect(aOperator.received).toEqual([]);
    expect(bAdmin.received).toEqual(["marker"]);
  });

  it("disconnects the members of a room on every instance, counting those closed here", async () => {
    const { a, aAdmin, aOperator, bAdmin, bOperator, bNode } = await cluster();
    expect(a.disconnect({ rooms: [nodeRoom("phone")], code: 1008, reason: "device revoked" })).toBe(0);
    await expect.poll(() => bNode.closed, WAIT).toEqual({ code: 1008, reason: "device revoked" });
    expect(
      a.disconnect({ rooms: [READ], except: new Set(["a-admin", "b-op"]), code: 1001, reason: "bye" }),
    ).toBe(1);
    expect(aOperator.closed).toEqual({ code: 1001, reason: "bye" });
    await expect.poll(() => bAdmin.closed, WAIT).toEqual({ code: 1001, reason: "bye" });
    expect(aAdmin.closed).toBeUndefined();
    expect(bOperator.closed).toBeUndefined();
  });

  it("locates a node on another instance, this one first, and forgets it when it leaves", async () => {
    const { a, b, ns } = await cluster();
    await expect(b.locateNode("phone")).resolves.toEqual({ instanceId: "gw-b" });
    await expect.poll(() => a.locateNode("phone"), WAIT).toEqual({ instanceId: "gw-b" });
    await expect(a.locateNode("laptop")).resolves.toBeUndefined();
    // The same node connects to A as well: A answers for itself.
    const second = new Member("a-phone");
    a.join(second, [nodeRoom("phone")]);
    await expect(a.locateNode("phone")).resolves.toEqual({ instanceId: "gw-a" });
    // B's connection goes: B's removal must not erase A's newer entry.
    const redis = new Redis(server.url);
    try {
      await expect.poll(() => redis.hget(`openclaw:${ns}:nodes`, "phone"), WAIT).toBe("gw-a");
      b.leaveAll("b-node");
      await expect.poll(() => b.locateNode("phone"), WAIT).toEqual({ instanceId: "gw-a" });
      a.leave("a-phone", nodeRoom("phone"));
      await expect.poll(() => b.locateNode("phone"), WAIT).toBeUndefined();
      await expect(redis.hlen(`openclaw:${ns}:nodes`)).resolves.toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it("removes its nodes from the presence hash when closed", async () => {
    const { a, b } = await cluster();
    await expect.poll(() => a.locateNode("phone"), WAIT).toEqual({ instanceId: "gw-b" });
    await b.close();
    expect(b.state).toBe("closed");
    await expect(a.locateNode("phone")).resolves.toBeUndefined();
  });

  it("drops malformed cluster messages with one warning, and goes on", async () => {
    const { a, aOperator, bOperator, warnings } = await cluster();
    const redis = new Redis(server.url);
    try {
      await redis.publish(a.channel, Buffer.from([0, 0, 0, 200, 1, 2]));
      await redis.publish(a.channel, "not even a header");
      const header = Buffer.from(JSON.stringify({ i: "gw-x", k: "b", p: [{ r: [READ], n: 1000 }] }));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(header.length);
      await redis.publish(a.channel, Buffer.concat([length, header, bytes("short")]));
      // A header of the wrong shape, and one with a close code no server may send.
      for (const bad of [
        { i: "gw-x", k: "b", p: [{ r: "everyone", n: 1 }] },
        { i: "gw-x", k: "d", r: [READ], c: 99, m: "x" },
        null,
      ]) {
        const text = Buffer.from(JSON.stringify(bad));
        length.writeUInt32BE(text.length);
        await redis.publish(a.channel, Buffer.concat([length, text]));
      }
      const b2 = new RedisAdapter({
        redisUrl: server.url,
        instanceId: "gw-c",
        namespace: a.channel.split(":")[1]!,
      });
      adapters.push(b2);
      await b2.ready();
      b2.broadcast([{ bytes: bytes("ok"), rooms: [READ] }]);
      await expect.poll(() => bOperator.received, WAIT).toEqual(["ok"]);
      await expect.poll(() => aOperator.received, WAIT).toEqual(["ok"]);
      // Six dropped before "ok" arrived (one channel, in order), one warning for them all.
      expect(warnings.filter((w) => w.includes("malformed"))).toEqual([MALFORMED_MESSAGE_WARNING]);
    } finally {
      redis.disconnect();
    }
  });

  it("keeps delivering locally when Redis goes down, reports degraded, and recovers", async () => {
    const own = await startRedisServer();
    try {
      const { a, b, aOperator, bOperator, warnings } = await cluster(own.url);
      expect(a.state).toBe("ready");
      const states: RedisAdapterState[] = [];
      a.on("state", (state) => states.push(state));
      await own.kill9();
      await expect.poll(() => a.degraded, WAIT).toBe(true);
      expect(states).toContain("degraded");
      expect(() => a.broadcast([{ bytes: bytes("local"), rooms: [READ] }])).not.toThrow();
      expect(aOperator.received).toEqual(["local"]);
      expect(() => a.disconnect({ rooms: [scopeRoom("nobody")], code: 1001, reason: "x" })).not.toThrow();
      await expect(b.locateNode("phone")).resolves.toEqual({ instanceId: "gw-b" });
      await expect(a.locateNode("phone")).resolves.toBeUndefined();
      // A node that connects while Redis is down is published once it is back.
      b.join(new Member("b-tablet"), [nodeRoom("tablet")]);
      expect(warnings.filter((w) => w.includes("not shared"))).toHaveLength(1);
      a.broadcast([{ bytes: bytes("local2"), rooms: [READ] }]);
      expect(warnings.filter((w) => w.includes("not shared"))).toHaveLength(1);
      await own.restart();
      await expect.poll(() => a.state, { timeout: 15_000, interval: 20 }).toBe("ready");
      expect(states).toEqual(["degraded", "ready"]);
      expect(warnings.some((w) => w.includes("dropped meanwhile"))).toBe(true);
      await expect.poll(() => b.state, { timeout: 15_000, interval: 20 }).toBe("ready");
      // Presence is put back after the reconnect, and events flow again.
      await expect.poll(() => a.locateNode("tablet"), WAIT).toEqual({ instanceId: "gw-b" });
      a.broadcast([{ bytes: bytes("again"), rooms: [READ] }]);
      await expect.poll(() => bOperator.received, WAIT).toEqual(["again"]);
    } finally {
      await Promise.all(adapters.splice(0).map((adapter) => adapter.close()));
      await own.stop();
    }
  }, 30_000);
});
