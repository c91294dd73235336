import { GatewayClient, isProtocolError } from "@openclaw/protocol";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  ADMIN,
  clusterTestsAvailable,
  collect,
  connect,
  poll,
  ready,
  startInstance,
  useCluster,
} from "./cluster-process";
import { type GatewayProcess, kill9, until } from "./gateway-process";

// Issue 17, cluster mode, end to end: real `openclaw gateway` processes (the CLI, which loads
// @openclaw/redis when the config has `cluster`) sharing one real redis-server.

const available = await clusterTestsAvailable();
const cluster = useCluster("cluster", available);
const { newCluster } = cluster;

const DEVICE = { name: "ios", version: "1.0.0", platform: "ios" };
const PUBLIC_KEY = "MCowBQYDK2VwAyEAexamplekey1234567890";

describe.skipIf(!available)("cluster mode: three gateway processes on one Redis", () => {
  it("the instances see each other, in system.status and /ready", async () => {
    const setup = newCluster();
    const instances = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
    const client = await connect(setup, instances[0]!);
    let status = (await client.request("system.status", {})) as { cluster?: { instances: string[] } };
    for (let attempt = 0; attempt < 100 && (status.cluster?.instances.length ?? 0) < 3; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await client.request("system.status", {})) as { cluster?: { instances: string[] } };
    }
    expect(status.cluster).toMatchObject({ instanceId: "a", state: "ready" });
    expect(status.cluster?.instances.sort()).toEqual(["a", "b", "c"]);
    const readiness = await ready(instances[1]!);
    expect(readiness.status).toBe(200);
    expect(readiness.body).toMatchObject({ status: "ready", cluster: { instanceId: "b", state: "ready" } });
  });

  it("an event raised on one instance reaches the clients of the others, once each", async () => {
    const setup = newCluster();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
    const clientB = await connect(setup, b!);
    const clientC = await connect(setup, c!);
    const onB = collect(clientB, "task.completed");
    const onC = collect(clientC, "task.completed");
    const onA = await connect(setup, a!);
    const { taskId } = await onA.request("task.schedule", { type: "noop", delayMs: 0 });
    const mine = (seen: unknown[]) =>
      seen.filter((event) => (event as { taskId?: string }).taskId === taskId);
    await until(() => mine(onB).length === 1 && mine(onC).length === 1, "task.completed on b and c", 20_000);
    // A second copy would arrive right behind the first: give it the time to.
    await clientB.request("ping", {});
    await clientC.request("ping", {});
    expect(mine(onB)).toHaveLength(1);
    expect(mine(onC)).toHaveLength(1);
  });

  it("pairs a device on A, serves it on B, forwards calls to it from C, and follows it through B's SIGKILL", async () => {
    const setup = newCluster({ gateway: { nodeReconnectGraceMs: 20_000 } });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
    // Pairing on A.
    const admin = await connect(setup, a!, ADMIN);
    const device = new GatewayClient({
      url: a!.url,
      role: "node",
      WebSocket,
      reconnect: false,
      client: DEVICE,
    });
    setup.clients.push(device);
    await device.connect();
    const approved = new Promise<string | undefined>((resolve) =>
      device.once("pairing.approved", (data) => resolve(data.deviceToken)),
    );
    await device.request("pairing.start", { code: "4821", publicKey: PUBLIC_KEY, nodeId: "phone" });
    await admin.request("pairing.approve", { code: "4821" });
    const deviceToken = await approved;
    await device.close();

    // The device connects to B with its token; its calls wait for a release we control.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls: unknown[] = [];
    const nodeOn = async (instance: GatewayProcess) => {
      const node = new GatewayClient({
        url: instance.url,
        role: "node",
        deviceToken: deviceToken!,
        capabilities: ["echo"],
        WebSocket,
        reconnect: false,
        client: DEVICE,
      });
      setup.clients.push(node);
      node.handle("echo", async (data) => {
        calls.push(data);
        await released;
        return { echoed: data };
      });
      await node.connect();
      return node;
    };
    await nodeOn(b!);
    const cli = await connect(setup, c!);
    const listed = await poll(
      async () => ((await cli.request("node.list", {})) as { nodes: Array<{ nodeId: string }> }).nodes,
      (nodes) => nodes.some((node) => node.nodeId === "phone"),
    );
    expect(listed.map((node) => node.nodeId)).toEqual(["phone"]);

    // A call from C is forwarded to B; B dies with it pending; the node comes back on C in the grace.
    const pending = cli.request("node.invoke", {
      node: "phone",
      method: "echo",
      data: { n: 1 },
      timeoutMs: 60_000,
    });
    await until(() => calls.length === 1, "the call to reach the node on B", 20_000);
    await kill9(b!.child);
    const moved = await nodeOn(c!);
    await until(() => calls.length === 2, "the pending call to be sent again to the node on C", 30_000);
    release();
    await expect(pending).resolves.toMatchObject({ nodeId: "phone", result: { echoed: { n: 1 } } });

    // A node offline everywhere is NODE_OFFLINE.
    await expect(
      cli.request("node.invoke", { node: "tablet", method: "echo", data: {} }),
    ).rejects.toMatchObject({ code: "NODE_OFFLINE" });

    // Revoked on A, the device is closed on C.
    const closed = new Promise<number>((resolve) => moved.once("disconnected", (info) => resolve(info.code)));
    await admin.request("device.revoke", { nodeId: "phone" });
    expect(await closed).toBe(1008);
  }, 120_000);

  it("survives Redis stopping mid-traffic: local clients stay, /ready says degraded, Redis work is refused retryably, all comes back", async () => {
    const setup = newCluster();
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const onA = await connect(setup, a!);
    const onB = await connect(setup, b!);
    const adminA = await connect(setup, a!, ADMIN);
    await cluster.redis.kill9();
    // Local clients stay connected and served.
    await expect(onA.request("ping", {})).resolves.toMatchObject({ ts: expect.any(Number) });
    let degraded = await ready(a!);
    for (let attempt = 0; attempt < 200 && degraded.body.status !== "degraded"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      degraded = await ready(a!);
    }
    expect(degraded.status).toBe(503);
    expect(degraded.body).toMatchObject({
      status: "degraded",
      cluster: { instanceId: "a", state: "degraded" },
    });
    // What needs Redis is refused with a typed, retryable error.
    const refused = await adminA
      .request("binding.add", {
        level: "account",
        match: { userId: "u1" },
        target: { channel: "telegram", address: "1" },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(isProtocolError(refused)).toBe(true);
    expect(refused).toMatchObject({ code: "UNAVAILABLE", details: { retryable: true } });
    await expect(onB.request("ping", {})).resolves.toMatchObject({ ts: expect.any(Number) });

    await cluster.redis.restart();
    let back = await ready(a!);
    for (let attempt = 0; attempt < 400 && back.body.status !== "ready"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      back = await ready(a!);
    }
    expect(back).toMatchObject({ status: 200, body: { status: "ready" } });
    // Events cross instances again.
    const seen = collect(onB, "task.completed");
    const { taskId } = await onA.request("task.schedule", { type: "noop", delayMs: 0 });
    await until(
      () => seen.some((event) => (event as { taskId?: string }).taskId === taskId),
      "task.completed on b after Redis came back",
      20_000,
    );
    // The test's own limit covers its waits (10 s degraded, 20 s back, 20 s the event): the default
    // 20 s ran out on a busy CI machine while the instances were still reconnecting.
  }, 60_000);
});
