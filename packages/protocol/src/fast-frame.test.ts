import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { readFrameFast } from "./fast-frame";
import { FrameSchema } from "./frames";

/** Values near every boundary the frame schemas check. */
const edgyString = fc.oneof(
  fc.constantFrom(
    "",
    "a",
    "ping",
    "message.send",
    "Message.send",
    "a.b.c",
    "a..b",
    "a.",
    "1abc",
    "x".repeat(128),
    "x".repeat(129),
    "__proto__",
  ),
  fc.string({ maxLength: 140 }),
);
const edgyValue = fc.oneof(
  edgyString,
  fc.constantFrom(
    null,
    undefined,
    0,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    true,
    [],
    {},
  ),
  fc.integer(),
  fc.jsonValue({ maxDepth: 2 }),
);
const errorLike = fc.oneof(
  fc.constant(null),
  fc.record({ code: edgyValue, message: edgyValue, details: edgyValue }, { requiredKeys: [] }),
  edgyValue,
);
const frameLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom("req", "res", "event"), edgyValue),
    id: edgyValue,
    method: edgyValue,
    event: edgyValue,
    target: edgyValue,
    traceparent: fc.oneof(
      edgyValue,
      fc.constantFrom(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
      ),
    ),
    data: edgyValue,
    seq: edgyValue,
    error: errorLike,
    extra: edgyValue,
  },
  { requiredKeys: [] },
);

describe("readFrameFast", () => {
  it("accepts exactly what FrameSchema accepts, with the same output", () => {
    fc.assert(
      fc.property(frameLike, (value) => {
        const fast = readFrameFast(value as Record<string, unknown>);
        const slow = v.safeParse(FrameSchema, value);
        expect(fast !== undefined).toBe(slow.success);
        if (slow.success) expect(fast).toStrictEqual(slow.output);
      }),
      { numRuns: 20_000 },
    );
  });

  it("agrees on hand-picked boundary frames", () => {
    const cases: Array<Record<string, unknown>> = [
      { type: "req", id: "1", method: "ping" },
      { type: "req", id: "1", method: "ping", data: null, target: "node" },
      { type: "req", id: "1", method: "ping", target: "" },
      { type: "res", id: "1" },
      { type: "res", id: null },
      { type: "res", id: null, error: { code: "X", message: "" } },
      { type: "res", id: "1", data: 0, error: { code: "X", message: "m" } },
      { type: "res", id: "1", data: null, error: { code: "X", message: "m", details: undefined } },
      { type: "res", id: "1", error: [] },
      { type: "event", event: "tick", seq: 0 },
      { type: "event", event: "tick", seq: -0 },
      { type: "event", event: "tick", seq: 2 ** 53 },
    ];
    for (const value of cases) {
      const slow = v.safeParse(FrameSchema, value);
      const fast = readFrameFast(value);
      expect(fast !== undefined, JSON.stringify(value)).toBe(slow.success);
      if (slow.success) expect(fast).toStrictEqual(slow.output);
    }
  });
});
