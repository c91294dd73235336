// Benchmark: the running gateway against a bare ws server speaking the same frames, each its own
// process (bench/lib/server.mjs), driven by the same load client (this process), alternately.
// Scenarios (SPEC.md section 9, issue "benchmarks and hardening"): req→res round trips (`ping`),
// broadcast deliveries, a slow consumer among broadcast clients, node-forwarded RPC, idle
// authenticated connections (memory per connection, connects/s), and HTTP (streamed chat
// completions, webhook POSTs). Server CPU is read from /proc.
import { Agent, request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect, connectEchoNode } from "./lib/client.mjs";
import { compare, median, report, worker } from "./lib/harness.mjs";
import { startServer } from "./lib/processes.mjs";
import { BENCH_TOKEN } from "./lib/server.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);
const script = fileURLToPath(import.meta.url);

async function inParallel(count, limit, fn) {
  const out = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/**
 * Request/response load: lanes send requests (`sent(id)` before each), the responses come back
 * through `received(id, sendNext)`, and `measure` keeps `depth` in flight on every lane for a
 * warm-up and then `DURATION_MS`.
 */
function roundTrips() {
  const latencies = [];
  const pending = new Map();
  let done = 0;
  let stopAt = 0;
  let measuring = false;
  return {
    sent(id) {
      pending.set(id, performance.now());
    },
    received(id, sendNext) {
      const at = pending.get(id);
      pending.delete(id);
      if (measuring) {
        latencies.push(performance.now() - at);
        done++;
      }
      if (performance.now() < stopAt) sendNext();
    },
    /** Runs the load against `server`; resolves throughput, latency and server CPU per round trip. */
    async measure(server, lanes, depth) {
      const run = async (ms) => {
        stopAt = performance.now() + ms;
        for (const send of lanes) for (let d = 0; d < depth; d++) send();
        await new Promise((resolve) => setTimeout(resolve, ms + 200));
      };
      await run(300); // warm-up
      measuring = true;
      const cpu0 = server.cpuMs();
      const t0 = performance.now();
      await run(DURATION_MS);
      const seconds = (performance.now() - t0 - 200) / 1000;
      const cpu = server.cpuMs() - cpu0;
      latencies.sort((a, b) => a - b);
      return {
        roundTripsPerSec: done / seconds,
        p50Ms: median(latencies),
        p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
        serverCpuUsPerOp: (cpu * 1000) / done,
      };
    },
  };
}

/**
 * Scenario 1: `ping` round trips on `connections` sockets, `depth` in flight on each. `env` goes to
 * the server process (bench/metrics.mjs: `BENCH_METRICS`).
 */
export async function pings(variant, connections, depth, env = {}) {
  const server = await startServer(variant, env);
  const load = roundTrips();
  const sockets = await inParallel(connections, 50, async (c) => {
    let seq = 0;
    const send = () => {
      const id = `p${c}-${++seq}`;
      load.sent(id);
      ws.send(`{"type":"req","id":"${id}","method":"ping","data":{}}`);
    };
    const ws = await connect(server.port, (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === "res") load.received(frame.id, send);
    });
    return { ws, send };
  });
  const result = await load.measure(
    server,
    sockets.map((socket) => socket.send),
    depth,
  );
  for (const { ws } of sockets) ws.terminate();
  await server.stop();
  return result;
}

/** Timestamp of a `channel.message.received` frame, or NaN for other frames (no full parse). */
function receivedAt(text) {
  if (!text.slice(0, 80).includes('"channel.message.received"')) return Number.NaN;
  const at = text.indexOf('"timestamp":');
  return at === -1 ? Number.NaN : Number.parseInt(text.slice(at + 12, at + 27), 10);
}

/**
 * Scenario 2 (and 3): `events` inbound messages (text padded to `size` characters) broadcast to
 * `clients` connections, two frames each. With `slow`, one more client never reads a byte: it
 * must be closed and must not slow the others.
 */
