// Benchmark (issue 22, item 2): one process holds what the descriptor limit allows. A bare ws
// server and the gateway (bench/lib/server.mjs, the gateway with its default connection limits)
// each fill to BENCH_CONNECTIONS (19,000) authenticated idle connections and hold them for
// BENCH_HOLD_MS (2 minutes) with heartbeats running every BENCH_HEARTBEAT_MS (15 s, the gateway's
// default; the bare server pings and sends a `tick` at the same interval). The connections come
// from BENCH_CLIENT_PROCESSES child processes (each has its own descriptor limit), spread over
// 127.0.0.2…127.0.0.9. Reported: connections held at the end, drops, the server's event-loop delay
// (p99 and max, during the fill and during the hold: perf_hooks in the server process, no GC
// forced), RSS and heap per connection (after a GC, against the server before any connection),
// and the fill rate (authenticated connections per second) against bare.
//
// BENCH_HEAP_SNAPSHOT=<dir> also writes a heap snapshot of each server once filled.
// Quick run: BENCH_CONNECTIONS=2000 BENCH_HOLD_MS=10000 node capacity.mjs
import { loadavg } from "node:os";
import { join } from "node:path";
import { median, writeResults } from "./lib/harness.mjs";
import {
  descriptorLimit,
  machineFacts,
  machineSentence,
  startClients,
  startServer,
  sumErrors,
} from "./lib/processes.mjs";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 120_000);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 15_000);
const CLIENT_PROCESSES = Number(process.env.BENCH_CLIENT_PROCESSES ?? 2);
/** In-flight connects per client process (the gateway allows 64 handshakes per source address). */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 1);
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const SNAPSHOT_DIR = process.env.BENCH_HEAP_SNAPSHOT;

