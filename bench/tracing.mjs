// Benchmark: the gateway with OpenTelemetry tracing on (every request sampled, its spans batched and
// exported over OTLP/HTTP JSON to a local collector in this process) against the same gateway
// without it (the SDK not loaded), each its own process, alternately, under the ping and broadcast
// scenarios of bench/gateway.mjs. A ratio to report, no target.
import { once } from "node:events";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { broadcast, pings } from "./gateway.mjs";
import { compare, report, worker } from "./lib/harness.mjs";

const script = fileURLToPath(import.meta.url);

const scenarios = {
  "ping 100 conns, depth 16": (env) => pings("gateway", 100, 16, env),
  "broadcast 1000 clients x 200": (env) => broadcast("gateway", 1000, 200, {}, env),
};

const variants = {
  bare: (caseName) => scenarios[caseName]({ BENCH_TRACING: "0" }),
  subject: (caseName) => scenarios[caseName]({ BENCH_TRACING: "1" }),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  // The collector: reads each export and answers 200, counting the spans' bytes.
  let exports = 0;
  let bytes = 0;
  const collector = createServer((req, res) => {
    req.on("data", (chunk) => {
      bytes += chunk.length;
    });
    req.on("end", () => {
      exports += 1;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  collector.listen(0, "127.0.0.1");
  await once(collector, "listening");
  process.env.BENCH_OTLP_URL = `http://127.0.0.1:${collector.address().port}/v1/traces`;
  const pairs = Number(process.env.BENCH_PAIRS ?? 3);
  const only = process.env.BENCH_CASES?.split("|");
  const cases = Object.keys(scenarios).filter(
    (name) => only === undefined || only.some((o) => name.includes(o)),
  );
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  const results = [];
  for (const [prefix, metric, unit] of [
    ["ping", "roundTripsPerSec", "round trips/s"],
    ["broadcast", "deliveriesPerSec", "deliveries/s"],
  ]) {
    const picked = cases.filter((name) => name.startsWith(prefix));
    if (picked.length === 0) continue;
    const rows = await compare({ script, cases: picked, pairs, metric });
    results.push(
      await report(`tracing-${prefix}`, {
        title: `gateway: ${prefix} with OpenTelemetry tracing on (all sampled, exported) vs off`,
        metric,
        unit,
        target: 0,
        rows,
        labels: { bare: "tracing off", subject: "tracing on" },
        notes: [
          "The same gateway both ways; “on” records a span per request (and per inbound message, send and webhook) and exports them to a local OTLP/HTTP collector.",
          "",
          "| case | off p99 ms | on p99 ms | off server CPU µs/op | on server CPU µs/op |",
          "|---|---:|---:|---:|---:|",
          ...rows.map((r) => {
            const cpu = prefix === "ping" ? "serverCpuUsPerOp" : "serverCpuUsPerDelivery";
            return `| ${r.case} | ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p99Ms)} | ${fmt(r.bare[cpu])} | ${fmt(r.subject[cpu])} |`;
          }),
          "",
          `The collector received ${exports} exports, ${fmt(bytes / 1e6)} MB of OTLP JSON.`,
        ],
      }),
    );
  }
  collector.close();
  process.exitCode = results.every(Boolean) ? 0 : 1;
}
