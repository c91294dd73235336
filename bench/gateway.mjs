// Benchmark: the running gateway against a bare ws server speaking the same frames, each its own
// process (bench/lib/server.mjs), driven by the same load client (this process), alternately.
// Scenarios (SPEC.md section 9): req→res round trips (`ping`), broadcast deliveries, and idle
// authenticated connections (memory per connection, connects/s). Server CPU is read from /proc.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect } from "./lib/client.mjs";
import { compare, median, report, worker } from "./lib/harness.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);
const script = fileURLToPath(import.meta.url);
const serverScript = fileURLToPath(new URL("./lib/server.mjs", import.meta.url));
const TICKS = 100; // /proc clock ticks per second on Linux

/** Starts a server process; resolves its port, pid, CPU reader and memory probe. */
async function startServer(variant) {
  const child = spawn(process.execPath, ["--expose-gc", serverScript, variant], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const next = () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))));
  const { port, pid } = await next();
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
  };
  return {
    port,
    cpuMs,
    async memory() {
      child.stdin.write("mem\n");
      return next();
    },
    async stop() {
      child.stdin.end();
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

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

/** Scenario 1: `ping` round trips on `connections` sockets, `depth` in flight on each. */
async function pings(variant, connections, depth) {
  const server = await startServer(variant);
  const latencies = [];
  let done = 0;
  let stopAt = 0;
  let measuring = false;
  const sockets = await inParallel(connections, 50, async (c) => {
    const sent = new Map();
    let seq = 0;
    const ws = await connect(server.port, (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type !== "res") return;
      const at = sent.get(frame.id);
      sent.delete(frame.id);
      if (measuring) {
        latencies.push(performance.now() - at);
        done++;
      }
      if (performance.now() < stopAt) send();
    });
    const send = () => {
      const id = `p${c}-${++seq}`;
      sent.set(id, performance.now());
      ws.send(`{"type":"req","id":"${id}","method":"ping","data":{}}`);
    };
    return { ws, send };
  });
  const run = async (ms) => {
    stopAt = performance.now() + ms;
    for (const socket of sockets) for (let d = 0; d < depth; d++) socket.send();
    await new Promise((resolve) => setTimeout(resolve, ms + 200));
  };
  await run(300); // warm-up
  measuring = true;
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  await run(DURATION_MS);
  const seconds = (performance.now() - t0 - 200) / 1000;
  const cpu = server.cpuMs() - cpu0;
  for (const { ws } of sockets) ws.terminate();
  await server.stop();
  latencies.sort((a, b) => a - b);
  return {
    roundTripsPerSec: done / seconds,
    p50Ms: median(latencies),
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUsPerOp: (cpu * 1000) / done,
  };
}

/** Scenario 2: `events` inbound messages broadcast to `clients` connections (two frames each). */
async function broadcast(variant, clients, events) {
  const server = await startServer(variant);
  const expected = clients * events * 2;
  let delivered = 0;
  const latencies = [];
  let finished;
  const all = new Promise((resolve) => {
    finished = resolve;
  });
  const sockets = await inParallel(clients, 100, () =>
    connect(server.port, (data) => {
      const text = String(data);
      if (text.includes('"channel.message.received"')) {
        const ts = Number(/"timestamp":(\d+)/.exec(text)?.[1]);
        latencies.push(Date.now() - ts);
      }
      if (++delivered === expected) finished();
    }),
  );
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  // 20 messages per request, as a busy platform would deliver them.
  for (let sent = 0; sent < events; sent += 20) {
    const response = await fetch(
      `http://127.0.0.1:${server.port}/webhook/bench?n=${Math.min(20, events - sent)}`,
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
  for (const ws of sockets) ws.terminate();
  await server.stop();
  latencies.sort((a, b) => a - b);
  return {
    deliveriesPerSec: delivered / seconds,
    delivered,
    clientsClosed: closed,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUsPerDelivery: (cpu * 1000) / delivered,
  };
}

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
  "idle 10000 connections": (v) => idle(v, 10_000),
};

const variants = {
  bare: (caseName) => scenarios[caseName]("bare"),
  subject: (caseName) => scenarios[caseName]("gateway"),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const pairs = Number(process.env.BENCH_PAIRS ?? 3);
  const only = process.env.BENCH_CASES?.split("|");
  const pick = (names) => names.filter((name) => only === undefined || only.some((o) => name.includes(o)));
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  let ok = true;
  const pingCases = pick(Object.keys(scenarios).filter((n) => n.startsWith("ping")));
  if (pingCases.length > 0) {
    const rows = await compare({ script, cases: pingCases, pairs, metric: "roundTripsPerSec" });
    ok &&= await report("gateway-ping", {
      title: "gateway: ping round trips vs a bare ws server",
      metric: "roundTripsPerSec",
      unit: "round trips/s",
      target: 0.7,
      rows,
      labels: { bare: "bare ws", subject: "gateway" },
      notes: [
        "| case | bare p50 / p99 ms | gateway p50 / p99 ms | bare server CPU µs/op | gateway server CPU µs/op |",
        "|---|---:|---:|---:|---:|",
        ...rows.map(
          (r) =>
            `| ${r.case} | ${fmt(r.bare.p50Ms)} / ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p50Ms)} / ${fmt(r.subject.p99Ms)} | ${fmt(r.bare.serverCpuUsPerOp)} | ${fmt(r.subject.serverCpuUsPerOp)} |`,
        ),
      ],
    });
  }
  const broadcastCases = pick(Object.keys(scenarios).filter((n) => n.startsWith("broadcast")));
  if (broadcastCases.length > 0) {
    const rows = await compare({ script, cases: broadcastCases, pairs, metric: "deliveriesPerSec" });
    ok &&= await report("gateway-broadcast", {
      title: "gateway: inbound messages broadcast to every client vs a bare ws server",
      metric: "deliveriesPerSec",
      unit: "deliveries/s",
      target: 0.8,
      rows,
      labels: { bare: "bare ws", subject: "gateway" },
      notes: [
        "Each inbound message is two frames to every client (`channel.message.received`, `conversation.updated`), encoded once. The gateway's path includes its channel plugin, inbound dedupe (an fsync'd log, group-committed) and the conversation store.",
        "",
        "| case | bare p99 ms | gateway p99 ms | bare server CPU µs/delivery | gateway server CPU µs/delivery | clients closed as slow (bare / gateway) |",
        "|---|---:|---:|---:|---:|---:|",
        ...rows.map(
          (r) =>
            `| ${r.case} | ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p99Ms)} | ${fmt(r.bare.serverCpuUsPerDelivery)} | ${fmt(r.subject.serverCpuUsPerDelivery)} | ${r.bare.clientsClosed} / ${r.subject.clientsClosed} |`,
        ),
      ],
    });
  }
  const idleCases = pick(Object.keys(scenarios).filter((n) => n.startsWith("idle")));
  if (idleCases.length > 0) {
    const rows = await compare({
      script,
      cases: idleCases,
      pairs,
      metric: "bytesPerConnection",
      higherIsBetter: false,
    });
    await report("gateway-idle", {
      title: "gateway: 10,000 idle authenticated connections vs a bare ws server",
      metric: "bytesPerConnection",
      unit: "bytes RSS/conn",
      target: 0,
      rows,
      labels: { bare: "bare ws", subject: "gateway" },
      notes: [
        "Ratio is bare/gateway memory (higher is better). Target: ≤ 20 KB per connection for the gateway, and 10,000 connections held.",
        "",
        "| case | bare connects/s | gateway connects/s | gateway KB/conn (RSS) | gateway KB/conn (heap) | ≤ 20 KB |",
        "|---|---:|---:|---:|---:|---|",
        ...rows.map(
          (r) =>
            `| ${r.case} | ${fmt(r.bare.connectsPerSec)} | ${fmt(r.subject.connectsPerSec)} | ${(r.subject.bytesPerConnection / 1024).toFixed(1)} | ${(r.subject.heapBytesPerConnection / 1024).toFixed(1)} | ${r.subject.bytesPerConnection <= 20 * 1024 ? "✓" : "✗"} |`,
        ),
      ],
    });
    ok &&= rows.every((r) => r.subject.bytesPerConnection <= 20 * 1024);
  }
  process.exit(ok ? 0 : 1);
}