async function run(variant) {
  const server = await startServer(variant, {
    BENCH_HEARTBEAT_MS: String(HEARTBEAT_MS),
    BENCH_DEFAULT_LIMITS: "1",
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = await server.memory();
  // A tenth first (its own process), then the rest: the memory between the two is the marginal
  // cost of a connection, without what the first connections warm up (code, pools).
  const first = await startClients({
    ports: [server.port],
    count: Math.round(CONNECTIONS / 10),
    processes: 1,
    addresses: ADDRESSES,
    concurrency: CONCURRENCY,
    portRange: [20_000, 30_000],
  });
  const mid = await server.memory();
  const midCount = first.fills[0].open;
  await server.loop(); // the fill's loop figures start here
  const rest = await startClients({
    ports: [server.port],
    count: CONNECTIONS - Math.round(CONNECTIONS / 10),
    processes: CLIENT_PROCESSES,
    addresses: ADDRESSES,
    concurrency: CONCURRENCY,
    portRange: [30_000, 61_000],
  });
  const clients = [...first.clients, ...rest.clients];
  const fills = rest.fills;
  const fillLoop = await server.loop();
  const startedAt = Math.min(...fills.map((f) => f.startedAt));
  const filledAt = Math.max(...fills.map((f) => f.filledAt));
  const filled = midCount + fills.reduce((n, f) => n + f.open, 0);
  if (SNAPSHOT_DIR !== undefined) {
    await mkdir(SNAPSHOT_DIR, { recursive: true });
    const { snapshot } = await server.snapshot(join(SNAPSHOT_DIR, `${variant}-${filled}.heapsnapshot`));
    console.log(`heap snapshot: ${snapshot}`);
    await server.loop(); // the snapshot's pause is not the hold's
  }
  // The hold: nothing but heartbeats. The loop's delay is read at the end, no GC forced.
  const cpu0 = server.cpuMs();
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  const holdLoop = await server.loop();
  const holdCpuMs = server.cpuMs() - cpu0;
  const stats = await Promise.all(clients.map((c) => c.ask("stats")));
  const after = await server.memory();
  const held = stats.reduce((n, s) => n + s.open, 0);
  const firstFill = first.fills[0];
  for (const client of clients) await client.close();
  await server.stop();
  return {
    held,
    filled,
    drops: stats.reduce((n, s) => n + s.drops, 0),
    failedConnects: firstFill.failed + fills.reduce((n, f) => n + f.failed, 0),
    connectErrors: sumErrors([firstFill, ...fills].map((f) => f.errors)),
    pingsPerConnection: stats.reduce((n, s) => n + s.pings, 0) / Math.max(1, held),
    ticksPerConnection: stats.reduce((n, s) => n + s.ticks, 0) / Math.max(1, held),
    fillPerSec: (filled - midCount) / ((filledAt - startedAt) / 1000),
    fillLoopP99Ms: fillLoop.loopDelayP99Ms,
    fillLoopMaxMs: fillLoop.loopDelayMaxMs,
    holdLoopP99Ms: holdLoop.loopDelayP99Ms,
    holdLoopMaxMs: holdLoop.loopDelayMaxMs,
    holdCpuPercent: (holdCpuMs / HOLD_MS) * 100,
    rssBytesPerConnection: (after.rss - before.rss) / Math.max(1, held),
    heapBytesPerConnection: (after.heapUsed - before.heapUsed) / Math.max(1, held),
    marginalRssBytesPerConnection: (after.rss - mid.rss) / Math.max(1, held - midCount),
    marginalHeapBytesPerConnection: (after.heapUsed - mid.heapUsed) / Math.max(1, held - midCount),
    rssMb: after.rss / 2 ** 20,
    clientRssMb: stats.reduce((n, s) => n + s.memory, 0) / 2 ** 20,
  };
}

const fmt = (n) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
const limit = await descriptorLimit();
const load0 = loadavg();
const runs = { bare: [], gateway: [] };
for (let i = 0; i < PAIRS; i++) {
  for (const variant of ["bare", "gateway"]) {
    console.log(`${variant} ${i + 1}/${PAIRS}: filling ${CONNECTIONS} connections, holding ${HOLD_MS} ms`);
    const result = await run(variant);
    console.log(JSON.stringify(result));
    runs[variant].push(result);
  }
}
const load1 = loadavg();
const machine = machineFacts(limit, load0, load1);
const summary = (list) =>
  Object.fromEntries(
    Object.keys(list[0])
      .filter((key) => typeof list[0][key] === "number")
      .map((key) => [key, median(list.map((r) => r[key]))]),
  );
const bare = summary(runs.bare);
const gateway = summary(runs.gateway);
const memoryRatio = gateway.rssBytesPerConnection / bare.rssBytesPerConnection;
const fillRatio = gateway.fillPerSec / bare.fillPerSec;
const checks = {
  held: gateway.held >= CONNECTIONS && runs.gateway.every((r) => r.held >= CONNECTIONS),
  drops: runs.gateway.every((r) => r.drops === 0),
  loop: gateway.holdLoopP99Ms < 50,
  memory: memoryRatio <= 1.2,
};
const mark = (ok) => (ok ? "✓" : "✗");
const row = (label, key, unit = "") =>
  `| ${label} | ${fmt(bare[key])}${unit} | ${fmt(gateway[key])}${unit} |`;
const markdown = `## capacity: ${CONNECTIONS.toLocaleString("en-US")} authenticated idle connections in one process, held ${HOLD_MS / 1000} s

${machineSentence(machine)} Median of ${PAIRS} bare/gateway run(s), each server in its own process, the load from ${CLIENT_PROCESSES} client processes (${CONCURRENCY} connects in flight each) over ${ADDRESSES[0]}…${ADDRESSES[ADDRESSES.length - 1]}. Heartbeat every ${HEARTBEAT_MS / 1000} s (the gateway's default is 15 s; the bare server pings and sends \`tick\` likewise). Fill rate: the last 90% of the connections (the first 10% fill first, from one process, for the marginal memory figures). Memory per connection: RSS and heap after a GC at the end of the hold, minus before any connection, over the connections held. Gateway with its default connection limits.

| | bare ws | gateway |
|---|---:|---:|
${row("connections held at the end", "held")}
${row("drops during the hold", "drops")}
${row("failed connect attempts (retried)", "failedConnects")}
${row("pings received per connection (fill + hold)", "pingsPerConnection")}
${row("`tick` events per connection (fill + hold)", "ticksPerConnection")}
${row("fill rate, authenticated connections/s", "fillPerSec")}
${row("event-loop delay p99 during the fill, ms", "fillLoopP99Ms")}
${row("event-loop delay p99 during the hold, ms", "holdLoopP99Ms")}
${row("event-loop delay max during the hold, ms", "holdLoopMaxMs")}
${row("server CPU during the hold, %", "holdCpuPercent")}
${row("RSS per connection, bytes", "rssBytesPerConnection")}
${row("heap per connection, bytes", "heapBytesPerConnection")}
${row("marginal RSS per connection (last 90%), bytes", "marginalRssBytesPerConnection")}
${row("marginal heap per connection (last 90%), bytes", "marginalHeapBytesPerConnection")}
${row("server RSS at the end, MiB", "rssMb")}

| target | result | |
|---|---|---|
| ≥ ${CONNECTIONS.toLocaleString("en-US")} held, none dropped | ${fmt(gateway.held)} held, ${fmt(gateway.drops)} dropped | ${mark(checks.held && checks.drops)} |
| event-loop delay p99 < 50 ms during the hold | ${fmt(gateway.holdLoopP99Ms)} ms | ${mark(checks.loop)} |
| memory per connection ≤ 1.2x bare | ${fmt(gateway.rssBytesPerConnection)} vs ${fmt(bare.rssBytesPerConnection)} bytes RSS: **${memoryRatio.toFixed(2)}x** | ${mark(checks.memory)} |
| fill rate vs bare (reported) | ${fmt(gateway.fillPerSec)} vs ${fmt(bare.fillPerSec)}/s: **${fillRatio.toFixed(2)}x** | – |

Connect errors (retried with backoff): bare ${JSON.stringify(sumErrors(runs.bare.map((r) => r.connectErrors)))}, gateway ${JSON.stringify(sumErrors(runs.gateway.map((r) => r.connectErrors)))}.
`;
await writeResults(process.env.BENCH_RESULT_NAME ?? "capacity", markdown, {
  machine,
  settings: { CONNECTIONS, HOLD_MS, HEARTBEAT_MS, CLIENT_PROCESSES, CONCURRENCY, PAIRS, ADDRESSES },
  bare,
  gateway,
  memoryRatio,
  fillRatio,
  checks,
  runs,
});
process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
