// Benchmark (issue 17, cluster mode): the same broadcast load on one gateway (bare) and on two
// gateway instances sharing a redis-server (subject), clients spread evenly over the instances and
// the inbound messages arriving at instance A. Reports deliveries/s (target ≥ 0.7x), the latency
// of an event to a client of A and of B (the added p50/p99 of crossing instances), and the Redis
// commands spent per inbound message and per send (`INFO commandstats`, counted around the load).
// A last case sends one message at a time, for the added latency without queuing.
import { spawn } from "node:child_process";
import { createConnection } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect } from "./lib/client.mjs";
import { compare, report, worker } from "./lib/harness.mjs";

const script = fileURLToPath(import.meta.url);
const serverScript = fileURLToPath(new URL("./lib/server.mjs", import.meta.url));

/** Starts a gateway server process (bench/lib/server.mjs), in cluster mode when `env` says so. */
async function startGateway(env = {}) {
  const child = spawn(process.execPath, [serverScript, "gateway"], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const lines = createInterface({ input: child.stdout });
  const { port } = await new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))));
  return {
    port,
    async stop() {
      child.stdin.end();
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

/** One request over Redis's protocol (inline command); resolves the bulk or simple reply. */
function redisCommand(port, command) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString();
      const header = /^\$(\d+)\r\n/.exec(data);
      if (
        (header !== null && data.length >= header[0].length + Number(header[1]) + 2) ||
        /^[+\-:]/.test(data)
      ) {
        socket.end();
        resolve(
          header === null ? data.trim() : data.slice(header[0].length, header[0].length + Number(header[1])),
        );
      }
    });
    socket.on("error", reject);
    socket.write(`${command}\r\n`);
  });
}

/** Redis's count of commands processed so far (all of them, minus the INFO calls themselves). */
async function commandsProcessed(port) {
  const info = await redisCommand(port, "INFO commandstats");
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (match[1] !== "info") total += Number(match[2]);
  }
  return total;
}

function receivedAt(text) {
  if (!text.slice(0, 80).includes('"channel.message.received"')) return Number.NaN;
  const at = text.indexOf('"timestamp":');
  return at === -1 ? Number.NaN : Number.parseInt(text.slice(at + 12, at + 27), 10);
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/**
 * `events` inbound messages posted to instance A, broadcast to `clients` connections spread over
 * `instances` gateways (1: a plain gateway, no Redis; 2: cluster mode on one redis-server).
 */
async function broadcast(instances, clients, events) {
  let redis;
  const env = [];
  if (instances > 1) {
    const { startRedisServer } = await import("@openclaw/redis/testing");
    redis = await startRedisServer();
    for (let i = 0; i < instances; i++)
      env.push({ BENCH_REDIS_URL: redis.url, BENCH_NAMESPACE: "bench", BENCH_INSTANCE_ID: `gw-${i}` });
  } else {
    env.push({});
  }
  const servers = [];
  for (const e of env) servers.push(await startGateway(e));
  const expected = clients * events * 2;
  let delivered = 0;
  const latencies = servers.map(() => []);
  let finished;
  const all = new Promise((resolve) => {
    finished = resolve;
  });
  const sockets = [];
  for (let i = 0; i < clients; i++) {
    const on = i % servers.length;
    sockets.push(
      await connect(servers[on].port, (data) => {
        const ts = receivedAt(String(data));
        if (!Number.isNaN(ts)) latencies[on].push(Date.now() - ts);
        if (++delivered === expected) finished();
      }),
    );
  }
  const commands0 = redis === undefined ? 0 : await commandsProcessed(redis.port);
  const t0 = performance.now();
  for (let sent = 0; sent < events; sent += 20) {
    const response = await fetch(
      `http://127.0.0.1:${servers[0].port}/webhook/bench?n=${Math.min(20, events - sent)}&from=${sent}`,
      { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
    );
    await response.arrayBuffer();
  }
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 60_000))]);
  const seconds = (performance.now() - t0) / 1000;
  const commandsPerInbound =
    redis === undefined ? 0 : ((await commandsProcessed(redis.port)) - commands0) / events;

  // Sends: `message.send` through instance A to the bench channel, counted the same way.
  let commandsPerSend = 0;
  if (redis !== undefined) {
    const sender = sockets[0];
    const sends = 200;
    const before = await commandsProcessed(redis.port);
    for (let i = 0; i < sends; i++) {
      await new Promise((resolve) => {
        const id = `send-${i}`;
        const listener = (raw) => {
          if (String(raw).includes(`"id":"${id}"`)) {
            sender.off("message", listener);
            resolve();
          }
        };
        sender.on("message", listener);
        sender.send(
          JSON.stringify({
            type: "req",
            id,
            method: "message.send",
            data: { channel: "bench", recipient: `chat-${i % 10}`, text: `reply ${i}` },
          }),
        );
      });
    }
    commandsPerSend = ((await commandsProcessed(redis.port)) - before) / sends;
  }
  for (const ws of sockets) ws.terminate();
  for (const server of servers) await server.stop();
  await redis?.stop();
  const sorted = latencies.map((list) => list.sort((a, b) => a - b));
  const last = sorted[sorted.length - 1];
  return {
    deliveriesPerSec: delivered / seconds,
    delivered,
    p50AMs: percentile(sorted[0], 0.5),
    p99AMs: percentile(sorted[0], 0.99),
    p50BMs: percentile(last, 0.5),
    p99BMs: percentile(last, 0.99),
    commandsPerInbound,
    commandsPerSend,
  };
}

