// Benchmark: invoke round trips through NodeRegistry (subject) versus a bare ws req/res loop
// (baseline), at the same concurrency, over loopback. The node answering is another process,
// identical for both. Target: subject ≥ 0.6x bare round trips/s.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NodeRegistry } from "@openclaw/node-registry";
import { WebSocket, WebSocketServer } from "ws";
import { compare, median, report, worker } from "./lib/harness.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);
const script = fileURLToPath(import.meta.url);

/** The node: answers every req with a res carrying the same data. */
async function echoNode(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  ws.on("message", (data) => {
    const frame = JSON.parse(data);
    if (frame.type === "req")
      ws.send(JSON.stringify({ type: "res", id: frame.id, data: frame.data, error: null }));
  });
  ws.on("close", () => process.exit(0));
}

async function serve(concurrency, makeCaller) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  const node = fork(script, ["echo-node", String(wss.address().port)], { stdio: "inherit" });
  const socket = await new Promise((resolve) => wss.once("connection", resolve));
  const call = makeCaller(socket);
  const payload = { input: "run the daily summary", options: { stream: false, lang: "en" } };

  const loop = async (until, latencies) => {
    let done = 0;
    const lane = async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await call(payload);
        latencies?.push(performance.now() - started);
        done += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    return done;
  };
  await loop(performance.now() + 300); // warm-up
  const latencies = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const done = await loop(t0 + DURATION_MS, latencies);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  socket.close();
  wss.close();
  await new Promise((resolve) => node.once("exit", resolve));
  return {
    roundTripsPerSec: done / seconds,
    p50Ms: median(latencies),
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUsPerOp: (cpu.user + cpu.system) / done,
  };
}

const concurrencyOf = (caseName) => Number(caseName.split(" ")[0]);

const variants = {
  bare: (caseName) =>
    serve(concurrencyOf(caseName), (socket) => {
      const pending = new Map();
      let next = 0;
      socket.on("message", (data) => {
        const frame = JSON.parse(data);
        const resolve = pending.get(frame.id);
        if (resolve !== undefined) {
          pending.delete(frame.id);
          resolve(frame.data);
        }
      });
      return (data) =>
        new Promise((resolve) => {
          const id = `b-${++next}`;
          pending.set(id, resolve);
          socket.send(JSON.stringify({ type: "req", id, method: "agent.run", data }));
        });
    }),
  subject: (caseName) =>
    serve(concurrencyOf(caseName), (socket) => {
      const registry = new NodeRegistry({ maxPendingPerNode: 10_000 });
      registry.register("bench-node", socket, ["agent.run"]);
      socket.on("message", (data) => registry.receive("bench-node", data));
      return (data) => registry.invoke("bench-node", "agent.run", data, { timeoutMs: 10_000 });
    }),
};

if (process.argv[2] === "echo-node") {
  await echoNode(Number(process.argv[3]));
} else if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script,
    cases: ["1 in flight", "100 in flight"],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "roundTripsPerSec",
  });
  const ok = await report("node-invoke", {
    title: "node-registry: invoke round trips vs bare ws req/res",
    metric: "roundTripsPerSec",
    unit: "round trips/s",
    target: 0.6,
    rows,
    notes: [
      "The node is a separate process answering every `req` with a `res` (same for both). Bare: a `Map` of pending ids, `JSON.stringify` / `JSON.parse`. Subject: `NodeRegistry.invoke` + `receive` (frame validation, per-call timeout timer, backpressure and limit checks).",
      "",
      "| case | bare p50 / p99 ms | subject p50 / p99 ms | bare server CPU µs/op | subject server CPU µs/op |",
      "|---|---:|---:|---:|---:|",
      ...rows.map(
        (row) =>
          `| ${row.case} | ${row.bare.p50Ms.toFixed(3)} / ${row.bare.p99Ms.toFixed(3)} | ${row.subject.p50Ms.toFixed(3)} / ${row.subject.p99Ms.toFixed(3)} | ${row.bare.serverCpuUsPerOp.toFixed(1)} | ${row.subject.serverCpuUsPerOp.toFixed(1)} |`,
      ),
    ],
  });
  if (!ok) process.exitCode = 1;
}
