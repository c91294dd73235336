// Benchmark: outbound messages/s to a fast fake platform (a loopback HTTP server answering at once),
// sent directly through a channel plugin (bare) and through the gateway's persisted DeliveryQueue
// (subject: every message fsync'd to the log before its first attempt, deleted after delivery).
// Messages go to 100 addresses, 50 each; each address is one ordered lane in both variants.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineChannel, v } from "@openclaw/channel-sdk";
import { createLogger, DeliveryQueue } from "@openclaw/gateway";
import { compare, report, worker } from "./lib/harness.mjs";

const ADDRESSES = 100;
const PER_ADDRESS = Number(process.env.BENCH_PER_ADDRESS ?? 50);
const TOTAL = ADDRESSES * PER_ADDRESS;

/** A minimal HTTP channel: POST {to, text} → {id}. */
const httpChannel = defineChannel({
  name: "bench-http",
  capabilities: ["text"],
  config: v.object({ url: v.string() }),
  create() {
    let url = "";
    return {
      start(ctx) {
        url = ctx.config.url;
      },
      async send(recipient, content) {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ to: recipient, text: content.text }),
        });
        return { messageId: String((await response.json()).id) };
      },
      stop() {},
    };
  },
});

async function run(variant) {
  let received = 0;
  let nextId = 1;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: nextId++ }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/messages`;
  const plugin = httpChannel.create();
  const controller = new AbortController();
  const noop = () => {};
  await plugin.initialize(
    { url },
    {
      channel: "bench",
      config: { url },
      emit: noop,
      setStatus: noop,
      signal: controller.signal,
      logger: { debug: noop, info: noop, warn: noop, error: noop },
    },
  );
  const dir = await mkdtemp(join(tmpdir(), "openclaw-bench-delivery-"));
  let delivered = 0;
  let allDelivered;
  const done = new Promise((resolve) => {
    allDelivered = resolve;
  });
  const queue =
    variant === "subject"
      ? await DeliveryQueue.open(dir, {
          logger: createLogger("silent"),
          config: () => ({
            maxAttempts: 10,
            backoffBaseMs: 1000,
            backoffMaxMs: 300_000,
            maxQueued: 1_000_000,
            maxDeadLetters: 1000,
          }),
          send: (record) => plugin.send(record.address, record.content, { idempotencyKey: record.id }),
          onSent: () => {
            if (++delivered === TOTAL) allDelivered();
          },
          onDead: () => {},
        })
      : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (queue === undefined) {
    // Bare: each address sends its messages one after another, all addresses at once.
    await Promise.all(
      Array.from({ length: ADDRESSES }, async (_, a) => {
        for (let i = 0; i < PER_ADDRESS; i++) await plugin.send(`chat-${a}`, { text: `m${i}` });
      }),
    );
  } else {
    // Subject: every message is enqueued at once; lanes keep each address's order.
    await Promise.all(
      Array.from({ length: TOTAL }, (_, n) =>
        queue.enqueue({ channel: "bench", address: `chat-${n % ADDRESSES}`, content: { text: `m${n}` } }),
      ),
    );
    await done;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (received !== TOTAL) throw new Error(`the platform received ${received} of ${TOTAL}`);
  await queue?.close();
  await plugin.destroy();
  server.close();
  await rm(dir, { recursive: true, force: true });
  return { messagesPerSec: TOTAL / seconds, cpuUsPerMessage: (cpu.user + cpu.system) / TOTAL };
}

const variants = { bare: () => run("bare"), subject: () => run("subject") };

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script: fileURLToPath(import.meta.url),
    cases: [`${ADDRESSES} addresses x ${PER_ADDRESS}`],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "messagesPerSec",
  });
  const ok = await report("delivery-queue", {
    title: `delivery-queue: ${TOTAL.toLocaleString("en-US")} sends to a fast fake platform, queued and persisted vs direct`,
    metric: "messagesPerSec",
    unit: "msgs/s",
    target: 0.5,
    rows,
    labels: { bare: "direct", subject: "queued" },
    notes: [
      "Direct: `plugin.send` for each message, 100 addresses in parallel, each address in order. Queued: `DeliveryQueue.enqueue` of every message at once (each stored with fsync before its first attempt, deleted after delivery, group-committed), delivered by the queue's per-address lanes. Both count the platform's answers; CPU µs per message is in the JSON.",
    ],
  });
  process.exit(ok ? 0 : 1);
}
