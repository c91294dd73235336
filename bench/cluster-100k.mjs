// Benchmark (issue 22, item 3): 100,000 connections across gateway instances on this one machine.
// A redis-server on a free port (temporary directory), BENCH_INSTANCES (6) gateway processes of
// bench/lib/server.mjs in cluster mode on it (the gateway's default connection limits), and load
// clients in BENCH_CLIENT_PROCESSES (8) processes (each under its own descriptor limit, at most
// ~12,500 connections each) over BENCH_ADDRESSES (101) source addresses from 127.0.0.2, each process
// spread over every instance.
// Reported:
// - connections held, and memory per connection (sum of the gateways' RSS after a GC, minus their
//   RSS before any connection, over the connections held);
// - a broadcast to all: BENCH_MESSAGES (10) inbound messages posted to instance 0's bench channel
//   (one webhook call), each delivered to every client as `channel.message.received` (and
//   `conversation.updated`): deliveries/s of `channel.message.received` and the time until the
//   last client has the first and the last message;
// - a reconnect storm: every client socket is terminated at once and reconnects with the client's
//   backoff and jitter (`backoffDelay` of @openclaw/protocol, GatewayClient's policy: 500 ms ± 20%,
//   doubling on failure): the time until all are back, and every failed attempt by type (the
//   gateway's documented refusals are HTTP 503 `OVERLOADED` for its handshake and connection caps).
//
// Quick run: BENCH_CONNECTIONS=6000 BENCH_INSTANCES=2 BENCH_CLIENT_PROCESSES=2 node cluster-100k.mjs
import { loadavg } from "node:os";
import { startRedisServer } from "@openclaw/redis/testing";
import { writeResults } from "./lib/harness.mjs";
import {
  descriptorLimit,
  machineFacts,
  machineSentence,
  startClients,
  startServer,
  sumErrors,
} from "./lib/processes.mjs";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100_000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 6);
const CLIENT_PROCESSES = Number(process.env.BENCH_CLIENT_PROCESSES ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 25);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 15_000);
/** Bounds of the fill and of the storm: connect attempts stop then, and what is held is reported. */
const FILL_DEADLINE_MS = Number(process.env.BENCH_FILL_DEADLINE_MS ?? 480_000);
const STORM_DEADLINE_MS = Number(process.env.BENCH_STORM_DEADLINE_MS ?? 240_000);
/**
 * The load processes' WebSocket client: `lean` (lib/lean-ws.mjs, the default: the protocol on a bare
 * TCP socket, a fraction of the CPU per connection) or `ws` (the ws package's client).
 */
const CLIENT = process.env.BENCH_CLIENT ?? "lean";
/**
 * Client source addresses: 127.0.0.2 onwards. The gateway limits unfinished handshakes per address
 * (`gateway.maxHandshakesPerSource`, 64 per instance): 101 addresses give each about 1,000 clients,
 * a crowd of independent clients; 8 give each 12,500, a carrier NAT (where the README says to raise
 * the limit). Client i uses address i mod the count and instance i mod the instances: a count prime
 * to the number of instances lets every address reach every instance.
 */
