// A benchmark server process: `bare` (a ws server speaking the same frames with no gateway logic)
// or `gateway` (the real Gateway, built, with a bench channel; in cluster mode on Redis when
// BENCH_REDIS_URL is set). Both listen on 127.0.0.1, print
// `{"port":…}` on stdout when ready, and answer:
// - WebSocket: `connect` (operator token checked; a node connects with `role: "node"`: bare takes
//   it as it is, the gateway wants a paired device token), `ping`, and `node.invoke`, forwarded to
//   the node as a `req` whose `res` goes back to the caller;
// - `POST /webhook/bench?n=<count>&size=<chars>&durable=1&from=<n>&chats=<count>`: n inbound
//   messages numbered from `from` (text padded to `size`, in `chats` conversations, default 100), each broadcast to every client as `channel.message.received` then
//   `conversation.updated` (the gateway: through its channel, which waits for the gateway to record
//   them, dedupe and conversation journal; bare: the same two frames, encoded once, sent to
//   everyone; with `durable=1` bare first appends each message to a file with group-committed
//   fdatasync, the I/O the gateway does);
// - `POST /v1/chat/completions` (Bearer token): the echo agent, streamed as SSE when asked (bare:
//   a plain node:http handler writing the same chunks).
import { randomUUID } from "node:crypto";
import { mkdtemp, open, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { WebSocketServer } from "ws";

export const BENCH_TOKEN = "bench-token-0123456789abcdef";
/** The gateway's admin token (approves the benchmark node's pairing). */
export const BENCH_ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
/** Both servers close a client with more unsent bytes than this (the slow-consumer rule). */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
const variant = process.argv[2];
/** The heartbeat interval (BENCH_HEARTBEAT_MS; 60 s unless a bench asks, e.g. the gateway's default 15 s). */
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 60_000);
const DEFAULT_LIMITS = process.env.BENCH_DEFAULT_LIMITS === "1";

/** Message `n` of a run, in one of `chats` conversations (`chat-<n mod chats>`). */
function inboundMessage(n, sentAt, size = 0, chats = 100) {
  return {
    id: `bench-${randomUUID()}`,
    conversationId: `chat-${n % chats}`,
    peerId: `chat-${n % chats}`,
    sender: { id: "u-1", name: "Bench" },
    text: `message ${n}`.padEnd(size, "."),
    timestamp: sentAt,
  };
}

/** An append-only file with group commit: every line waiting at the same moment shares one fdatasync. */
async function journal() {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-bench-bare-"));
  const handle = await open(join(dir, "messages.log"), "a");
  let queue = [];
  let flushing = false;
  const flush = async () => {
    flushing = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await handle.write(batch.map((entry) => entry.line).join(""));
      await handle.datasync();
      for (const entry of batch) entry.resolve();
    }
    flushing = false;
  };
  return (record) =>
    new Promise((resolve) => {
      queue.push({ line: `${JSON.stringify(record)}\n`, resolve });
      if (!flushing) void flush();
    });
}

/** The SSE chunks of the echo agent, as the gateway writes them. */
function echoChunks(model, input) {
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, finish) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return [
    chunk({ role: "assistant", content: "" }, null),
    ...(input.match(/\S+\s*|\s+/g) ?? []).map((piece) => chunk({ content: piece }, null)),
    chunk({}, "stop"),
    "data: [DONE]\n\n",
  ];
}

