import { createParser } from "eventsource-parser";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OpenAiError } from "../src/openai/errors";
import { eventData, UpstreamEvents } from "../src/openai/UpstreamEvents";

const chunk = (content: string, finish: string | null = null) =>
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { content }, finish_reason: finish }],
  });

/** What a proxy must pass on, by the reference parser: the data of each event before [DONE]. */
function reference(stream: string): { datas: string[]; done: boolean; error: boolean } {
  const datas: string[] = [];
  let done = false;
  let error = false;
  const parser = createParser({
    onEvent: (event) => {
      if (done || error) return;
      if (event.data === "[DONE]") done = true;
      else if (event.event === "error") error = true;
      else if (
        event.data.includes('"error"') &&
        (JSON.parse(event.data) as { error?: unknown }).error != null
      )
        error = true;
      else datas.push(event.data);
    },
  });
  parser.feed(stream);
  return { datas, done, error };
}

/** The stream fed in pieces cut at `cuts` (byte offsets), as a proxy reads it. */
function run(stream: string, cuts: number[], maxEventChars = 1 << 20) {
  const bytes = Buffer.from(stream);
  const events = new UpstreamEvents(maxEventChars);
  const out: Array<Buffer | string> = [];
  let error = false;
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (events.done || error) break;
    const batch = events.push(bytes.subarray(from, cut));
    from = cut;
    if (batch.events.length > 0) out.push(batch.events);
    if (batch.failure !== undefined) error = true;
  }
  const framed = out.map((part) => (typeof part === "string" ? part : part.toString("utf8"))).join("");
  return { framed, datas: eventData(framed), done: events.done, finished: events.finished, error };
}

const event = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.string({ unit: "grapheme", maxLength: 6 }).map((text) => `data: ${chunk(text)}\n\n`),
  },
  { weight: 1, arbitrary: fc.constant(`data: ${chunk("", "stop")}\n\n`) },
  { weight: 1, arbitrary: fc.constant(`data:${chunk("no space")}\n\n`) },
  { weight: 1, arbitrary: fc.constant(": keep-alive\n\n") },
  { weight: 1, arbitrary: fc.constant(`id: 7\ndata: ${chunk("with id")}\n\n`) },
  { weight: 1, arbitrary: fc.constant('data: {"a":1,\ndata: "b":2}\n\n') },
  { weight: 1, arbitrary: fc.constant(`data: ${chunk('the "error" word')}\n\n`) },
  { weight: 1, arbitrary: fc.constant(`data: ${chunk("error")}\n\n`) },
  { weight: 1, arbitrary: fc.constant('data: {"error":{"message":"boom","code":"x"}}\n\n') },
  { weight: 1, arbitrary: fc.constant('event: error\ndata: {"error":{"message":"boom"}}\n\n') },
  { weight: 1, arbitrary: fc.constant("data: [DONE]\n\n") },
);

describe("UpstreamEvents", () => {
  it("passes on what eventsource-parser reads, however the stream is cut into reads (CRLF too)", () => {
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 12 }),
        fc.array(fc.nat({ max: 3000 }), { maxLength: 8 }),
        fc.boolean(),
        (events, cuts, crlf) => {
          const stream = crlf ? events.join("").replaceAll("\n", "\r\n") : events.join("");
          const expected = reference(stream);
          const got = run(stream, cuts);
          expect(got.error).toBe(expected.error);
          expect(got.done).toBe(expected.done && !expected.error);
          expect(got.datas).toEqual(expected.datas);
          // What is passed on is itself a valid event stream with the same data.
          expect(reference(got.framed).datas).toEqual(expected.datas);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("passes the upstream's own bytes on, without a copy, when they need no change", () => {
    const stream = Buffer.from(`data: ${chunk("a")}\n\ndata: ${chunk("b", "stop")}\n\ndata: [DONE]\n\n`);
    const events = new UpstreamEvents(1 << 20);
    const batch = events.push(stream);
    expect(Buffer.isBuffer(batch.events)).toBe(true);
    expect((batch.events as Buffer).buffer).toBe(stream.buffer);
    expect(batch.events.toString()).toBe(`data: ${chunk("a")}\n\ndata: ${chunk("b", "stop")}\n\n`);
    expect(events.done).toBe(true);
  });

  it("knows a finish reason however it is spaced, and that a stream without one is cut short", () => {
    const spaced = new UpstreamEvents(1 << 20);
    spaced.push(Buffer.from('data: {"choices":[{"finish_reason" : "length"}]}\n\n'));
    expect(spaced.finished).toBe(true);
    const open = new UpstreamEvents(1 << 20);
    open.push(Buffer.from(`data: ${chunk("a")}\n\n`));
    expect(open.finished).toBe(false);
  });

  it("refuses an event over maxEventChars with a 502, whole or in pieces", () => {
    const events = new UpstreamEvents(100);
    events.push(Buffer.from(`data: ${"x".repeat(60)}`));
    expect(() => events.push(Buffer.from("y".repeat(60)))).toThrow(
      expect.objectContaining({ status: 502, code: "upstream_too_large" }) as unknown as OpenAiError,
    );
    const crlf = new UpstreamEvents(100);
    crlf.push(Buffer.from("data: a\r\n\r\n"));
    expect(() => crlf.push(Buffer.from(`data: ${"x".repeat(200)}`))).toThrow(OpenAiError);
  });
});
