import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ERROR_CODES, parseFrame } from "@openclaw/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type Harness, RawSocket, startGateway, TOKEN } from "./harness";

/** Generated inputs over WebSocket and HTTP; FUZZ_RUNS scales the WebSocket part. */
const WS_INPUTS = Number(process.env.FUZZ_RUNS ?? 95_000);
const HTTP_INPUTS = 5000;
const BATCH = 1000;
const KNOWN_CODES = new Set<string>(ERROR_CODES);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Hostile text frames: random text, truncated or deeply nested JSON, wrong types, huge numbers, near-valid frames. */
const validReq = fc.record({
  type: fc.constant("req"),
  id: fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.constant(null)),
  method: fc.oneof(
    fc.constantFrom(
      "ping",
      "message.send",
      "system.status",
      "node.invoke",
      "config.apply",
      "binding.add",
      "task.schedule",
      "connect",
      "delivery.retry",
    ),
    fc.string({ maxLength: 30 }),
  ),
  data: fc.anything({ maxDepth: 4 }),
  target: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
});
const hostileText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 100 }),
  fc.json({ maxDepth: 6 }),
  validReq.map((frame) => JSON.stringify(frame)),
  validReq.map((frame) => JSON.stringify(frame)).map((text) => text.slice(0, Math.max(1, text.length - 3))),
  fc.integer({ min: 1, max: 3000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.integer({ min: 1, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
  fc.constantFrom(
    '{"type":"req","id":"x","method":"ping","data":{"ts":1e400}}',
    '{"type":"req","id":1e999}',
    "null",
    "[]",
    '"req"',
    "true",
    "{}",
    '{"type":"event"}',
    '{"type":"res","id":"x"}',
  ),
  fc
    .record({ type: fc.constantFrom("req", "res", "event", "REQ", ""), id: fc.anything({ maxDepth: 1 }) })
    .map((f) => JSON.stringify(f)),
);

let h: Harness;
beforeAll(async () => {
  h = await startGateway({
    config: { security: { rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 } } },
  });
});
afterAll(async () => {
  await h.stop();
});

describe(`fuzzing the gateway with ${WS_INPUTS + HTTP_INPUTS} generated hostile inputs`, () => {
  it("answers every hostile WebSocket frame with a typed error (or nothing, for events), never crashing or leaking", async () => {
    const socket = await RawSocket.open(h.url);
    await socket.connect({ token: TOKEN });
    const inputs = fc.sample(hostileText, { numRuns: WS_INPUTS, seed: 42 });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let expected = 0;
    for (let start = 0; start < inputs.length; start += BATCH) {
      socket.frames.length = 0;
      let batchExpected = 0;
      for (const text of inputs.slice(start, start + BATCH)) {
        const parsed = parseFrame(text);
        // Events and stray responses from an operator get no answer; everything else gets exactly one.
        if (!(parsed.ok && (parsed.frame.type === "event" || parsed.frame.type === "res"))) batchExpected++;
        socket.send(text);
      }
      socket.send({ type: "req", id: `barrier-${start}`, method: "ping" });
      await socket.response(`barrier-${start}`);
      const answers = socket.frames.filter((f) => f.type === "res" && f.id !== `barrier-${start}`);
      expect(answers.length, `answers in batch at ${start}`).toBe(batchExpected);
      for (const answer of answers) {
        const error = answer.error as { code?: string } | null;
        if (error !== null) expect(KNOWN_CODES.has(error.code ?? ""), JSON.stringify(answer)).toBe(true);
      }
      expected += batchExpected;
    }
    expect(socket.closed).toBeUndefined();
    socket.frames.length = 0;
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    // The gateway keeps nothing per bad frame: the heap may wobble, not grow with the input count.
    expect(heapGrowth, `heap grew ${Math.round(heapGrowth / 1024)} KB`).toBeLessThan(32 * 1024 * 1024);
    expect(expected).toBeGreaterThan(WS_INPUTS * 0.8);
    socket.ws.terminate();
  }, 240_000);

  it("closes oversize frames with 1009 and refuses binary frames with a typed error", async () => {
    const big = await RawSocket.open(h.url);
    await big.connect({ token: TOKEN });
    big.send(
      JSON.stringify({ type: "req", id: "big", method: "ping", data: { pad: "x".repeat(2 * 1024 * 1024) } }),
    );
    await expect.poll(() => big.closed?.code, { timeout: 5000 }).toBe(1009);
    const binary = await RawSocket.open(h.url);
    await binary.connect({ token: TOKEN });
    for (let i = 0; i < 100; i++)
      binary.ws.send(Buffer.from(fc.sample(fc.uint8Array({ maxLength: 64 }), { numRuns: 1, seed: i })[0]!));
    binary.send({ type: "req", id: "after", method: "ping" });
    await binary.response("after");
    const errors = binary.frames.filter((f) => f.type === "res" && f.id !== "after" && f.id !== "hello");
    expect(errors).toHaveLength(100);
    for (const e of errors)
      expect(e.error).toMatchObject({ code: "INVALID_FRAME", details: { reason: "binary_frame" } });
    binary.ws.terminate();
  });

  it("answers hostile HTTP requests with JSON 4xx (never 5xx), and keeps serving", async () => {
    const bodies = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.json({ maxDepth: 5 }),
        fc
          .record({
            model: fc.oneof(fc.constant("echo"), fc.string({ maxLength: 10 }), fc.anything({ maxDepth: 1 })),
            messages: fc.oneof(
              fc.anything({ maxDepth: 3 }),
              fc.array(
                fc.record({
                  role: fc.constantFrom("user", "system", "x"),
                  content: fc.anything({ maxDepth: 2 }),
                }),
                { maxLength: 3 },
              ),
            ),
            stream: fc.anything({ maxDepth: 1 }),
          })
          .map((b) => JSON.stringify(b)),
      ),
      { numRuns: HTTP_INPUTS, seed: 7 },
    );
    const targets = [
      "/v1/chat/completions",
      "/webhook/test",
      "/webhook/nope",
      "/v1/models",
      "/ui/x",
      "/%2e%2e/etc",
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < bodies.length; i += 50) {
      await Promise.all(
        bodies.slice(i, i + 50).map(async (body, j) => {
          const path = targets[(i + j) % targets.length]!;
          const response = await fetch(`${h.http}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            body,
          });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const text = await response.text();
          expect(response.status, `${path} ${body.slice(0, 80)} → ${text.slice(0, 200)}`).toBeLessThan(500);
          if (response.status >= 400) expect(JSON.parse(text).error.code).toBeTypeOf("string");
        }),
      );
    }
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
    expect((await fetch(`${h.http}/health`)).status).toBe(200);
    const after = new WebSocket(h.url);
    await new Promise((resolve) => after.once("open", resolve));
    after.close();
  }, 120_000);
});
