import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { FakeOpenAiUpstream } from "@openclaw/gateway/testing";
import { APICallError, generateText, type LanguageModel, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startTestGateway, type TestGateway, TOKEN } from "./test-gateway";

/**
 * The OpenAI-compatible API as new users meet it: the official `openai` client, the Vercel AI SDK
 * (`@ai-sdk/openai-compatible`, and `@ai-sdk/openai` on chat completions and on the Responses API)
 * and LangChain's `ChatOpenAI`, against the real gateway whose `gpt` agent proxies a loopback fake
 * of OpenAI's API.
 */
let gw: TestGateway;
let upstream: FakeOpenAiUpstream;
let v1: string;

beforeAll(async () => {
  upstream = await FakeOpenAiUpstream.start();
  gw = await startTestGateway({
    plugins: [],
    config: {
      agents: {
        default: "gpt",
        list: { gpt: { provider: "openai", baseUrl: upstream.url, model: "fake-1" } },
      },
    },
  });
  v1 = `${gw.http}/v1`;
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

const weatherSchema = z.object({ city: z.string() });
const weatherJsonSchema: Record<string, unknown> = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};

describe("the official openai client", () => {
  const client = (apiKey = TOKEN) => new OpenAI({ baseURL: v1, apiKey, maxRetries: 0 });

  it("completes plain and streamed text, with usage", async () => {
    const plain = await client().chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(plain.choices[0]?.message.content).toBe("You said: hi");
    expect(plain.usage?.total_tokens).toBeGreaterThan(0);
    const stream = await client().chat.completions.create({
      model: "gpt",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "streamed" }],
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("You said: streamed");
    expect(usage).toEqual({ prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
  });

  it("runs a tool-call round trip with runTools", async () => {
    const runner = client().chat.completions.runTools({
      model: "gpt",
      messages: [{ role: "user", content: "what's the weather in Paris?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather in a city",
            parameters: weatherJsonSchema,
            function: (args: { city: string }) => `sunny in ${args.city}`,
            parse: JSON.parse,
          },
        },
      ],
    });
    expect(await runner.finalContent()).toBe("The weather is sunny in Paris.");
  });

  it("gets 400 naming a refused parameter, 401 for a wrong token, and an error for a stream that fails mid-way", async () => {
    await expect(
      client().chat.completions.create({
        model: "gpt",
        temperature: 5,
        messages: [{ role: "user", content: "x" }],
      }),
    ).rejects.toMatchObject({ status: 400, param: "temperature", type: "invalid_request_error" });
    await expect(client("wrong-token-0000000000").models.list()).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const stream = await client().chat.completions.create({
      model: "gpt",
      stream: true,
      messages: [{ role: "user", content: "error midway" }],
    });
    let text = "";
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(text).toBe("You said: ");
  });

  it("uses the Responses API: responses.create, responses.stream and previous_response_id", async () => {
    const first = await client().responses.create({ model: "gpt", input: "one" });
    expect(first.output_text).toBe("You said: one");
    const stream = client().responses.stream({ model: "gpt", input: "two", previous_response_id: first.id });
    let text = "";
    for await (const event of stream) if (event.type === "response.output_text.delta") text += event.delta;
    expect(text).toBe("You said: two");
    expect((await stream.finalResponse()).usage?.output_tokens).toBe(3);
  });
});

/** The AI SDK's providers for the gateway, with the gateway token or another. */
const aiSdkModels = (apiKey = TOKEN): Array<[string, LanguageModel]> => [
  [
    "@ai-sdk/openai-compatible",
    createOpenAICompatible({ name: "openclaw", baseURL: v1, apiKey, includeUsage: true }).chatModel("gpt"),
  ],
  ["@ai-sdk/openai (chat)", createOpenAI({ baseURL: v1, apiKey }).chat("gpt")],
  ["@ai-sdk/openai (responses)", createOpenAI({ baseURL: v1, apiKey }).responses("gpt")],
];

describe.each(aiSdkModels().map(([name], index) => [name, index] as const))(
  "the Vercel AI SDK with %s",
  (_, index) => {
    const model = (apiKey?: string) => aiSdkModels(apiKey)[index]![1];

    it("generates and streams text with usage", async () => {
      const plain = await generateText({ model: model(), prompt: "hello", maxRetries: 0 });
      expect(plain.text).toBe("You said: hello");
      expect(plain.finishReason).toBe("stop");
      expect(plain.usage).toMatchObject({ inputTokens: 1, outputTokens: 3, totalTokens: 4 });
      const streamed = streamText({ model: model(), prompt: "streamed text", maxRetries: 0 });
      let text = "";
      for await (const delta of streamed.textStream) text += delta;
      expect(text).toBe("You said: streamed text");
      expect(await streamed.finishReason).toBe("stop");
      expect(await streamed.usage).toMatchObject({ inputTokens: 2, outputTokens: 4, totalTokens: 6 });
    });

    it("runs a tool-call round trip", async () => {
      const result = await generateText({
        model: model(),
        prompt: "what's the weather in Paris?",
        tools: {
          get_weather: tool({
            description: "The weather in a city",
            inputSchema: weatherSchema,
            execute: async ({ city }) => `sunny in ${city}`,
          }),
        },
        stopWhen: stepCountIs(3),
        maxRetries: 0,
      });
      expect(result.steps[0]?.toolCalls).toMatchObject([
        { toolName: "get_weather", input: { city: "Paris" } },
      ]);
      expect(result.text).toContain("sunny in Paris");
      expect(result.finishReason).toBe("stop");
    });

    it("reports a refused parameter (400) and a wrong token (401) as API call errors", async () => {
      const refused = await generateText({
        model: model(),
        prompt: "x",
        temperature: 5,
        maxRetries: 0,
      }).catch((error: unknown) => error);
      expect(APICallError.isInstance(refused)).toBe(true);
      expect(refused).toMatchObject({ statusCode: 400 });
      expect((refused as APICallError).responseBody).toContain('"param":"temperature"');
      const unauthorized = await generateText({
        model: model("wrong-token-0000000000"),
        prompt: "x",
        maxRetries: 0,
      }).catch((error: unknown) => error);
      expect(unauthorized).toMatchObject({ statusCode: 401 });
    });

    it("reports a stream that fails mid-way as failed, not as a complete answer", async () => {
      const errors: unknown[] = [];
      const streamed = streamText({
        model: model(),
        prompt: "error midway",
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error);
        },
      });
      const parts: string[] = [];
      for await (const part of streamed.fullStream) parts.push(part.type);
      expect(parts).toContain("error");
      expect(errors.length).toBeGreaterThan(0);
      expect(await streamed.finishReason.catch(() => "error")).not.toBe("stop");
    });
  },
);

