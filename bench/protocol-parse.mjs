// Benchmark: parseFrame + params validation (subject) versus bare JSON.parse (baseline) on the
// same realistic mix of frames. Target: subject ≥ 0.5x bare frames/s.
import { fileURLToPath } from "node:url";
import { parseFrame, parseParams } from "@openclaw/protocol";
import { compare, report, worker } from "./lib/harness.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);

function frames(kind) {
  const now = Date.now();
  const make = {
    ping: (i) => ({ type: "req", id: `req-${i}`, method: "ping", data: { ts: now } }),
    send: (i) => ({
      type: "req",
      id: `req-${i}`,
      method: "message.send",
      data: {
        recipient: "alice",
        channel: "telegram",
        text: `hello number ${i}, how are you today?`,
        idempotencyKey: `k-${i}`,
      },
    }),
    event: (i) => ({
      type: "event",
      event: "channel.message.received",
      seq: i,
      data: {
        channel: "telegram",
        message: {
          id: `tg-${i}`,
          channel: "telegram",
          conversationId: "12345",
          peerId: "12345",
          sender: { id: "12345", name: "Alice", username: "alice" },
          text: "a message from a user with a few words in it",
          timestamp: now,
          raw: { update_id: i, message: { message_id: i, chat: { id: 12345, type: "private" } } },
        },
      },
    }),
    res: (i) => ({
      type: "res",
      id: `req-${i}`,
      data: { messageId: `m-${i}`, channel: "telegram", address: "12345" },
      error: null,
    }),
  };
  const kinds = kind === "mix" ? ["ping", "send", "event", "res"] : [kind];
  return Array.from({ length: 1024 }, (_, i) => JSON.stringify(make[kinds[i % kinds.length]](i)));
}

function measure(texts, consume) {
  let sink = 0;
  // warm-up
  for (let i = 0; i < 20_000; i++) sink += consume(texts[i & 1023]);
  globalThis.gc?.();
  let count = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(DURATION_MS) * 1_000_000n;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 1024; i++) sink += consume(texts[i]);
    count += 1024;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage();
  return { framesPerSec: count / seconds, cpuUsPerFrame: (cpu.user + cpu.system) / count, sink: sink % 7 };
}

const variants = {
  bare: (kind) => measure(frames(kind), (text) => (JSON.parse(text).type === "req" ? 1 : 0)),
  subject: (kind) =>
    measure(frames(kind), (text) => {
      const parsed = parseFrame(text);
      if (!parsed.ok) throw parsed.error;
      if (parsed.frame.type !== "req") return 0;
      const params = parseParams(parsed.frame.method, parsed.frame.data);
      if (!params.ok) throw params.error;
      return 1;
    }),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script: fileURLToPath(import.meta.url),
    cases: ["ping", "send", "event", "res", "mix"],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "framesPerSec",
  });
  const ok = await report("protocol-parse", {
    title: "protocol: parseFrame + validation vs bare JSON.parse",
    metric: "framesPerSec",
    unit: "frames/s",
    target: 0.5,
    rows,
    notes: [
      "Subject: `parseFrame` (size, UTF-8, JSON, depth and forbidden-key guards, frame schema) plus `parseParams` for requests. Bare: `JSON.parse` only.",
    ],
  });
  if (!ok) process.exitCode = 1;
}
