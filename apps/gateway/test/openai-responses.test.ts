import { InMemoryResponseStore, type StoredResponse } from "@openclaw/backend";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeOpenAiUpstream } from "../src/openai/testing";
import { type Harness, startGateway, TOKEN } from "./harness";

let h: Harness;
let upstream: FakeOpenAiUpstream;

beforeEach(async () => {
  upstream = await FakeOpenAiUpstream.start();
  h = await startGateway({
    config: {
      openai: { responses: { maxStored: 2, ttlMs: 60_000 } },
      agents: {
        default: "gpt",
        list: { gpt: { provider: "openai", baseUrl: upstream.url, model: "fake-1" } },
      },
    },
  });
});
afterEach(async () => {
  await h.stop();
  await upstream.close();
});

const openai = () => new OpenAI({ baseURL: `${h.http}/v1`, apiKey: TOKEN, maxRetries: 0 });
const weather: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

describe("POST /v1/responses", () => {
  it("answers plain text with instructions, usage, and continues with previous_response_id", async () => {
    const first = await openai().responses.create({
      model: "gpt",
      instructions: "be brief",
      input: "hello there",
    });
    expect(first).toMatchObject({
      object: "response",
      status: "completed",
      model: "gpt",
      instructions: "be brief",
    });
    expect(first.output_text).toBe("You said: hello there");
    expect(first.usage).toMatchObject({ input_tokens: 4, output_tokens: 4, total_tokens: 8 });
    expect(upstream.lastBody).toMatchObject({
      model: "fake-1",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
    });
    const second = await openai().responses.create({
      model: "gpt",
      input: [{ role: "user", content: [{ type: "input_text", text: "and again" }] }],
      previous_response_id: first.id,
    });
    expect(second.previous_response_id).toBe(first.id);
    // Instructions do not carry over; the conversation does.
    expect(upstream.lastBody?.messages).toEqual([
      { role: "user", content: "hello there" },
      { role: "assistant", content: "You said: hello there" },
      { role: "user", content: [{ type: "text", text: "and again" }] },
    ]);
    expect(await openai().responses.retrieve(second.id)).toMatchObject({
      id: second.id,
      status: "completed",
    });
  });

  it("streams every event in order with sequence numbers, through responses.stream", async () => {
    const stream = openai().responses.stream({
      model: "gpt",
      input: "one two",
      max_output_tokens: 50,
      temperature: 0.5,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    expect(final.status).toBe("completed");
    expect(final.output).toMatchObject([
      {
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: "You said: one two" }],
      },
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = [...new Set(events.map((e) => e.type))];
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(upstream.lastBody).toMatchObject({ temperature: 0.5, max_completion_tokens: 50, stream: true });
  });

  it("round-trips a function call: streamed call items, then function_call_output", async () => {
    const stream = openai().responses.stream({ model: "gpt", input: "weather in Paris?", tools: [weather] });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const asked = await stream.finalResponse();
    expect(types).toEqual(
      expect.arrayContaining([
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
      ]),
    );
    const call = asked.output.find((item) => item.type === "function_call");
    expect(call).toMatchObject({
      type: "function_call",
      call_id: "call_1",
      name: "get_weather",
      arguments: '{"city":"Paris"}',
    });
    expect(upstream.lastBody?.tools).toEqual([
      {
        type: "function",
        function: {
          name: "get_weather",
          description: weather.description,
          parameters: weather.parameters,
          strict: false,
        },
      },
    ]);
    const answered = await openai().responses.create({
      model: "gpt",
      previous_response_id: asked.id,
      tools: [weather],
      input: [{ type: "function_call_output", call_id: "call_1", output: "sunny" }],
    });
    expect(answered.output_text).toBe("The weather is sunny.");
    expect((upstream.lastBody!.messages as unknown[]).slice(-2)).toEqual([
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ]);
  });

  it("ends a stream that fails mid-way with response.failed, and refuses bad input with 400s naming the parameter", async () => {
    const stream = openai().responses.stream({ model: "gpt", input: "error midway" });
    const types: string[] = [];
    const failure = await (async () => {
      for await (const event of stream) types.push(event.type);
    })().catch((error: unknown) => error);
    expect(types.at(-1)).toBe("response.failed");
    expect(types).not.toContain("response.completed");
    // The error event that follows makes the client throw.
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    await expect(stream.finalResponse()).rejects.toBeInstanceOf(Error);
    for (const [fields, param] of [
      [{ temperature: 3 }, "temperature"],
      [{ tools: [{ type: "web_search" }] }, "tools[0].type"],
      [{ previous_response_id: "resp_nope" }, "previous_response_id"],
    ] as const) {
      const refused = await openai()
        .responses.create({ model: "gpt", input: "x", ...fields } as never)
        .catch((error: unknown) => error);
      expect(refused, param).toMatchObject({ param });
    }
    const missing = await openai()
      .responses.retrieve("resp_nope")
      .catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("keeps at most openai.responses.maxStored responses", async () => {
    const ids: string[] = [];
    for (const input of ["a", "b", "c"])
      ids.push((await openai().responses.create({ model: "gpt", input })).id);
    await expect(openai().responses.retrieve(ids[0]!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(openai().responses.retrieve(ids[2]!)).resolves.toMatchObject({ id: ids[2] });
    const unstored = await openai().responses.create({ model: "gpt", input: "d", store: false });
    await expect(openai().responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("InMemoryResponseStore", () => {
  const entry = (text: string, items: string[] = []): StoredResponse => ({
    response: JSON.stringify({ text }),
    messages: "[]",
    items,
  });

  it("drops entries past their TTL and the oldest beyond maxStored", async () => {
    let now = 1000;
    const limits = {
      maxStored: 2,
      ttlMs: 100,
      maxStoredBytes: 1_000_000,
      maxStoredBytesPerPrincipal: 1_000_000,
    };
    const store = new InMemoryResponseStore(
      () => limits,
      () => now,
    );
    store.set("p", "a", entry("A", ["item-a"]));
    now += 60;
    store.set("p", "b", entry("B"));
    expect(await store.get("p", "a")).toEqual(entry("A", ["item-a"]));
    expect(await store.findItem("p", "item-a")).toBe("a");
    expect(await store.get("q", "a")).toBeUndefined();
    expect(await store.findItem("q", "item-a")).toBeUndefined();
    now += 50; // a expired, b not
    expect(await store.get("p", "a")).toBeUndefined();
    expect(await store.findItem("p", "item-a")).toBeUndefined();
    expect(await store.get("p", "b")).toEqual(entry("B"));
    store.set("p", "c", entry("C"));
    store.set("p", "d", entry("D"));
    expect(store.size).toBe(2);
    expect(await store.get("p", "b")).toBeUndefined();
    limits.maxStored = 0;
    store.set("p", "e", entry("E"));
    expect(await store.get("p", "e")).toBeUndefined();
  });

  it("accounts the bytes it holds and keeps them under both byte bounds", () => {
    const limits = {
      maxStored: 10_000,
      ttlMs: 60_000,
      maxStoredBytes: 50_000,
      maxStoredBytesPerPrincipal: 20_000,
    };
    const store = new InMemoryResponseStore(() => limits);
    const big = entry("x".repeat(4_000));
    for (let i = 0; i < 200; i++) {
      store.set(`p${i % 5}`, `r${i}`, big);
      expect(store.bytes).toBeLessThanOrEqual(limits.maxStoredBytes);
    }
    // 5 principals of at most 20,000 bytes would be 100,000: the total bound holds them to 50,000.
    expect(store.size).toBe(Math.floor(50_000 / (big.response.length + 2)));
  });
});