describe("LangChain's ChatOpenAI", () => {
  const chat = (apiKey = TOKEN) =>
    new ChatOpenAI({
      model: "gpt",
      apiKey,
      configuration: { baseURL: v1 },
      maxRetries: 0,
      streamUsage: true,
    });

  it("invokes and streams with usage", async () => {
    const reply = await chat().invoke("hello");
    expect(reply.content).toBe("You said: hello");
    expect(reply.usage_metadata).toMatchObject({ input_tokens: 1, output_tokens: 3, total_tokens: 4 });
    let text = "";
    let usage: unknown;
    for await (const chunk of await chat().stream("streamed text")) {
      text += chunk.content as string;
      usage = chunk.usage_metadata ?? usage;
    }
    expect(text).toBe("You said: streamed text");
    expect(usage).toMatchObject({ input_tokens: 2, output_tokens: 4, total_tokens: 6 });
  });

  it("runs a tool-call round trip with bindTools", async () => {
    const model = chat().bindTools([
      {
        type: "function",
        function: { name: "get_weather", description: "The weather", parameters: weatherJsonSchema },
      },
    ]);
    const question = new HumanMessage("what's the weather in Paris?");
    const asked = await model.invoke([question]);
    expect(asked.tool_calls).toMatchObject([{ name: "get_weather", args: { city: "Paris" }, id: "call_1" }]);
    const answer = await model.invoke([
      question,
      new AIMessage({ content: "", tool_calls: asked.tool_calls ?? [] }),
      new ToolMessage({ tool_call_id: "call_1", content: "rainy" }),
    ]);
    expect(answer.content).toBe("The weather is rainy.");
  });

  it("throws for a refused parameter, a wrong token and a stream that fails mid-way", async () => {
    await expect(
      new ChatOpenAI({
        model: "gpt",
        apiKey: TOKEN,
        configuration: { baseURL: v1 },
        maxRetries: 0,
        temperature: 5,
      }).invoke("x"),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(chat("wrong-token-0000000000").invoke("x")).rejects.toMatchObject({ status: 401 });
    const failure = await (async () => {
      for await (const _ of await chat().stream("error midway"));
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
  });
});
