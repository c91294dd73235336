import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Harness, pairNode, startGateway, TOKEN } from "@openclaw/gateway/testing";
import { GatewayClient, ProtocolError } from "@openclaw/protocol";
import {
  ClusterMembership,
  connectRedisStoreClient,
  RedisAdapter,
  RedisDeviceStore,
  RedisNodeBus,
} from "@openclaw/redis";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { freshNamespace, skipRedis, useRedis } from "./harness";

// Issue 17, "nodes anywhere": gateways on one real redis-server, real nodes over WebSocket. A CLI on
// A calls a node held by B; node.list shows every instance's nodes; a node that is nowhere is
// NODE_OFFLINE; when B is SIGKILLed (B is then a process of its own) A's caller gets a typed error in
// bounded time, or the answer of the node once it reconnects to C within the grace period.

/** Membership timing of every instance: a dead one is seen down within about ttl + heartbeat. */
const TTL_MS = 600;
const HEARTBEAT_MS = 100;

/** Polls `check` until it holds, within a generous deadline. */
async function eventually(check: () => boolean | Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${deadlineMs} ms: ${check.toString()}`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

/** How a promise settled. */
const settled = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  );

/** One in-process gateway of the test cluster and the Redis links it owns. */
interface Instance {
  readonly id: string;
  readonly h: Harness;
  readonly redis: Redis;
  readonly membership: ClusterMembership;
  readonly bus: RedisNodeBus;
}

/** A gateway of the test cluster running as its own process (SIGKILL-able). */
interface ProcessInstance {
  readonly id: string;
  readonly url: string;
  readonly child: ChildProcess;
}

const fixture = resolve(import.meta.dirname, "fixtures/nodeInstance.ts");
const tsx = createRequire(resolve(import.meta.dirname, "../../../package.json")).resolve("tsx");

describe.skipIf(skipRedis)("nodes anywhere: node calls across gateway instances", () => {
  const redisFixture = useRedis();
  const instances: Instance[] = [];
  const processes: ProcessInstance[] = [];
  const nodes: GatewayClient[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.close().catch(() => {});
    for (const { child } of processes.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
    for (const instance of instances.splice(0)) {
      await instance.h.stop();
      await instance.membership.stop();
      instance.redis.disconnect();
    }
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function startInstance(namespace: string, id: string, graceMs = 0): Promise<Instance> {
    const url = redisFixture.server.url;
    const redis = await connectRedisStoreClient(url);
    const membership = new ClusterMembership({
      ...{ redis, instanceId: id, namespace },
      ...{ ttlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS },
    });
    await membership.start();
    const adapter = new RedisAdapter({ redisUrl: url, instanceId: id, namespace });
    await adapter.ready();
    const bus = new RedisNodeBus({ redisUrl: url, instanceId: id, namespace, membership });
    const h = await startGateway({
      adapter,
      stores: { deviceStore: new RedisDeviceStore(redis, { namespace }) },
      config: { gateway: { nodeReconnectGraceMs: graceMs } },
      gateway: { remoteNodes: bus },
    });
    const instance: Instance = { id, h, redis, membership, bus };
    instances.push(instance);
    return instance;
  }

  async function startProcess(namespace: string, id: string, graceMs: number): Promise<ProcessInstance> {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-node-instance-"));
    dirs.push(dir);
    const child = spawn(
      process.execPath,
      [
        "--conditions=@openclaw/source",
        "--import",
        tsx,
        fixture,
        ...[redisFixture.server.url, namespace, id, dir],
      ],
      {
        env: {
          ...process.env,
          OPENCLAW_GATEWAY_TOKEN: TOKEN,
          NODE_RECONNECT_GRACE_MS: String(graceMs),
          MEMBERSHIP_TTL_MS: String(TTL_MS),
          MEMBERSHIP_HEARTBEAT_MS: String(HEARTBEAT_MS),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const url = await new Promise<string>((done, fail) => {
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const found = /"url":"(ws:\/\/[^"]+)"/.exec(out);
        if (found) done(found[1]!);
      });
      child.once("exit", (code) => fail(new Error(`instance ${id} exited with ${code}: ${out}${err}`)));
    });
    const instance = { id, url, child };
    processes.push(instance);
    return instance;
  }

  /** Waits until every instance's membership sees all of `ids` alive. */
  async function allSee(ids: readonly string[]): Promise<void> {
    for (const instance of instances) {
      await eventually(() => ids.every((id) => instance.membership.isAlive(id)));
    }
  }

  /** A node client connected to `url` with a device token, answering `agent.run` with `answer`. */
  async function connectNode(
    url: string,
    deviceToken: string,
    answer: (data: unknown) => unknown,
  ): Promise<GatewayClient> {
    const node = new GatewayClient({
      url,
      role: "node",
      deviceToken,
      capabilities: ["agent.run"],
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    node.handle("agent.run", answer);
    await node.connect();
    nodes.push(node);
    return node;
  }

  /**
   * Pairs a device on `on` (device list shared in Redis), closes its first connection, and waits
   * until no instance lists it any more.
   */
  async function pairDevice(on: Instance, nodeId: string): Promise<string> {
    const { node, deviceToken } = await pairNode(on.h, nodeId, () => ({ output: "paired" }));
    await node.close();
    await eventually(() => on.h.gateway.registry.get(nodeId) === undefined);
    // Every instance has seen that first connection go, so none mistakes it for the next one.
    for (const instance of instances) {
      await eventually(() => !instance.bus.list().some((listed) => listed.nodeId === nodeId));
    }
    return deviceToken;
  }

  it("forwards node.invoke and agent.run from A to a node on B, lists every instance's nodes, and says NODE_OFFLINE for a node nowhere", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a");
    const b = await startInstance(namespace, "gw-b");
    await allSee(["gw-a", "gw-b"]);
    const seen: unknown[] = [];
    const { node: phoneB } = await pairNode(b.h, "phone-b", (data) => {
      seen.push(data);
      return { output: `B ran ${(data as { input: string }).input}`, runId: "run-1" };
    });
    await pairNode(a.h, "phone-a", () => ({ output: "A ran it" }));
    const cli = await a.h.client();
    await eventually(() => a.bus.list().some((node) => node.nodeId === "phone-b"));

    await expect(
      cli.request("node.invoke", { node: "phone-b", method: "agent.run", data: { input: "hello" } }),
    ).resolves.toEqual({ nodeId: "phone-b", result: { output: "B ran hello", runId: "run-1" } });
    await expect(
      cli.request("agent.run", { input: "summary" }, { target: "phone-b" }),
    ).resolves.toMatchObject({
      nodeId: "phone-b",
      output: "B ran summary",
      runId: "run-1",
    });
    // A's own node is called here, without Redis.
    await expect(
      cli.request("node.invoke", { node: "phone-a", method: "agent.run", data: { input: "x" } }),
    ).resolves.toMatchObject({ nodeId: "phone-a", result: { output: "A ran it" } });
    expect(seen).toHaveLength(2);

    const listed = (await cli.request("node.list", {})).nodes.map((node) => node.nodeId).sort();
    expect(listed).toEqual(["phone-a", "phone-b"]);
    const fromB = await b.h.client();
    expect((await fromB.request("node.list", {})).nodes.map((node) => node.nodeId).sort()).toEqual([
      "phone-a",
      "phone-b",
    ]);

    // A node nowhere, and a node elsewhere that lacks the capability.
    await expect(
      cli.request("node.invoke", { node: "phone-z", method: "agent.run", data: {} }),
    ).rejects.toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "not_connected", target: "phone-z" },
    });
    await expect(
      cli.request("node.invoke", { node: "phone-b", method: "camera.snap", data: {} }),
    ).rejects.toMatchObject({ code: "NOT_FOUND", details: { reason: "capability_missing" } });

    // The node leaves B: A stops offering it, and a call to it is NODE_OFFLINE.
    await phoneB.close();
    await eventually(() => !a.bus.list().some((node) => node.nodeId === "phone-b"));
    await expect(
      cli.request("node.invoke", { node: "phone-b", method: "agent.run", data: {} }),
    ).rejects.toMatchObject({ code: "NODE_OFFLINE" });
    expect(a.bus.pendingCount).toBe(0);
  });

  it("sends a burst of calls and their answers in far fewer Redis messages than calls", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a");
    const b = await startInstance(namespace, "gw-b");
    await allSee(["gw-a", "gw-b"]);
    await pairNode(b.h, "phone-b", (data) => ({ output: (data as { input: string }).input }));
    const cli = await a.h.client();
    await eventually(() => a.bus.list().some((node) => node.nodeId === "phone-b"));
    const publishes = async () => {
      const info = await redisFixture.redis.info("commandstats");
      return Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };
    const before = await publishes();
    const calls = 200;
    const answers = await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        cli.request("node.invoke", { node: "phone-b", method: "agent.run", data: { input: `n${i}` } }),
      ),
    );
    expect(answers.map((answer) => (answer.result as { output: string }).output)).toEqual(
      Array.from({ length: calls }, (_, i) => `n${i}`),
    );
    // One message per call and per answer would be 400; a burst shares messages.
    expect((await publishes()) - before).toBeLessThan(calls);
  });

  it("passes the node's own typed error and the call's TIMEOUT back across instances", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a");
    const b = await startInstance(namespace, "gw-b");
    await allSee(["gw-a", "gw-b"]);
    const token = await pairDevice(b, "phone-b");
    await connectNode(b.h.url, token, (data) => {
      const { input } = data as { input: string };
      if (input === "fail")
        throw new ProtocolError("CONFLICT", "camera busy", { details: { reason: "busy" } });
      return new Promise(() => {}); // never answers
    });
    await eventually(() => a.bus.list().length === 1);
    const cli = await a.h.client();
    await expect(
      cli.request("node.invoke", { node: "phone-b", method: "agent.run", data: { input: "fail" } }),
    ).rejects.toMatchObject({ code: "CONFLICT", message: "camera busy", details: { reason: "busy" } });
    await expect(
      cli.request("node.invoke", {
        node: "phone-b",
        method: "agent.run",
        data: { input: "hang" },
        timeoutMs: 300,
      }),
    ).rejects.toMatchObject({ code: "TIMEOUT", details: { reason: "node_timeout", nodeId: "phone-b" } });
    expect(a.bus.pendingCount).toBe(0);
  });

  it("fails A's pending call with NODE_OFFLINE once B is SIGKILLed, within the membership TTL (no grace)", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a");
    const token = await pairDevice(a, "phone-b");
    const b = await startProcess(namespace, "gw-b", 0);
    await allSee(["gw-a", "gw-b"]);
    let asked!: () => void;
    const reached = new Promise<void>((done) => {
      asked = done;
    });
    await connectNode(b.url, token, () => {
      asked();
      return new Promise(() => {}); // the node is busy when its gateway dies
    });
    await eventually(() => a.bus.list().length === 1);
    const cli = await a.h.client();
    const call = settled(
      cli.request("node.invoke", {
        node: "phone-b",
        method: "agent.run",
        data: { input: "x" },
        timeoutMs: 60_000,
      }),
    );
    await reached;
    const killedAt = Date.now();
    b.child.kill("SIGKILL");
    const { error } = await call;
    expect(error).toMatchObject({ code: "NODE_OFFLINE", details: { nodeId: "phone-b", instanceId: "gw-b" } });
    // Seen down within the TTL and a heartbeat or two (generous: the machine may be busy), far below the call's 60 s.
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await eventually(() => a.bus.list().length === 0);
  });

  it("keeps A's call through B's SIGKILL and delivers it, with the same id, when the node reconnects to C within the grace", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a", 20_000);
    const token = await pairDevice(a, "phone-b");
    const b = await startProcess(namespace, "gw-b", 20_000);
    const c = await startInstance(namespace, "gw-c", 20_000);
    await allSee(["gw-a", "gw-b", "gw-c"]);
    const idsOnC: string[] = [];
    let asked!: () => void;
    const reached = new Promise<void>((done) => {
      asked = done;
    });
    await connectNode(b.url, token, () => {
      asked();
      return new Promise(() => {});
    });
    await eventually(() => a.bus.list().length === 1);
    const cli = await a.h.client();
    const call = settled(
      cli.request("node.invoke", {
        node: "phone-b",
        method: "agent.run",
        data: { input: "once" },
        timeoutMs: 60_000,
      }),
    );
    await reached;
    b.child.kill("SIGKILL");
    await eventually(() => !a.membership.isAlive("gw-b"));
    // The node notices and reconnects, to C this time, well within the grace.
    const raw = new WebSocket(c.h.url);
    await new Promise((done) => raw.once("open", done));
    raw.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type: string; id: string; method?: string };
      if (frame.type === "req" && frame.method === "agent.run") {
        idsOnC.push(frame.id);
        raw.send(JSON.stringify({ type: "res", id: frame.id, data: { output: "ran on C" }, error: null }));
      }
    });
    raw.send(
      JSON.stringify({
        type: "req",
        id: "hello",
        method: "connect",
        data: {
          role: "node",
          deviceToken: token,
          capabilities: ["agent.run"],
          protocol: 1,
          client: { name: "ios", version: "1.0.0", platform: "ios" },
        },
      }),
    );
    const { value, error } = await call;
    expect(error).toBeUndefined();
    expect(value).toEqual({ nodeId: "phone-b", result: { output: "ran on C" } });
    expect(idsOnC).toHaveLength(1);
    expect(idsOnC[0]).toMatch(/^rn-/); // the id A gave the call (B sent it under the same one)
    raw.terminate();
    expect(a.bus.pendingCount).toBe(0);
  });

  it("refuses with UNAVAILABLE (redis_unavailable) what needs Redis while it is down, and still calls its own nodes", async () => {
    const namespace = freshNamespace();
    const a = await startInstance(namespace, "gw-a");
    await allSee(["gw-a"]);
    await pairNode(a.h, "phone-a", () => ({ output: "local" }));
    const cli = await a.h.client();
    await redisFixture.server.kill9();
    try {
      await eventually(() => a.bus.degraded);
      await expect(
        cli.request("node.invoke", { node: "phone-a", method: "agent.run", data: {} }),
      ).resolves.toMatchObject({ result: { output: "local" } });
      await expect(
        cli.request("node.invoke", { node: "phone-z", method: "agent.run", data: {} }),
      ).rejects.toMatchObject({
        code: "UNAVAILABLE",
        details: { reason: "redis_unavailable", retryable: true },
      });
      await expect(cli.request("node.list", {})).rejects.toMatchObject({
        code: "UNAVAILABLE",
        details: { reason: "redis_unavailable" },
      });
    } finally {
      await redisFixture.server.restart();
    }
    // Back: the node is published again (a restarted Redis may have lost it) and listed.
    await eventually(() => !a.bus.degraded);
    await eventually(
      async () => (await redisFixture.redis.hexists(a.bus.nodesKey, "phone-a").catch(() => 0)) === 1,
    );
    expect((await cli.request("node.list", {})).nodes.map((node) => node.nodeId)).toEqual(["phone-a"]);
  });
});