const ADDRESS_COUNT = Number(process.env.BENCH_ADDRESSES ?? 101);
const ADDRESSES = Array.from(
  { length: ADDRESS_COUNT },
  (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`,
);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls `check` until it returns true or `ms` pass; resolves whether it did. */
async function until(check, ms, every = 500) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(every);
  }
  return false;
}

const limit = await descriptorLimit();
const load0 = loadavg();
const redis = await startRedisServer();
const servers = [];
let clients = [];
const result = {};
try {
  for (let i = 0; i < INSTANCES; i++)
    servers.push(
      await startServer("gateway", {
        BENCH_REDIS_URL: redis.url,
        BENCH_NAMESPACE: "bench100k",
        BENCH_INSTANCE_ID: `gw-${i}`,
        BENCH_HEARTBEAT_MS: String(HEARTBEAT_MS),
        // The gateway's default connection limits (BENCH_DEFAULT_LIMITS=0: the lifted ones of lib/server.mjs).
        BENCH_DEFAULT_LIMITS: process.env.BENCH_DEFAULT_LIMITS ?? "1",
      }),
    );
  const before = await Promise.all(servers.map((s) => s.memory()));
  console.log(
    `${INSTANCES} gateways up; filling ${CONNECTIONS} connections from ${CLIENT_PROCESSES} processes`,
  );

  // Fill.
  const started = await startClients({
    ports: servers.map((s) => s.port),
    count: CONNECTIONS,
    processes: CLIENT_PROCESSES,
    addresses: ADDRESSES,
    concurrency: CONCURRENCY,
    fillDeadlineMs: FILL_DEADLINE_MS,
    stormDeadlineMs: STORM_DEADLINE_MS,
    // Like GatewayClient, a client never gives up; the deadlines bound the run.
    maxAttempts: 1_000_000,
    client: CLIENT,
  });
  clients = started.clients;
  const { fills } = started;
  const filled = fills.reduce((n, f) => n + f.open, 0);
  const fillSeconds =
    (Math.max(...fills.map((f) => f.filledAt)) - Math.min(...fills.map((f) => f.startedAt))) / 1000;
  result.fill = {
    filled,
    seconds: fillSeconds,
    perSec: filled / fillSeconds,
    failedConnections: fills.reduce((n, f) => n + f.failed, 0),
    errors: sumErrors(fills.map((f) => f.errors)),
  };
  console.log(JSON.stringify(result.fill));
  await sleep(2000);
  const stats0 = await Promise.all(clients.map((c) => c.ask("stats")));
  const held = stats0.reduce((n, s) => n + s.open, 0);
  const loops = await Promise.all(servers.map((s) => s.loop()));
  const after = await Promise.all(servers.map((s) => s.memory()));
  const rssDelta = after.reduce((n, m, i) => n + m.rss - before[i].rss, 0);
  const heapDelta = after.reduce((n, m, i) => n + m.heapUsed - before[i].heapUsed, 0);
  result.held = {
    held,
    gatewayRssMb: after.reduce((n, m) => n + m.rss, 0) / 2 ** 20,
    rssBytesPerConnection: rssDelta / held,
    heapBytesPerConnection: heapDelta / held,
    clientRssMb: stats0.reduce((n, s) => n + s.memory, 0) / 2 ** 20,
    ticksPerConnection: stats0.reduce((n, s) => n + s.ticks, 0) / held,
    fillLoopP99MsMax: Math.max(...loops.map((l) => l.loopDelayP99Ms)),
  };
  console.log(JSON.stringify(result.held));

  // Broadcast to all: MESSAGES inbound messages at instance 0, to every client of every instance.
  await Promise.all(servers.map((s) => s.loop()));
  const postedAt = Date.now();
  // The webhook is answered once the messages are recorded; a failure (e.g. undici's 300 s header
  // timeout on a starved machine) is reported, and the deliveries are still counted.
  let webhookError;
  try {
    const response = await fetch(`http://127.0.0.1:${servers[0].port}/webhook/bench?n=${MESSAGES}&chats=1`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    await response.arrayBuffer();
  } catch (error) {
    webhookError = String(error.cause?.code ?? error.message);
  }
  const acceptedAt = Date.now();
  const expected = held * MESSAGES;
  let stats = stats0;
  const all = await until(
    async () => {
      stats = await Promise.all(clients.map((c) => c.ask("stats")));
      return stats.reduce((n, s) => n + s.received, 0) >= expected;
    },
    120_000,
    250,
  );
  const received = stats.reduce((n, s) => n + s.received, 0);
  const lastAt = Math.max(...stats.map((s) => s.lastReceivedAt));
  const broadcastLoops = await Promise.all(servers.map((s) => s.loop()));
  result.broadcast = {
    messages: MESSAGES,
    expected,
    received,
    complete: all,
    webhookMs: acceptedAt - postedAt,
    webhookError,
    // The first message's last arrival is not tracked per message; the first arrival at all is.
    firstArrivalMs:
      Math.min(...stats.filter((s) => s.firstReceivedAt > 0).map((s) => s.firstReceivedAt)) - postedAt,
    lastArrivalMs: lastAt - postedAt,
    deliveriesPerSec: received / ((lastAt - postedAt) / 1000),
    loopP99MsMax: Math.max(...broadcastLoops.map((l) => l.loopDelayP99Ms)),
    loopMaxMs: Math.max(...broadcastLoops.map((l) => l.loopDelayMaxMs)),
    gcMaxMs: Math.max(...broadcastLoops.map((l) => l.gcMaxMs)),
    drops: stats.reduce((n, s) => n + s.drops, 0),
  };
  console.log(JSON.stringify(result.broadcast));

  // Reconnect storm: all dropped at once, back with backoff and jitter.
  const storms = await Promise.all(clients.map((c) => c.ask("storm")));
  const droppedAt = Math.min(...storms.map((s) => s.droppedAt));
  const backAt = Math.max(...storms.map((s) => s.backAt));
  const stormLoops = await Promise.all(servers.map((s) => s.loop()));
  await sleep(1000);
  const stats2 = await Promise.all(clients.map((c) => c.ask("stats")));
  const backAfter = storms.flatMap((s) => s.backAfterMs).sort((a, b) => a - b);
  const backBy = (fraction) => backAfter[Math.ceil(fraction * backAfter.length) - 1] / 1000;
  result.storm = {
    dropped: storms.reduce((n, s) => n + s.dropped, 0),
    // Seconds after the drop until half, 90% and 99% of the dropped connections were back.
    secondsUntilBack: { p50: backBy(0.5), p90: backBy(0.9), p99: backBy(0.99) },
    clientLoopP99MsMax: Math.max(...storms.map((s) => s.loopDelayP99Ms)),
    clientLoopMaxMs: Math.max(...storms.map((s) => s.loopDelayMaxMs)),
    back: stats2.reduce((n, s) => n + s.open, 0),
    gaveUp: storms.reduce((n, s) => n + s.failed, 0),
    secondsUntilAllBack: (backAt - droppedAt) / 1000,
    errors: sumErrors(storms.map((s) => s.errors)),
    loopP99MsMax: Math.max(...stormLoops.map((l) => l.loopDelayP99Ms)),
    loopMaxMs: Math.max(...stormLoops.map((l) => l.loopDelayMaxMs)),
    gcMaxMs: Math.max(...stormLoops.map((l) => l.gcMaxMs)),
  };
  console.log(JSON.stringify(result.storm));
} finally {
  for (const client of clients) await client.close().catch(() => {});
  for (const server of servers) await server.stop().catch(() => {});
  await redis.stop();
}

