// A benchmark server process: `bare` (a ws server speaking the same frames with no gateway logic)
// or `gateway` (the real Gateway, built, with a bench channel). Both listen on 127.0.0.1, print
// `{"port":…}` on stdout when ready, and answer:
// - WebSocket: `connect` (token checked), `ping`;
// - `POST /webhook/bench?n=<count>`: n inbound messages, each broadcast to every client as
//   `channel.message.received` then `conversation.updated` (the gateway: through its channel,
//   dedupe and conversation store; bare: the same two frames, encoded once, sent to everyone).
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

export const BENCH_TOKEN = "bench-token-0123456789abcdef";
const variant = process.argv[2];

function inboundMessage(n, sentAt) {
  return {
    id: `bench-${randomUUID()}`,
    conversationId: `chat-${n % 100}`,
    peerId: `chat-${n % 100}`,
    sender: { id: "u-1", name: "Bench" },
    text: `message ${n}`,
    timestamp: sentAt,
  };
}

async function bare() {
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method !== "POST" || url.pathname !== "/webhook/bench") {
      res.writeHead(404).end();
      return;
    }
    req.resume();
    const count = Number(url.searchParams.get("n") ?? 1);
    for (let n = 0; n < count; n++) {
      const message = { ...inboundMessage(n, Date.now()), channel: "bench" };
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
        if (client.bufferedAmount > 4 * 1024 * 1024) {
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
      if (frame.type !== "req") return;
      if (frame.method === "connect") {
        if (frame.data?.token !== BENCH_TOKEN) {
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
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  return http.address().port;
}

async function gateway() {
  const { ConfigManager } = await import("@openclaw/config");
  const { createLogger, Gateway } = await import("@openclaw/gateway");
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
        webhook(request) {
          const count = Number(request.query.n ?? 1);
          for (let n = 0; n < count; n++) context.emit(inboundMessage(n, Date.now()));
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
      heartbeat: { intervalMs: 60_000 },
      gateway: { maxConnections: 50_000 },
      logging: { level: "error" },
    }),
  );
  const config = new ConfigManager({
    path: join(dir, "openclaw.json"),
    env: { OPENCLAW_PORT: "0", OPENCLAW_STATE_DIR: join(dir, "state"), OPENCLAW_GATEWAY_TOKEN: BENCH_TOKEN },
  });
  await config.load();
  const gw = new Gateway({ config, channels: [benchChannel], logger: createLogger("error") });
  await gw.start();
  return gw.address.port;
}

// Only when run as the server process (the load client imports BENCH_TOKEN from here).
if (process.argv[1] === fileURLToPath(import.meta.url) && (variant === "bare" || variant === "gateway")) {
  const port = variant === "bare" ? await bare() : await gateway();
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
  // The parent asks for memory figures over stdin: "mem" → {"rss":…,"heapUsed":…} after a GC.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (line) => {
    if (line.trim() === "mem") {
      globalThis.gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      const loopDelayP99Ms = loop.percentile(99) / 1e6;
      loop.reset();
      process.stdout.write(`${JSON.stringify({ rss, heapUsed, loopDelayP99Ms })}\n`);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}