/**
 * The added latency of crossing instances, without queuing: one inbound message at a time (posted
 * to A, the next once every client has it), 10 clients spread over the instances.
 */
async function latency(instances, messages) {
  let redis;
  const env = [];
  if (instances > 1) {
    const { startRedisServer } = await import("@openclaw/redis/testing");
    redis = await startRedisServer();
    for (let i = 0; i < instances; i++)
      env.push({ BENCH_REDIS_URL: redis.url, BENCH_NAMESPACE: "bench", BENCH_INSTANCE_ID: `gw-${i}` });
  } else {
    env.push({});
  }
  const servers = [];
  for (const e of env) servers.push(await startGateway(e));
  const latencies = servers.map(() => []);
  let waiting = 0;
  let arrived;
  const sockets = [];
  for (let i = 0; i < 10; i++) {
    const on = i % servers.length;
    sockets.push(
      await connect(servers[on].port, (data) => {
        const text = String(data);
        if (!text.slice(0, 80).includes('"channel.message.received"')) return;
        latencies[on].push(performance.now() - sentAt);
        if (--waiting === 0) arrived();
      }),
    );
  }
  let sentAt = 0;
  const t0 = performance.now();
  for (let n = 0; n < messages; n++) {
    waiting = sockets.length;
    const all = new Promise((resolve) => {
      arrived = resolve;
    });
    sentAt = performance.now();
    const response = await fetch(`http://127.0.0.1:${servers[0].port}/webhook/bench?n=1&from=${n}`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    await response.arrayBuffer();
    await all;
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const ws of sockets) ws.terminate();
  for (const server of servers) await server.stop();
  await redis?.stop();
  const sorted = latencies.map((list) => list.sort((a, b) => a - b));
  const last = sorted[sorted.length - 1];
  return {
    deliveriesPerSec: (messages * sockets.length) / seconds,
    delivered: messages * sockets.length,
    p50AMs: percentile(sorted[0], 0.5),
    p99AMs: percentile(sorted[0], 0.99),
    p50BMs: percentile(last, 0.5),
    p99BMs: percentile(last, 0.99),
    commandsPerInbound: 0,
    commandsPerSend: 0,
  };
}

const scenarios = {
  "broadcast 1000 clients x 200": (instances) => broadcast(instances, 1000, 200),
  "broadcast 200 clients x 1000": (instances) => broadcast(instances, 200, 1000),
  "latency: 1 message at a time, 10 clients x 300": (instances) => latency(instances, 300),
};

const variants = {
  bare: (caseName) => scenarios[caseName](1),
  subject: (caseName) => scenarios[caseName](2),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const pairs = Number(process.env.BENCH_PAIRS ?? 3);
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  // BENCH_CASES="latency|200 clients" runs the cases whose names contain one of the parts.
  const only = process.env.BENCH_CASES?.split("|");
  const cases = Object.keys(scenarios).filter(
    (name) => only === undefined || only.some((o) => name.includes(o)),
  );
  const rows = await compare({ script, cases, pairs, metric: "deliveriesPerSec" });
  const met = await report("cluster-broadcast", {
    title:
      "cluster: broadcast with clients spread over 2 instances on Redis vs the same clients on 1 instance",
    metric: "deliveriesPerSec",
    unit: "deliveries/s",
    target: 0.7,
    rows,
    labels: { bare: "1 instance", subject: "2 instances" },
    notes: [
      "Inbound messages are posted to instance A; half of the clients are on A, half on B. Each message is two frames per client (`channel.message.received`, `conversation.updated`). Latency: from the message's timestamp to its arrival at a client of A (local) and of B (across Redis pub/sub).",
      "",
      "| case | 1 instance p50 / p99 ms | 2 instances, client on A p50 / p99 ms | 2 instances, client on B p50 / p99 ms | added p50 / p99 ms (B − A) | Redis commands per inbound message | per send |",
      "|---|---:|---:|---:|---:|---:|---:|",
      ...rows.map(
        (r) =>
          `| ${r.case} | ${fmt(r.bare.p50AMs)} / ${fmt(r.bare.p99AMs)} | ${fmt(r.subject.p50AMs)} / ${fmt(r.subject.p99AMs)} | ${fmt(r.subject.p50BMs)} / ${fmt(r.subject.p99BMs)} | ${fmt(r.subject.p50BMs - r.subject.p50AMs)} / ${fmt(r.subject.p99BMs - r.subject.p99AMs)} | ${r.case.startsWith("latency") ? "–" : fmt(r.subject.commandsPerInbound)} | ${r.case.startsWith("latency") ? "–" : fmt(r.subject.commandsPerSend)} |`,
      ),
    ],
  });
  process.exitCode = met ? 0 : 1;
}