const load1 = loadavg();
const machine = machineFacts(limit, load0, load1);
const fmt = (n) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
const errorList = (errors) =>
  Object.keys(errors).length === 0
    ? "none"
    : Object.entries(errors)
        .map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`)
        .join(", ");
const { fill, held, broadcast, storm } = result;
const markdown = `## cluster: ${CONNECTIONS.toLocaleString("en-US")} connections across ${INSTANCES} gateway instances on one Redis, one machine

${machineSentence(machine)} ${INSTANCES} gateway processes (bench/lib/server.mjs in cluster mode, default connection limits, heartbeat ${HEARTBEAT_MS / 1000} s) on one redis-server; ${CLIENT_PROCESSES} client processes (${CLIENT === "lean" ? "lib/lean-ws.mjs" : "the ws client"}, ${CONCURRENCY} connects in flight each) over ${ADDRESSES.length} source addresses (${ADDRESSES[0]}…${ADDRESSES[ADDRESSES.length - 1]}, about ${Math.round(CONNECTIONS / ADDRESSES.length).toLocaleString("en-US")} clients each), each spread over every instance. One run.

| | |
|---|---:|
| connections held | ${fmt(held.held)} |
| fill: authenticated connections/s (${fmt(fill.seconds)} s) | ${fmt(fill.perSec)} |
| fill: failed attempts (retried with backoff) | ${errorList(fill.errors)} |
| fill: connections not made (past ${FILL_DEADLINE_MS / 1000} s) | ${fmt(fill.failedConnections)} |
| gateways' RSS in all, MiB | ${fmt(held.gatewayRssMb)} |
| memory per connection: RSS / heap, bytes | ${fmt(held.rssBytesPerConnection)} / ${fmt(held.heapBytesPerConnection)} |
| broadcast: ${MESSAGES} messages to all, \`channel.message.received\` delivered | ${fmt(broadcast.received)} of ${fmt(broadcast.expected)} |
| broadcast: deliveries/s (until the last arrival) | ${fmt(broadcast.deliveriesPerSec)} |
| broadcast: first arrival / last client has the last message, ms after the POST | ${fmt(broadcast.firstArrivalMs)} / ${fmt(broadcast.lastArrivalMs)} |
| broadcast: gateways' event-loop delay p99 / longest (worst instance), ms | ${fmt(broadcast.loopP99MsMax)} / ${fmt(broadcast.loopMaxMs)} |
| broadcast: gateways' longest garbage-collection pause, ms | ${fmt(broadcast.gcMaxMs)} |
| reconnect storm: dropped / back | ${fmt(storm.dropped)} / ${fmt(storm.back)} |
| reconnect storm: time until all are back, s | ${fmt(storm.secondsUntilAllBack)} |
| reconnect storm: time until 50% / 90% / 99% are back, s | ${fmt(storm.secondsUntilBack.p50)} / ${fmt(storm.secondsUntilBack.p90)} / ${fmt(storm.secondsUntilBack.p99)} |
| reconnect storm: event-loop delay p99 / longest, gateways / client processes (worst), ms | ${fmt(storm.loopP99MsMax)} / ${fmt(storm.loopMaxMs)}, ${fmt(storm.clientLoopP99MsMax)} / ${fmt(storm.clientLoopMaxMs)} |
| reconnect storm: gateways' longest garbage-collection pause, ms | ${fmt(storm.gcMaxMs)} |
| reconnect storm: failed attempts by type | ${errorList(storm.errors)} |
| reconnect storm: not back (past ${STORM_DEADLINE_MS / 1000} s) | ${fmt(storm.gaveUp)} |
| \`tick\` events per connection since connected (one per instance per heartbeat) | ${fmt(held.ticksPerConnection)} |
`;
await writeResults(process.env.BENCH_RESULT_NAME ?? "cluster-100k", markdown, {
  machine,
  settings: {
    ...{ CONNECTIONS, INSTANCES, CLIENT_PROCESSES, CLIENT, CONCURRENCY, MESSAGES, HEARTBEAT_MS, ADDRESSES },
    ...{ FILL_DEADLINE_MS, STORM_DEADLINE_MS },
  },
  ...result,
});
process.exitCode = held.held >= CONNECTIONS && broadcast.complete && storm.back >= storm.dropped ? 0 : 1;
