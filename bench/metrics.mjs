// Benchmark: the gateway with its Prometheus metrics on (the default: every frame, request and
// broadcast counted) against the same gateway with `metrics.enabled: false`, each its own process,
// alternately, under the ping and broadcast scenarios of bench/gateway.mjs. In the "on" runs the
// server collects its metrics text once a second (BENCH_SELF_SCRAPE_MS), as for a busy Prometheus,
// so collection is part of the cost.
import { fileURLToPath } from "node:url";
import { broadcast, pings } from "./gateway.mjs";
import { compare, report, worker } from "./lib/harness.mjs";

const script = fileURLToPath(import.meta.url);

const scenarios = {
  "ping 100 conns, depth 16": (env) => pings("gateway", 100, 16, env),
  "broadcast 1000 clients x 200": (env) => broadcast("gateway", 1000, 200, {}, env),
};

const variants = {
  bare: (caseName) => scenarios[caseName]({ BENCH_METRICS: "0" }),
  subject: (caseName) => scenarios[caseName]({ BENCH_METRICS: "1", BENCH_SELF_SCRAPE_MS: "1000" }),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
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
      await report(`metrics-${prefix}`, {
        title: `gateway: ${prefix} with Prometheus metrics on vs off`,
        metric,
        unit,
        target: 0.97,
        rows,
        labels: { bare: "metrics off", subject: "metrics on" },
        notes: [
          "The same gateway both ways; “on” counts every frame, request and broadcast and collects the `/metrics` text once a second.",
          "",
          "| case | off p99 ms | on p99 ms | off server CPU µs/op | on server CPU µs/op |",
          "|---|---:|---:|---:|---:|",
          ...rows.map((r) => {
            const cpu = prefix === "ping" ? "serverCpuUsPerOp" : "serverCpuUsPerDelivery";
            return `| ${r.case} | ${fmt(r.bare.p99Ms)} | ${fmt(r.subject.p99Ms)} | ${fmt(r.bare[cpu])} | ${fmt(r.subject[cpu])} |`;
          }),
        ],
      }),
    );
  }
  process.exitCode = results.every(Boolean) ? 0 : 1;
}
