import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_FRAME_BYTES } from "./constants";
import { ProtocolError } from "./errors";
import { parseFrame } from "./parse";

const expectRejected = (input: string | Uint8Array, reason: string, code = "INVALID_FRAME") => {
  const result = parseFrame(input);
  expect(result.ok).toBe(false);
  if (result.ok) return result;
  expect(result.error).toBeInstanceOf(ProtocolError);
  expect(result.error.code).toBe(code);
  expect(result.error.details?.reason).toBe(reason);
  return result;
};

describe("parseFrame: the three frames of SPEC.md section 2", () => {
  it("parses a request, with and without target", () => {
    const req = {
      type: "req",
      id: "req-123",
      method: "message.send",
      data: { recipient: "@user", text: "Hello" },
    };
    expect(parseFrame(JSON.stringify(req))).toEqual({ ok: true, frame: req });
    const forwarded = {
      type: "req",
      id: "req-124",
      method: "agent.run",
      data: { input: "x" },
      target: "mobile-device-1",
    };
    expect(parseFrame(JSON.stringify(forwarded))).toEqual({ ok: true, frame: forwarded });
  });

  it("parses a response with data, and a failed one with error", () => {
    const ok = { type: "res", id: "req-123", data: { messageId: "msg-456" }, error: null };
    expect(parseFrame(JSON.stringify(ok))).toEqual({ ok: true, frame: ok });
    const failed = {
      type: "res",
      id: "req-123",
      data: null,
      error: { code: "NODE_OFFLINE", message: "gone", details: { reason: "x" } },
    };
    expect(parseFrame(JSON.stringify(failed))).toEqual({ ok: true, frame: failed });
  });

  it("fills data and error with null when a response omits them", () => {
    expect(parseFrame('{"type":"res","id":"a","data":1}')).toEqual({
      ok: true,
      frame: { type: "res", id: "a", data: 1, error: null },
    });
  });

  it("accepts a null id only on an error response", () => {
    expect(
      parseFrame('{"type":"res","id":null,"data":null,"error":{"code":"INVALID_FRAME","message":"bad"}}').ok,
    ).toBe(true);
    expect(parseFrame('{"type":"res","id":null,"data":1,"error":null}').ok).toBe(false);
  });

  it("rejects a response with both data and error", () => {
    expectRejected(
      '{"type":"res","id":"a","data":1,"error":{"code":"INTERNAL","message":"x"}}',
      "invalid_field",
    );
  });

  it("parses an event, with and without seq", () => {
    const event = { type: "event", event: "channel.message.received", data: { channel: "telegram" }, seq: 3 };
    expect(parseFrame(JSON.stringify(event))).toEqual({ ok: true, frame: event });
    expect(parseFrame('{"type":"event","event":"tick","data":{"ts":1}}').ok).toBe(true);
  });

  it("accepts bytes as well as text", () => {
    const bytes = new TextEncoder().encode('{"type":"req","id":"1","method":"ping"}');
    expect(parseFrame(bytes).ok).toBe(true);
    expect(parseFrame(bytes.buffer.slice(0)).ok).toBe(true);
  });

  it("strips unknown top-level keys", () => {
    const result = parseFrame('{"type":"req","id":"1","method":"ping","extra":true}');
    expect(result).toEqual({ ok: true, frame: { type: "req", id: "1", method: "ping" } });
  });
});

