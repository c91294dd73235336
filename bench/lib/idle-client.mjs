// A load-client process of the capacity benchmarks (capacity.mjs, cluster-100k.mjs), forked with
// one JSON argument `{ ports, count, addresses, concurrency, variant }`: it opens `count`
// authenticated operator connections (connection i to `ports[i % ports.length]` from
// `addresses[i % addresses.length]`, so that one process is not held to one source address's
// ~28,000 ports), answers pings (ws does), and counts what happens. Each process has its own
// descriptor limit, hence several of them for more connections than one process may open.
//
// A connection that fails is retried with the client's backoff and jitter (`backoffDelay` of
// @openclaw/protocol, the policy of GatewayClient's reconnect); every failure is counted by type
// (`http 503`, `ECONNRESET`, `timeout`, the `connect` error code…).
//
// IPC, parent → child: `{ cmd: "stats" }` → `{ type: "stats", … }`; `{ cmd: "storm" }`: every
// socket is terminated at once and reconnects with backoff, → `{ type: "storm", … }` once all
// are back; `{ cmd: "close" }`: terminate everything and exit. Child → parent: `{ type: "filled", … }`.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { backoffDelay, DEFAULT_BACKOFF } from "@openclaw/protocol";
import { WebSocket } from "ws";
import { LeanWebSocket } from "./lean-ws.mjs";
import { BENCH_TOKEN } from "./server.mjs";

const {
  ports,
  count,
  addresses,
  concurrency = 100,
  timeoutMs = 30_000,
  processIndex = 0,
  processes = 1,
  share = count,
  portRange: [PORT_BASE, PORT_END] = [20_000, 61_000],
  fillDeadlineMs = 3_600_000,
  stormDeadlineMs = 3_600_000,
  /** Failed attempts after which a connection is given up (GatewayClient's own default never gives up). */
  maxAttempts = 20,
  /** `ws` (the `ws` package's client) or `lean` (lib/lean-ws.mjs: far less CPU per connection). */
  client = "ws",
} = JSON.parse(process.argv[2]);
/** No attempt starts after this (the fill's, then the storm's): a bounded run reports what it holds. */
let deadline = Date.now() + fillDeadlineMs;

// Source ports are chosen here, not by the kernel: bind(address, 0) scans the whole port range for
// a port no socket of any address uses, and at ~100,000 sockets on the machine that scan was the
// machine's CPU (the 100k fill stalled at 80,000). Connection i gets, on its address, a port of
// this process's block in one of GENERATIONS sets of ports (the next set at each attempt, so that
// a port left in TIME_WAIT by the previous attempt is not reused at once).
const perAddress = Math.ceil(share / addresses.length);
const generationSize = perAddress * processes;
const GENERATIONS = Math.floor((PORT_END - PORT_BASE) / generationSize);
const attempts = new Uint16Array(count);
function localPort(i) {
  if (GENERATIONS < 1) return 0; // too many connections for fixed ports: the kernel picks
  const generation = attempts[i]++ % GENERATIONS;
  return (
    PORT_BASE + generation * generationSize + processIndex * perAddress + Math.floor(i / addresses.length)
  );
}
const HELLO = JSON.stringify({
  type: "req",
  id: "hello",
  method: "connect",
  data: {
    protocol: 1,
    client: { name: "bench-idle", version: "1", platform: "linux" },
    token: BENCH_TOKEN,
    role: "operator",
  },
});

const sockets = new Array(count);
/** Failures by type, during the fill and the storm separately. */
let errors = {};
let drops = 0; // sockets that closed while held, not by us
let ticks = 0;
let pings = 0;
let received = 0; // `channel.message.received` frames
let firstReceivedAt = 0;
let lastReceivedAt = 0;
let stopping = false;
/** Sockets this process terminated itself (not drops). */
const ours = new WeakSet();

const count1 = (map, key) => {
  map[key] = (map[key] ?? 0) + 1;
};

function onFrame(raw) {
  // Idle clients see `tick` and the broadcast's frames; look at the head only.
  const head = raw.toString("latin1", 0, Math.min(raw.length, 64));
  if (head.includes('"tick"')) ticks += 1;
  else if (head.includes('"channel.message.received"')) {
    received += 1;
    const now = Date.now();
    if (firstReceivedAt === 0) firstReceivedAt = now;
    lastReceivedAt = now;
  }
}

