import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { clusterTestsAvailable, collect, connect, startInstance, useCluster } from "./cluster-process";
import { type GatewayProcess, until } from "./gateway-process";

// Issue 29, item 1: whoever can write to the cluster's Redis must not be able to crash it. Two real
// `openclaw gateway` processes share a real redis-server; a plain `redis-cli` publishes `null`, `{}`,
// garbage and wrong-typed objects on every channel they listen to. Both must stay up, keep routing,
// and say so once per receiver (not once per message).

const available = await clusterTestsAvailable();
const cluster = useCluster("hostile", available);
const { newCluster } = cluster;

/** Runs `redis-cli` against the test's redis-server; `stdin`, when given, is its last argument (`-x`). */
function redisCli(args: string[], stdin?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "redis-cli",
      ["-p", String(cluster.redis.port), ...(stdin === undefined ? [] : ["-x"]), ...args],
      { timeout: 10_000 },
      (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
    );
    child.stdin?.end(stdin);
  });
}

/** Publishes a message with a plain Redis client. */
function publish(channel: string, message: string | Buffer): Promise<string> {
  return redisCli(["PUBLISH", channel], Buffer.from(message));
}

/** The JSON log lines an instance printed with this message. */
function logged(instance: GatewayProcess, msg: string): Array<Record<string, unknown>> {
  return instance
    .output()
    .split("\n")
    .filter((line) => line.includes(msg))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const MALFORMED = "malformed message from Redis dropped";

/** Why an instance is gone (with what it printed last). */
function gone(instance: GatewayProcess, name: string): Error {
  const { exitCode, signalCode } = instance.child;
  return new Error(`instance ${name} exited (${exitCode ?? signalCode}):\n${instance.output().slice(-4000)}`);
}

describe.skipIf(!available)("cluster mode: hostile messages on Redis", () => {
  it("null, {}, garbage and wrong-typed messages on every channel crash no instance; both keep working and warn once per receiver", async () => {
    const setup = newCluster();
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const exited = (instance: GatewayProcess, name: string) =>
      new Promise<never>((_, reject) => instance.child.once("exit", () => reject(gone(instance, name))));
    // An instance that dies fails the test at once (not at a time-out).
    const death = Promise.race([exited(a!, "a"), exited(b!, "b")]);
    death.catch(() => {});
    const ns = `openclaw:${setup.namespace}:`;
    const devices = `${ns}devices`;
    const hostile = [
      "null",
      "{}",
      "[]",
      "42",
      '"text"',
      "{not json",
      JSON.stringify({ s: 1, w: [], sync: 5 }),
      JSON.stringify({ sync: null }),
      JSON.stringify({ deliveryId: 7, status: "sent" }),
      JSON.stringify({ deliveryId: "d", status: "failed", error: null }),
      JSON.stringify({
        i: "x",
        q: [null, [1], ["id", "node", "m", "soon", null]],
        r: [null, ["id"], ["id", 0, null]],
      }),
      JSON.stringify({ k: "on", i: "x", n: null }),
      JSON.stringify({ k: "on", i: "x", n: { nodeId: 5 } }),
      JSON.stringify({ k: "off", i: 3 }),
      JSON.stringify({ s: devices, w: "x", v: 1e9, c: [["node-1", "garbage"], [5, null], null] }),
      JSON.stringify({ s: devices, w: "x", v: 1e9, c: "all" }),
      JSON.stringify({ s: `${ns}bindings`, w: "x", v: 1e9, c: [["b-1", "{}"]] }),
    ];
    const channels = [
      `${ns}changes`,
      `${ns}delivery:outcome:a`,
      `${ns}delivery:outcome:b`,
      `${ns}delivery:wake`,
      `${ns}node-presence`,
      `${ns}rpc:a`,
      `${ns}rpc:b`,
      `${ns}broadcast`,
    ];
    // Each message twice: the warning must not repeat per message.
    for (let round = 0; round < 2; round++) {
      for (const channel of channels) for (const message of hostile) await publish(channel, message);
      // The adapter's framing: a 4-byte header length, then the header; here lengths that lie.
      const header = Buffer.from(JSON.stringify({ i: "x", k: 1, p: [{ n: -5 }, null] }));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(header.length);
      await publish(`${ns}broadcast`, Buffer.concat([length, header]));
      length.writeUInt32BE(4);
      await publish(`${ns}broadcast`, Buffer.concat([length, Buffer.from("null")]));
    }

    const receivers = {
      a: ["change feed", "delivery outcome", "node presence", "node bus", "broadcast"],
      b: ["change feed", "delivery outcome", "node presence", "node bus", "broadcast"],
    };
    const warned = (instance: GatewayProcess, source: string) =>
      logged(instance, MALFORMED).filter((line) => line.source === source);
    await Promise.race([
      death,
      until(
        () =>
          receivers.a.every((source) => warned(a!, source).length > 0) &&
          receivers.b.every((source) => warned(b!, source).length > 0),
        "a malformed-message warning from every receiver",
        20_000,
      ),
    ]);

    // Both instances still answer and still work together: an event raised on A reaches B.
    for (const instance of [a!, b!]) {
      const health = await fetch(`${instance.url.replace(/^ws/, "http")}/health`);
      expect(health.status).toBe(200);
    }
    const onA = await connect(setup, a!);
    const onB = await connect(setup, b!);
    const seen = collect(onB, "task.completed");
    const { taskId } = await onA.request("task.schedule", { type: "noop", delayMs: 0 });
    await Promise.race([
      death,
      until(
        () => seen.some((event) => (event as { taskId?: string }).taskId === taskId),
        "task.completed on b",
        20_000,
      ),
    ]);
    for (const [instance, name] of [
      [a!, "a"],
      [b!, "b"],
    ] as const) {
      if (instance.child.exitCode !== null || instance.child.signalCode !== null) throw gone(instance, name);
    }
    // One warning per receiver, however many malformed messages it got.
    for (const [instance, sources] of [
      [a!, receivers.a],
      [b!, receivers.b],
    ] as const) {
      for (const source of sources) expect(warned(instance, source), source).toHaveLength(1);
    }
  }, 60_000);

  it("an instance starts and works on stored values someone else corrupted, and warns about them", async () => {
    const setup = newCluster();
    const a = await startInstance(setup, "a");
    const ns = `openclaw:${setup.namespace}:`;
    // A device, a binding, an idempotency key, a conversation and a presence entry that no gateway wrote.
    await redisCli(["HSET", `${ns}devices`, "node-x", "{not json"]);
    await redisCli(["ZADD", `${ns}devices:order`, "1", "node-x"]);
    await redisCli(["SET", `${ns}devices:version`, "1"]);
    await redisCli(["HSET", `${ns}bindings`, "b-x", "null"]);
    await redisCli(["ZADD", `${ns}bindings:order`, "1", "b-x"]);
    await redisCli(["SET", `${ns}bindings:version`, "1"]);
    await redisCli(["SET", `${ns}keys:idempotency:v:k-x`, JSON.stringify({ at: "yesterday" })]);
    await redisCli(["ZADD", `${ns}keys:idempotency:order`, "1", "k-x"]);
    await redisCli(["HSET", `${ns}records:conversations:data`, "c-x", "[]"]);
    await redisCli(["ZADD", `${ns}records:conversations:order`, "1", "c-x"]);
    await redisCli(["HSET", `${ns}tasks:data`, "t-x", "42"]);
    await redisCli(["ZADD", `${ns}tasks:order`, "1", "t-x"]);
    await redisCli(["HSET", `${ns}node-info`, "n-x", JSON.stringify({ i: "c", n: { nodeId: 1 } })]);
    const b = await startInstance(setup, "b");
    const health = await fetch(`${b.url.replace(/^ws/, "http")}/health`);
    expect(health.status).toBe(200);
    const onA = await connect(setup, a);
    const onB = await connect(setup, b);
    const seen = collect(onA, "task.completed");
    const { taskId } = await onB.request("task.schedule", { type: "noop", delayMs: 0 });
    await until(
      () => seen.some((event) => (event as { taskId?: string }).taskId === taskId),
      "task.completed on a",
      20_000,
    );
    const sources = new Set(logged(b, MALFORMED).map((line) => line.source));
    expect([...sources].sort()).toEqual(
      expect.arrayContaining([
        "store bindings",
        "store devices",
        "store keys:idempotency",
        "store records:conversations",
        "store tasks",
        "node presence",
      ]),
    );
  }, 60_000);
});