export async function broadcast(variant, clients, events, { size = 0, slow = false } = {}, env = {}) {
  const server = await startServer(variant, env);
  const memoryBefore = await server.memory();
  const expected = clients * events * 2;
  let delivered = 0;
  const latencies = [];
  let finished;
  const all = new Promise((resolve) => {
    finished = resolve;
  });
  const sockets = await inParallel(clients, 100, () =>
    connect(server.port, (data) => {
      const ts = receivedAt(String(data));
      if (!Number.isNaN(ts)) latencies.push(Date.now() - ts);
      if (++delivered === expected) finished();
    }),
  );
  let slowSocket;
  let slowClosed;
  if (slow) {
    slowSocket = await connect(server.port);
    slowClosed = new Promise((resolve) => slowSocket.once("close", () => resolve(true)));
    slowSocket._socket.pause(); // never reads: the kernel buffers fill, then the server's
  }
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  // 20 messages per request, as a busy platform would deliver them.
  for (let sent = 0; sent < events; sent += 20) {
    const response = await fetch(
      `http://127.0.0.1:${server.port}/webhook/bench?n=${Math.min(20, events - sent)}&size=${size}`,
      {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      },
    );
    await response.arrayBuffer();
  }
  // Done when every delivery arrived, or nothing arrived for 2 s (clients closed as slow consumers).
  let lastCount = -1;
  let lastChange = performance.now();
  const quiet = new Promise((resolve) => {
    const timer = setInterval(() => {
      if (delivered !== lastCount) {
        lastCount = delivered;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > 2000) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
    void all.then(() => clearInterval(timer));
  });
  await Promise.race([all, quiet]);
  const seconds = ((delivered === expected ? performance.now() : lastChange) - t0) / 1000;
  const closed = sockets.filter((ws) => ws.readyState !== WebSocket.OPEN).length;
  const cpu = server.cpuMs() - cpu0;
  let slowWasClosed;
  if (slowSocket !== undefined) {
    // Read what the kernel holds: a closed connection ends with its close (or a reset).
    slowSocket._socket.resume();
    slowWasClosed = await Promise.race([
      slowClosed,
      new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
    ]);
    slowSocket.terminate();
  }
  for (const ws of sockets) ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const memoryAfter = await server.memory();
  await server.stop();
  latencies.sort((a, b) => a - b);
  return {
    deliveriesPerSec: delivered / seconds,
    delivered,
    clientsClosed: closed,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUsPerDelivery: (cpu * 1000) / delivered,
    slowClosed: slowWasClosed === undefined ? undefined : Number(slowWasClosed),
    heapGrowthBytes: memoryAfter.heapUsed - memoryBefore.heapUsed,
    rssGrowthBytes: memoryAfter.rss - memoryBefore.rss,
  };
}

/** Scenario 4: `node.invoke` round trips, client → server → node → back, `depth` in flight. */
async function nodeRpc(variant, depth) {
  const server = await startServer(variant);
  const node = await connectEchoNode(server.port, variant);
  const load = roundTrips();
  const payload = { input: "run the daily summary", options: { stream: false, lang: "en" } };
  let seq = 0;
  const send = () => {
    const id = `n-${++seq}`;
    load.sent(id);
    client.send(
      JSON.stringify({
        type: "req",
        id,
        method: "node.invoke",
        data: { node: "bench-node", method: "agent.run", data: payload },
      }),
    );
  };
  const client = await connect(server.port, (data) => {
    const frame = JSON.parse(String(data));
    if (frame.type !== "res") return;
    if (frame.error !== null) throw new Error(`node.invoke failed: ${frame.error.message}`);
    load.received(frame.id, send);
  });
  const result = await load.measure(server, [send], depth);
  client.terminate();
  node.terminate();
  await server.stop();
  return result;
}

/** One HTTP request on a keep-alive agent; resolves the status once the whole body was read. */
function post(agent, port, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Scenario 6: `concurrency` HTTP clients posting to `path` back to back. */
async function http(variant, concurrency, path, body, headers) {
  const server = await startServer(variant);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  let done = 0;
  let failed = 0;
  const loop = async (until, measure) => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const status = await post(agent, server.port, path, body, headers);
          if (!measure) continue;
          if (status !== 200) failed++;
          latencies.push(performance.now() - started);
          done++;
        }
      }),
    );
  };
  await loop(performance.now() + 300, false); // warm-up
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  await loop(t0 + DURATION_MS, true);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = server.cpuMs() - cpu0;
  agent.destroy();
  await server.stop();
  if (failed > 0) throw new Error(`${failed} requests to ${path} failed on ${variant}`);
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSec: done / seconds,
    p50Ms: median(latencies),
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUsPerOp: (cpu * 1000) / done,
  };
}

const COMPLETION = JSON.stringify({
  model: "echo",
  stream: true,
  messages: [{ role: "user", content: "summarise the three messages I got from Ana this morning please" }],
});

/** Scenario 5: `count` authenticated idle connections: connects/s and server memory per connection. */
async function idle(variant, count) {
  const server = await startServer(variant);
  const before = await server.memory();
  const t0 = performance.now();
  const sockets = await inParallel(count, 200, () => connect(server.port));
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await server.memory();
  for (const ws of sockets) ws.terminate();
  await server.stop();
  return {
    connectsPerSec: count / seconds,
    bytesPerConnection: (after.rss - before.rss) / count,
    heapBytesPerConnection: (after.heapUsed - before.heapUsed) / count,
  };
}