async function bare() {
  const append = await journal();
  let node; // the one node socket
  const forwarded = new Map(); // relay id → { ws, id }
  let relayId = 0;
  const readBody = (req) =>
    new Promise((resolve) => {
      const chunks = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });
  const http = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
      if (req.headers.authorization !== `Bearer ${BENCH_TOKEN}`) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"code":"UNAUTHORIZED"}}');
        return;
      }
      const body = JSON.parse(await readBody(req));
      const input = [...body.messages].reverse().find((m) => m.role === "user")?.content ?? "";
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const chunk of echoChunks(body.model, input)) res.write(chunk);
      res.end();
      return;
    }
    if (req.method !== "POST" || url.pathname !== "/webhook/bench") {
      res.writeHead(404).end();
      return;
    }
    await readBody(req);
    const count = Number(url.searchParams.get("n") ?? 1);
    const size = Number(url.searchParams.get("size") ?? 0);
    const from = Number(url.searchParams.get("from") ?? 0);
    const chats = Number(url.searchParams.get("chats") ?? 100);
    const messages = Array.from({ length: count }, (_, n) => ({
      ...inboundMessage(from + n, Date.now(), size, chats),
      channel: "bench",
    }));
    if (url.searchParams.get("durable") === "1") await Promise.all(messages.map(append));
    // Like the gateway, which encodes an event only when someone receives it.
    if (wss.clients.size > 0)
      for (const [n, message] of messages.entries()) {
        const received = JSON.stringify({
          type: "event",
          event: "channel.message.received",
          data: { channel: "bench", message },
        });
        const updated = JSON.stringify({
          type: "event",
          event: "conversation.updated",
          data: {
            conversation: {
              conversationId: message.conversationId,
              channel: "bench",
              messageCount: n + 1,
              lastSeq: n + 1,
              lastMessageAt: message.timestamp,
            },
            message: {
              seq: n + 1,
              direction: "in",
              messageId: message.id,
              sender: message.sender,
              content: { text: message.text },
              timestamp: message.timestamp,
            },
          },
        });
        for (const client of wss.clients) {
          if (client.readyState !== 1) continue;
          // The same slow-consumer rule as the gateway: drop a client that does not read.
          if (client.bufferedAmount > MAX_BUFFERED_BYTES) {
            client.terminate();
            continue;
          }
          client.send(received);
          client.send(updated);
        }
      }
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  const wss = new WebSocketServer({ server: http });
  wss.on("connection", (ws) => {
    let ready = false;
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === "res" && ws === node) {
        const caller = forwarded.get(frame.id);
        if (caller === undefined) return;
        forwarded.delete(frame.id);
        caller.ws.send(
          JSON.stringify({
            type: "res",
            id: caller.id,
            data: { nodeId: "bench-node", result: frame.data },
            error: null,
          }),
        );
        return;
      }
      if (frame.type !== "req") return;
      if (frame.method === "connect") {
        if (frame.data?.role !== "node" && frame.data?.token !== BENCH_TOKEN) {
          ws.send(
            JSON.stringify({
              type: "res",
              id: frame.id,
              data: null,
              error: { code: "UNAUTHORIZED", message: "token rejected" },
            }),
          );
          ws.close(1008);
          return;
        }
        ready = true;
        ws.send(
          JSON.stringify({
            type: "res",
            id: frame.id,
            data: {
              protocol: 1,
              server: { name: "bare", version: "0" },
              connectionId: randomUUID(),
              role: "operator",
              scopes: ["operator.read", "operator.write"],
              methods: [],
              events: [],
              heartbeatMs: 60_000,
              limits: { maxFrameBytes: 1_048_576 },
            },
            error: null,
          }),
        );
        if (frame.data?.role === "node") node = ws;
      } else if (ready && frame.method === "node.invoke") {
        const id = `r${++relayId}`;
        forwarded.set(id, { ws, id: frame.id });
        node?.send(JSON.stringify({ type: "req", id, method: frame.data.method, data: frame.data.data }));
      } else if (ready && frame.method === "ping") {
        ws.send(
          JSON.stringify({
            type: "res",
            id: frame.id,
            data: { ts: Date.now(), echo: frame.data?.ts },
            error: null,
          }),
        );
      }
    });
  });
  if (process.env.BENCH_HEARTBEAT_MS !== undefined) {
    // What the gateway's heartbeat does, done the plain way: a client that missed the last ping is
    // terminated, the others are pinged, and every client gets a `tick` event.
    const alive = new WeakMap();
    wss.on("connection", (ws) => ws.on("pong", () => alive.set(ws, true)));
    setInterval(() => {
      const tick = JSON.stringify({ type: "event", event: "tick", data: { ts: Date.now() } });
      for (const ws of wss.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
        if (ws.readyState === 1) ws.send(tick);
      }
    }, HEARTBEAT_MS).unref();
  }
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  return http.address().port;
}

