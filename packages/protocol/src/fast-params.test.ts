import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { FAST_PARAMS } from "./fast-params";
import { METHODS, type MethodName } from "./methods";

const edgyString = fc.oneof(
  fc.constantFrom(
    "",
    "a",
    "telegram",
    "Telegram",
    "tele gram",
    "-x",
    "x".repeat(64),
    "x".repeat(65),
    "x".repeat(128),
    "x".repeat(129),
    "x".repeat(200),
    "x".repeat(201),
    "x".repeat(512),
    "x".repeat(513),
  ),
  fc.string({ maxLength: 20 }),
);
const edgyValue = fc.oneof(
  edgyString,
  fc.constantFrom(undefined, null, 0, -1, 1.5, 2 ** 53, Number.NaN, true, [], {}),
  fc.integer(),
  fc.jsonValue({ maxDepth: 1 }),
);

/** Checks that the fast path accepts only what the schema accepts, with the schema's exact output. */
function agreesWithSchema(method: MethodName, data: unknown): void {
  const fast = (FAST_PARAMS[method] as (d: unknown) => unknown)(data);
  const slow = v.safeParse(METHODS[method].params, data);
  if (fast !== undefined) {
    expect(slow.success, JSON.stringify(data)).toBe(true);
    if (slow.success) expect(fast).toStrictEqual(slow.output);
  }
}

describe("FAST_PARAMS agree with the method schemas", () => {
  it("message.send", () => {
    const keys = ["recipient", "channel", "text", "replyTo", "idempotencyKey", "content", "extra"] as const;
    // Valid objects, and valid objects with exactly one field replaced by an edge value: the
    // shapes where a fast path and a schema are most likely to disagree.
    const valid = fc.record(
      {
        recipient: fc.string({ minLength: 1, maxLength: 30 }),
        text: fc.string({ minLength: 1, maxLength: 30 }),
        channel: fc.constantFrom("telegram", "a", "x-y_1"),
        replyTo: fc.string({ minLength: 1, maxLength: 10 }),
        idempotencyKey: fc.string({ minLength: 1, maxLength: 10 }),
      },
      { requiredKeys: ["recipient", "text"] },
    );
    const oneOff = fc
      .tuple(valid, fc.constantFrom(...keys), edgyValue)
      .map(([object, key, value]) => ({ ...object, [key]: value }));
    fc.assert(
      fc.property(fc.oneof(valid, oneOff, oneOff, edgyValue), (data) =>
        agreesWithSchema("message.send", data),
      ),
      { numRuns: 20_000 },
    );
  });

  it("ping", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.record({ ts: edgyValue, other: edgyValue }, { requiredKeys: [] }), edgyValue),
        (data) => agreesWithSchema("ping", data),
      ),
      { numRuns: 5_000 },
    );
  });

  it("take the common shapes (so the fast path is actually used)", () => {
    expect(
      FAST_PARAMS["message.send"]!({
        recipient: "alice",
        channel: "telegram",
        text: "hi",
        idempotencyKey: "k-1",
      }),
    ).toEqual({ recipient: "alice", channel: "telegram", text: "hi", idempotencyKey: "k-1" });
    expect(FAST_PARAMS.ping!({ ts: 5 })).toEqual({ ts: 5 });
    expect(FAST_PARAMS.ping!(undefined)).toEqual({});
  });
});