/** One attempt: resolves the accepted socket or rejects with an error whose `kind` names the failure. */
function attempt(i) {
  return new Promise((resolve, reject) => {
    const ws =
      client === "lean"
        ? new LeanWebSocket({
            host: "127.0.0.1",
            port: ports[i % ports.length],
            localAddress: addresses[i % addresses.length],
            localPort: localPort(i),
          })
        : new WebSocket(`ws://127.0.0.1:${ports[i % ports.length]}`, {
            perMessageDeflate: false,
            localAddress: addresses[i % addresses.length],
            localPort: localPort(i),
            handshakeTimeout: timeoutMs,
          });
    let settled = false;
    const fail = (kind) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(Object.assign(new Error(kind), { kind }));
    };
    const timer = setTimeout(() => fail("timeout"), timeoutMs);
    ws.on("unexpected-response", (req, res) => {
      // ws: (request, response); the lean client: (status).
      if (typeof req === "number") return fail(`http ${req}`);
      res.resume();
      fail(`http ${res.statusCode}`);
    });
    ws.on("error", (error) => fail(error.code ?? error.message));
    ws.on("close", (code) => fail(`closed ${code}`));
    ws.once("open", () => ws.send(HELLO));
    const onHello = (data) => {
      const hello = JSON.parse(String(data));
      // An event (a heartbeat's `tick`) may come before the answer to `connect`.
      if (hello.type !== "res" || hello.id !== "hello") return;
      ws.off("message", onHello);
      if (hello.error !== null) return fail(hello.error?.code ?? "connect error");
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners("close");
      ws.removeAllListeners("unexpected-response");
      ws.on("message", onFrame);
      ws.on("ping", () => {
        pings += 1;
      });
      ws.on("close", () => {
        if (sockets[i] === ws) sockets[i] = undefined;
        if (!stopping && !ours.has(ws)) drops += 1;
      });
      resolve(ws);
    };
    ws.on("message", onHello);
  });
}

/**
 * Connects socket i, retrying with backoff (the delay after a failure is that of attempt `first`,
 * then `first + 1`…); resolves whether it is held (false after `maxAttempts` failures or past the
 * deadline).
 */
async function connectWithBackoff(i, first = 1) {
  for (let n = first; n < first + maxAttempts && !stopping && Date.now() < deadline; n++) {
    try {
      sockets[i] = await attempt(i);
      return true;
    } catch (error) {
      count1(errors, error.kind ?? "error");
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(n, DEFAULT_BACKOFF)));
    }
  }
  return false;
}

async function fillAll(indexes, limit) {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, indexes.length) }, async () => {
      while (next < indexes.length) {
        const i = indexes[next++];
        if (!(await connectWithBackoff(i))) failed += 1;
      }
    }),
  );
  return failed;
}

const open = () => sockets.reduce((n, ws) => (ws?.readyState === WebSocket.OPEN ? n + 1 : n), 0);

const startedAt = Date.now();
const failed = await fillAll([...sockets.keys()], concurrency);
process.send({ type: "filled", startedAt, filledAt: Date.now(), open: open(), failed, errors });

process.on("message", async (message) => {
  if (message.cmd === "stats") {
    process.send({
      type: "stats",
      open: open(),
      drops,
      ticks,
      pings,
      received,
      firstReceivedAt,
      lastReceivedAt,
      memory: process.memoryUsage().rss,
    });
  } else if (message.cmd === "storm") {
    // Every connection drops at once (as when the network blips), and each reconnects the way
    // GatewayClient does: first after initialDelayMs ± jitter, then backing off on failure. The
    // connections come back at the storm's pace, not a fixed concurrency.
    errors = {};
    const dropped = [];
    for (const [i, ws] of sockets.entries()) {
      if (ws === undefined) continue;
      ours.add(ws);
      ws.terminate();
      sockets[i] = undefined;
      dropped.push(i);
    }
    const at = Date.now();
    deadline = at + stormDeadlineMs;
    // This process's own event-loop delay during the storm: a starved client times out on its own.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    /** Milliseconds from the drop until each connection was back. */
    const backAfterMs = [];
    const results = await Promise.all(
      dropped.map(async (i) => {
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(1, DEFAULT_BACKOFF)));
        const ok = await connectWithBackoff(i, 2);
        if (ok) backAfterMs.push(Date.now() - at);
        return ok;
      }),
    );
    loop.disable();
    process.send({
      type: "storm",
      droppedAt: at,
      backAt: Date.now(),
      dropped: dropped.length,
      back: open(),
      failed: results.filter((ok) => !ok).length,
      errors,
      backAfterMs,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
    });
  } else if (message.cmd === "close") {
    stopping = true;
    for (const ws of sockets) ws?.terminate();
    process.disconnect();
    process.exit(0);
  }
});
