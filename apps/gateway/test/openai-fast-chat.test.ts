import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { fastChatRequest } from "../src/openai/fast-chat";
import { ChatRequestSchema } from "../src/openai/params";

const edgyValue = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    "",
    "gpt",
    "user",
    "tool",
    "robot",
    0,
    -1,
    0.5,
    1,
    1.5,
    2,
    2.5,
    128,
    2 ** 53,
    -(2 ** 53),
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    false,
    [],
    {},
    { include_usage: true },
    { include_usage: "yes" },
    { include_usage: true, other: 1 },
    [{ role: "user", content: "hi" }],
    [{ type: "text", text: "hi" }],
  ),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 1 }),
);

const message = fc.record(
  {
    role: fc.constantFrom("system", "developer", "user", "assistant", "tool", "function"),
    content: fc.oneof(fc.string({ maxLength: 12 }), fc.constant(null)),
    name: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: ["role"] },
);
const messageKeys = ["role", "content", "name", "tool_calls", "tool_call_id", "extra"] as const;
const oddMessage = fc
  .tuple(message, fc.constantFrom(...messageKeys), edgyValue)
  .map(([object, key, value]) => ({ ...object, [key]: value }));

const request = fc.record(
  {
    model: fc.string({ minLength: 1, maxLength: 8 }),
    messages: fc.array(fc.oneof(message, message, oddMessage), { minLength: 1, maxLength: 4 }),
    stream: fc.boolean(),
    stream_options: fc.oneof(
      fc.constant(null),
      fc.record({ include_usage: fc.boolean() }, { requiredKeys: [] }),
    ),
    temperature: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constant(null)),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    max_tokens: fc.integer({ min: 1 }),
    max_completion_tokens: fc.oneof(fc.integer({ min: 1 }), fc.constant(null)),
    user: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: ["model", "messages"] },
);
const requestKeys = [
  "model",
  "messages",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "max_tokens",
  "max_completion_tokens",
  "user",
  "n",
  "tools",
  "stop",
  "__proto__",
] as const;
const oddRequest = fc
  .tuple(request, fc.constantFrom(...requestKeys), edgyValue)
  .map(([object, key, value]) => Object.defineProperty({ ...object }, key, { value, enumerable: true }));

/** The fast path accepts only what the schema accepts, and returns the schema's output for it. */
function agreesWithSchema(body: unknown): void {
  const fast = fastChatRequest(body);
  if (fast === undefined) return;
  const slow = v.safeParse(ChatRequestSchema, body);
  expect(slow.success, JSON.stringify(body)).toBe(true);
  if (slow.success) expect(fast).toStrictEqual(slow.output);
}

describe("fastChatRequest agrees with ChatRequestSchema", () => {
  it("on requests, requests with one field replaced by an edge value, and odd bodies", () => {
    fc.assert(fc.property(fc.oneof(request, oddRequest, oddRequest, edgyValue), agreesWithSchema), {
      numRuns: 20_000,
    });
  });

  it("on the same through JSON (what the route parses)", () => {
    fc.assert(
      fc.property(fc.oneof(request, oddRequest), (body) => {
        const text = JSON.stringify(body);
        if (text !== undefined) agreesWithSchema(JSON.parse(text));
      }),
      { numRuns: 5_000 },
    );
  });

  it("takes the common shapes (so the fast path is actually used)", () => {
    const common = [
      { model: "gpt", messages: [{ role: "user", content: "hi" }] },
      {
        model: "gpt",
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "hi", name: "ann" },
          { role: "assistant", content: null },
        ],
        temperature: 0.2,
        top_p: 1,
        max_tokens: 100,
        max_completion_tokens: null,
        user: "u1",
      },
    ];
    for (const body of common) expect(fastChatRequest(body)).toBe(body);
    const others = [
      { model: "gpt", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] },
      { model: "gpt", messages: [{ role: "user", content: "hi" }], tools: [] },
      { model: "gpt", messages: [{ role: "user", content: "hi" }], temperature: 5 },
      { model: "gpt", messages: [] },
    ];
    for (const body of others) expect(fastChatRequest(body)).toBeUndefined();
  });
});