async function gateway() {
  const { ConfigManager } = await import("@openclaw/config");
  const { createLogger, Gateway, startTracing } = await import("@openclaw/gateway");
  const { defineChannel, v } = await import("@openclaw/channel-sdk");
  // A channel whose "platform" is the benchmark: each webhook asks for n inbound messages.
  const benchChannel = defineChannel({
    name: "bench",
    capabilities: ["text"],
    webhooks: true,
    config: v.object({}),
    create() {
      let context;
      return {
        start(ctx) {
          context = ctx;
        },
        send: () => ({ messageId: randomUUID() }),
        async webhook(request) {
          const count = Number(request.query.n ?? 1);
          const size = Number(request.query.size ?? 0);
          const from = Number(request.query.from ?? 0);
          const chats = Number(request.query.chats ?? 100);
          // Like a real plugin: answered once the gateway has recorded every message.
          const taken = [];
          for (let n = 0; n < count; n++)
            taken.push(context.emit(inboundMessage(from + n, Date.now(), size, chats)));
          await Promise.all(taken);
          return { status: 200, body: { ok: true } };
        },
        stop() {},
      };
    },
  });
  const dir = await mkdtemp(join(tmpdir(), "openclaw-bench-gw-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: { bench: {} },
      webhooks: { basePath: "/webhook" },
      security: { rateLimit: { requestsPerSecond: 10_000_000, burst: 10_000_000 } },
      heartbeat: { intervalMs: HEARTBEAT_MS },
      // The load comes from one address: lift the per-source handshake limit with the total
      // (BENCH_DEFAULT_LIMITS=1 keeps the gateway's defaults: the capacity benches).
      gateway: DEFAULT_LIMITS
        ? { maxBufferedBytes: MAX_BUFFERED_BYTES }
        : { maxConnections: 50_000, maxHandshakesPerSource: 50_000, maxBufferedBytes: MAX_BUFFERED_BYTES },
      logging: { level: process.env.BENCH_LOG_LEVEL ?? "error" },
      // bench/metrics.mjs compares the gateway with its Prometheus metrics off (0) and on.
      metrics: { enabled: process.env.BENCH_METRICS !== "0" },
    }),
  );
  const config = new ConfigManager({
    path: join(dir, "openclaw.json"),
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: join(dir, "state"),
      OPENCLAW_GATEWAY_TOKEN: BENCH_TOKEN,
      OPENCLAW_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
    },
  });
  await config.load();
  // Logs (BENCH_LOG_LEVEL, default error) go to stderr: stdout carries the answers to the parent's
  // commands, one JSON line each (a log line there was taken for an answer: the cluster run's loop
  // figures came out NaN).
  const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? "error", process.stderr);
  // Cluster mode (bench/cluster.mjs): BENCH_REDIS_URL, BENCH_NAMESPACE and BENCH_INSTANCE_ID.
  let cluster;
  if (process.env.BENCH_REDIS_URL !== undefined) {
    const { createCluster } = await import("@openclaw/redis");
    cluster = await createCluster(
      {
        redisUrl: process.env.BENCH_REDIS_URL,
        instanceId: process.env.BENCH_INSTANCE_ID ?? `bench-${process.pid}`,
        namespace: process.env.BENCH_NAMESPACE ?? "bench",
        leaseTtlMs: 10_000,
        instanceTtlMs: 5_000,
      },
      { logger },
    );
  }
  // bench/tracing.mjs: every request sampled, exported to the parent's local OTLP collector.
  if (process.env.BENCH_TRACING === "1" && process.env.BENCH_OTLP_URL !== undefined)
    await startTracing({ url: process.env.BENCH_OTLP_URL, samplingRatio: 1 }, logger);
  const gw = new Gateway({ config, channels: [benchChannel], logger, ...cluster?.options });
  await gw.start();
  // bench/metrics.mjs: collect the Prometheus text as a scraper would, every BENCH_SELF_SCRAPE_MS.
  const scrapeMs = Number(process.env.BENCH_SELF_SCRAPE_MS ?? 0);
  if (scrapeMs > 0 && gw.metrics !== undefined)
    setInterval(() => void gw.metrics.text().catch(() => {}), scrapeMs).unref();
  return gw.address.port;
}

// Only when run as the server process (the load client imports BENCH_TOKEN from here).
if (process.argv[1] === fileURLToPath(import.meta.url) && (variant === "bare" || variant === "gateway")) {
  const port = variant === "bare" ? await bare() : await gateway();
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
  // The parent asks for memory figures over stdin: "mem" → {"rss":…,"heapUsed":…,…} after a GC.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  // Garbage-collection pauses since the last "loop": is a long stall the collector or our code?
  let gcMaxMs = 0;
  let gcTotalMs = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcTotalMs += entry.duration;
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
    }
  }).observe({ entryTypes: ["gc"] });
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (line) => {
    const [command, argument] = line.trim().split(" ");
    if (command === "snap") {
      // A heap snapshot for the memory-per-connection analysis: "snap <path>" → {"snapshot":…}.
      globalThis.gc?.();
      const snapshot = writeHeapSnapshot(argument);
      process.stdout.write(`${JSON.stringify({ snapshot })}\n`);
    } else if (command === "loop") {
      // The event loop's delay since the last "loop"/"mem" (no GC forced: a hold's own figure).
      const loopDelayP99Ms = loop.percentile(99) / 1e6;
      const loopDelayMaxMs = loop.max / 1e6;
      loop.reset();
      const { rss, heapUsed } = process.memoryUsage();
      const gc = { gcMaxMs, gcTotalMs };
      gcMaxMs = 0;
      gcTotalMs = 0;
      process.stdout.write(`${JSON.stringify({ loopDelayP99Ms, loopDelayMaxMs, ...gc, rss, heapUsed })}\n`);
    } else if (command === "mem") {
      globalThis.gc?.();
      const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
      const loopDelayP99Ms = loop.percentile(99) / 1e6;
      loop.reset();
      process.stdout.write(`${JSON.stringify({ rss, heapUsed, heapTotal, external, loopDelayP99Ms })}\n`);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}