describe("parseFrame: hostile input", () => {
  it("rejects invalid JSON", () => {
    expectRejected("{", "invalid_json");
    expectRejected('{"type":"req",', "invalid_json");
    expectRejected("", "invalid_json");
    expectRejected("\u0000\u0001", "invalid_json");
  });

  it("rejects JSON that is not an object", () => {
    for (const text of ["null", "1", '"req"', "[]", '[{"type":"req"}]', "true"])
      expectRejected(text, "not_an_object");
  });

  it("rejects an unknown or missing frame type", () => {
    expectRejected('{"type":"request","id":"1","method":"ping"}', "unknown_type");
    expectRejected('{"id":"1","method":"ping"}', "unknown_type");
    expectRejected('{"type":5}', "unknown_type");
  });

  it("rejects a request or response without id, keeping no id", () => {
    const result = expectRejected('{"type":"req","method":"ping"}', "missing_id");
    expect(result.ok === false && result.id).toBeNull();
    expectRejected('{"type":"res","data":1}', "missing_id");
  });

  it("reports the id of an otherwise invalid frame so the error can answer it", () => {
    const result = expectRejected('{"type":"req","id":"req-9","method":42}', "invalid_field");
    expect(result.ok === false && result.id).toBe("req-9");
    expect(result.ok === false && result.error.details?.issues?.[0]?.path).toBe("method");
  });

  it("rejects wrong field types", () => {
    expectRejected('{"type":"req","id":7,"method":"ping"}', "invalid_field");
    expectRejected('{"type":"req","id":"1","method":"ping","target":{}}', "invalid_field");
    expectRejected('{"type":"event","event":"tick","seq":-1}', "invalid_field");
    expectRejected('{"type":"event","event":"tick","seq":1.5}', "invalid_field");
    expectRejected('{"type":"res","id":"1","data":null,"error":"boom"}', "invalid_field");
  });

  it("rejects huge ids and names", () => {
    const result = expectRejected(
      JSON.stringify({ type: "req", id: "x".repeat(10_000), method: "ping" }),
      "invalid_field",
    );
    expect(result.ok === false && result.id).toBeNull();
    expectRejected(JSON.stringify({ type: "req", id: "1", method: `a${"b".repeat(500)}` }), "invalid_field");
    expectRejected(JSON.stringify({ type: "req", id: "1", method: "Not A Method" }), "invalid_field");
  });

  it("rejects huge numbers where integers are expected, and survives them elsewhere", () => {
    expectRejected('{"type":"event","event":"tick","seq":1e400}', "invalid_field");
    expect(parseFrame('{"type":"req","id":"1","method":"ping","data":{"ts":1e400}}').ok).toBe(true);
  });

  it("rejects __proto__ keys at any depth, however they are spelled", () => {
    expectRejected('{"type":"req","id":"1","method":"ping","__proto__":{"admin":true}}', "forbidden_key");
    expectRejected(
      '{"type":"req","id":"1","method":"ping","data":{"a":[{"__proto__":{"x":1}}]}}',
      "forbidden_key",
    );
    expectRejected(
      '{"type":"req","id":"1","method":"ping","data":{"\\u005f_proto__":{"x":1}}}',
      "forbidden_key",
    );
    expectRejected(
      '{"type":"req","id":"1","method":"ping","data":{"constructor":{"prototype":{"x":1}}}}',
      "forbidden_key",
    );
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("accepts the words __proto__ and prototype inside string values", () => {
    const result = parseFrame(
      JSON.stringify({
        type: "req",
        id: "1",
        method: "message.send",
        data: { text: "what is __proto__ and prototype? \u00e9" },
      }),
    );
    expect(result.ok).toBe(true);
  });

  it("rejects nesting deeper than the limit, and accepts it up to the limit", () => {
    const nest = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    expectRejected(`{"type":"req","id":"1","method":"ping","data":${nest(100)}}`, "too_deep");
    expectRejected(`{"type":"req","id":"1","method":"ping","data":${nest(100_000)}}`, "too_deep");
    expect(parseFrame(`{"type":"req","id":"1","method":"ping","data":${nest(63)}}`).ok).toBe(true);
    expect(parseFrame(`{"type":"req","id":"1","method":"ping","data":${nest(10)}}`, { maxDepth: 5 }).ok).toBe(
      false,
    );
  });

  it("rejects frames over the size limit with PAYLOAD_TOO_LARGE", () => {
    const big = JSON.stringify({
      type: "req",
      id: "1",
      method: "message.send",
      data: { text: "x".repeat(10 * 1024 * 1024) },
    });
    expectRejected(big, "too_large", "PAYLOAD_TOO_LARGE");
    expectRejected(new TextEncoder().encode(big), "too_large", "PAYLOAD_TOO_LARGE");
    expect(
      parseFrame(JSON.stringify({ type: "req", id: "1", method: "ping", data: "x".repeat(200) }), {
        maxBytes: 100,
      }).ok,
    ).toBe(false);
  });

  it("counts the size in UTF-8 bytes, not characters", () => {
    // 400k three-byte characters: 400k UTF-16 units but 1.2 MB of UTF-8.
    const text = JSON.stringify({ type: "event", event: "tick", data: "\u20ac".repeat(400_000) });
    expect(text.length).toBeLessThan(DEFAULT_MAX_FRAME_BYTES);
    expectRejected(text, "too_large", "PAYLOAD_TOO_LARGE");
    const emoji = JSON.stringify({ type: "event", event: "tick", data: "\u{1F600}".repeat(100) });
    expect(parseFrame(emoji, { maxBytes: 300 }).ok).toBe(false);
    expect(parseFrame(emoji, { maxBytes: 500 }).ok).toBe(true);
  });

  it("rejects bytes that are not UTF-8", () => {
    expectRejected(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "invalid_utf8");
  });

  it("never throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        const result = parseFrame(text);
        if (!result.ok) expect(result.error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const result = parseFrame(bytes);
        if (!result.ok) expect(result.error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on arbitrary JSON values, and accepts only well-formed frames", () => {
    const frameLike = fc.record(
      {
        type: fc.constantFrom("req", "res", "event", "other"),
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        method: fc.oneof(fc.constantFrom("ping", "message.send"), fc.string()),
        event: fc.string(),
        data: fc.jsonValue(),
        error: fc.oneof(fc.constant(null), fc.jsonValue()),
        seq: fc.oneof(fc.integer(), fc.double()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(frameLike, fc.jsonValue()), (value) => {
        const result = parseFrame(JSON.stringify(value) ?? "undefined");
        if (result.ok) expect(["req", "res", "event"]).toContain(result.frame.type);
        else expect(result.error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 3000 },
    );
  });

  it("never lets a parsed frame pollute Object.prototype", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify({
          type: "req",
          id: "1",
          method: "ping",
          data: { __proto__: value, value },
        });
        parseFrame(text.replace('"value"', '"__proto__"'));
        expect(Object.keys(Object.prototype)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