const scenarios = {
  "ping 1 conn, depth 1": (v) => pings(v, 1, 1),
  "ping 100 conns, depth 1": (v) => pings(v, 100, 1),
  "ping 100 conns, depth 16": (v) => pings(v, 100, 16),
  "broadcast 1000 clients x 200": (v) => broadcast(v, 1000, 200),
  "broadcast 5000 clients x 100": (v) => broadcast(v, 5000, 100),
  "slow: 1000 clients x 200, 16 KB": (v) => broadcast(v, 1000, 200, { size: 16_384 }),
  "slow: 999 clients + 1 never reading x 200, 16 KB": (v) =>
    broadcast(v, 999, 200, { size: 16_384, slow: true }),
  "node rpc 1 in flight": (v) => nodeRpc(v, 1),
  "node rpc 100 in flight": (v) => nodeRpc(v, 100),
  "idle 10000 connections": (v) => idle(v, 10_000),
  "http chat completions, streamed, 100 concurrent": (v) =>
    http(v, 100, "/v1/chat/completions", COMPLETION, { authorization: `Bearer ${BENCH_TOKEN}` }),
  "http webhook POSTs, 100 concurrent": (v) =>
    http(v, 100, "/webhook/bench?n=1&durable=1", '{"update_id":1}'),
};

const variants = {
  bare: (caseName) => scenarios[caseName]("bare"),
  subject: (caseName) => scenarios[caseName]("gateway"),
};

// Run as a script (bench/metrics.mjs imports the scenarios only).
if (process.argv[1] !== script) {
  // imported
} else if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const pairs = Number(process.env.BENCH_PAIRS ?? 3);
  const only = process.env.BENCH_CASES?.split("|");
  const pick = (names) => names.filter((name) => only === undefined || only.some((o) => name.includes(o)));
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
  const yesNo = (closed) => (closed === undefined ? "–" : closed === 1 ? "yes" : "no");
  /** Latency and server CPU of each case, for round-trip style scenarios. */
  const latencyNotes = (rows, cpuKey, per) => [
    `| case | bare p50 / p99 ms | gateway p50 / p99 ms | bare server CPU µs/${per} | gateway server CPU µs/${per} |`,
    "|---|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.case} | ${fmt(r.bare.p50Ms)} / ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p50Ms)} / ${fmt(r.subject.p99Ms)} | ${fmt(r.bare[cpuKey])} | ${fmt(r.subject[cpuKey])} |`,
    ),
  ];
  /**
   * Runs the picked scenarios whose names start with `prefix` and reports them; resolves whether
   * they met the target (true when none was picked).
   */
  const section = async (prefix, { name, metric, higherIsBetter = true, notes, passes, ...options }) => {
    const cases = pick(Object.keys(scenarios).filter((n) => n.startsWith(prefix)));
    if (cases.length === 0) return true;
    const rows = await compare({ script, cases, pairs, metric, higherIsBetter });
    const met = await report(name, {
      metric,
      rows,
      labels: { bare: "bare ws", subject: "gateway" },
      ...options,
      notes: notes(rows),
    });
    return met && (passes?.(rows) ?? true);
  };

  const results = [
    await section("ping", {
      name: "gateway-ping",
      title: "gateway: ping round trips vs a bare ws server",
      metric: "roundTripsPerSec",
      unit: "round trips/s",
      target: 0.7,
      notes: (rows) => latencyNotes(rows, "serverCpuUsPerOp", "op"),
    }),
    await section("broadcast", {
      name: "gateway-broadcast",
      title: "gateway: inbound messages broadcast to every client vs a bare ws server",
      metric: "deliveriesPerSec",
      unit: "deliveries/s",
      target: 0.8,
      notes: (rows) => [
        "Each inbound message is two frames to every client (`channel.message.received`, `conversation.updated`), encoded once. The gateway's path includes its channel plugin, inbound dedupe (an fsync'd log, group-committed) and the conversation journal.",
        "",
        "| case | bare p99 ms | gateway p99 ms | bare server CPU µs/delivery | gateway server CPU µs/delivery | clients closed as slow (bare / gateway) |",
        "|---|---:|---:|---:|---:|---:|",
        ...rows.map(
          (r) =>
            `| ${r.case} | ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p99Ms)} | ${fmt(r.bare.serverCpuUsPerDelivery)} | ${fmt(r.subject.serverCpuUsPerDelivery)} | ${r.bare.clientsClosed} / ${r.subject.clientsClosed} |`,
        ),
      ],
    }),
    await section("slow", {
      name: "gateway-slow-consumer",
      title: "gateway: one slow consumer among 1,000 broadcast clients vs a bare ws server",
      metric: "deliveriesPerSec",
      unit: "deliveries/s",
      target: 0.8,
      notes: (rows) => {
        const reference = rows.find((r) => !r.case.includes("never reading"));
        const slowRow = rows.find((r) => r.case.includes("never reading"));
        const within = (variant) => slowRow[variant].p99Ms / reference[variant].p99Ms;
        return [
          "Messages of 16 KB so that the client that never reads overflows its kernel buffers (about 4 MB on loopback here) and then the server's limit (`gateway.maxBufferedBytes`, 1 MiB for both servers in this benchmark). The first case is the same load with no slow client: the others' p99 should stay within 1.2x of it. Memory: server heap and RSS after a GC, after the run, minus before the clients connected.",
          "",
          "| case | p99 ms bare / gateway | slow one closed (bare / gateway) | other clients closed (bare / gateway) | heap growth MB (bare / gateway) | RSS growth MB (bare / gateway) |",
          "|---|---:|---|---:|---:|---:|",
          ...rows.map(
            (r) =>
              `| ${r.case} | ${fmt(r.bare.p99Ms)} / ${fmt(r.subject.p99Ms)} | ${yesNo(r.bare.slowClosed)} / ${yesNo(r.subject.slowClosed)} | ${r.bare.clientsClosed} / ${r.subject.clientsClosed} | ${mb(r.bare.heapGrowthBytes)} / ${mb(r.subject.heapGrowthBytes)} | ${mb(r.bare.rssGrowthBytes)} / ${mb(r.subject.rssGrowthBytes)} |`,
          ),
          "",
          reference === undefined || slowRow === undefined
            ? ""
            : `Others' p99 with the slow client / without it: bare ${within("bare").toFixed(2)}x, gateway ${within("subject").toFixed(2)}x (target ≤ 1.2x).`,
        ];
      },
    }),
    await section("node rpc", {
      name: "gateway-node-rpc",
      title: "gateway: node-forwarded RPC (client → server → node → back) vs a bare ws relay",
      metric: "roundTripsPerSec",
      unit: "round trips/s",
      target: 0.4,
      labels: { bare: "bare ws relay", subject: "gateway" },
      notes: (rows) => [
        "One operator connection sends `node.invoke` to one node (in the load client's process, answering each `req` with its data). The bare relay forwards by id with no checks; the gateway paired the node first, resolves it, checks scopes and capability, times each call and validates every frame.",
        "",
        ...latencyNotes(rows, "serverCpuUsPerOp", "op"),
      ],
    }),
    await section("idle", {
      name: "gateway-idle",
      title: "gateway: 10,000 idle authenticated connections vs a bare ws server",
      metric: "bytesPerConnection",
      higherIsBetter: false,
      unit: "bytes RSS/conn",
      target: 0,
      notes: (rows) => [
        "Ratio is bare/gateway memory (higher is better). Target: ≤ 20 KB per connection for the gateway, and 10,000 connections held.",
        "",
        "| case | bare connects/s | gateway connects/s | gateway KB/conn (RSS) | gateway KB/conn (heap) | ≤ 20 KB |",
        "|---|---:|---:|---:|---:|---|",
        ...rows.map(
          (r) =>
            `| ${r.case} | ${fmt(r.bare.connectsPerSec)} | ${fmt(r.subject.connectsPerSec)} | ${(r.subject.bytesPerConnection / 1024).toFixed(1)} | ${(r.subject.heapBytesPerConnection / 1024).toFixed(1)} | ${r.subject.bytesPerConnection <= 20 * 1024 ? "✓" : "✗"} |`,
        ),
      ],
      passes: (rows) => rows.every((r) => r.subject.bytesPerConnection <= 20 * 1024),
    }),
    await section("http", {
      name: "gateway-http",
      title: "gateway: HTTP (streamed chat completions, webhooks) vs a bare node:http handler",
      metric: "requestsPerSec",
      unit: "requests/s",
      target: 0,
      labels: { bare: "bare node:http", subject: "gateway" },
      notes: (rows) => [
        "No target is set for HTTP; the ratio is reported. Completions: the echo agent streamed as SSE (one chunk per word, 13 chunks), Bearer token checked by both. Webhooks: one inbound message per POST, answered once it is durable: the gateway through its channel plugin, dedupe and conversation journal; bare appends it to a file with the same group-committed fdatasync.",
        "",
        ...latencyNotes(rows, "serverCpuUsPerOp", "req"),
      ],
    }),
  ];
  const ok = results.every(Boolean);
  process.exit(ok ? 0 : 1);
}
