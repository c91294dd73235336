import { connect } from "node:net";
import OpenAI, { type APIError } from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeOpenAiUpstream } from "../src/openai/testing";
import { type Harness, pairNode, startGateway, TOKEN } from "./harness";

let h: Harness;
let upstream: FakeOpenAiUpstream;

beforeEach(async () => {
  upstream = await FakeOpenAiUpstream.start({ apiKey: "sk-upstream-0123456789" });
  h = await startGateway({
    env: { UPSTREAM_KEY: "sk-upstream-0123456789" },
    config: {
      gateway: { maxBodyBytes: 64 * 1024 },
      agents: {
        default: "gpt",
        list: {
          echo: { provider: "echo" },
          gpt: { provider: "openai", baseUrl: upstream.url, apiKey: "${UPSTREAM_KEY}", model: "fake-1" },
          phone: { provider: "node", node: "mobile-device-1" },
        },
      },
    },
  });
});
afterEach(async () => {
  await h.stop();
  await upstream.close();
});

const openai = (apiKey = TOKEN) => new OpenAI({ baseURL: `${h.http}/v1`, apiKey, maxRetries: 0 });
const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "The weather in a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

/** POSTs JSON to a /v1 path and returns status, body text and headers. */
async function post(path: string, body: unknown, token = TOKEN) {
  const response = await fetch(`${h.http}/v1${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe("an upstream agent is a transparent proxy", () => {
  it("forwards every standard request field and returns every choice, usage and finish reason", async () => {
    const request = {
      model: "gpt",
      messages: [
        { role: "system" as const, content: "be brief" },
        { role: "user" as const, content: "hello there" },
      ],
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 2,
      max_completion_tokens: 2,
      stop: ["zzz"],
      n: 2,
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "50256": -100 },
      response_format: { type: "text" as const },
      parallel_tool_calls: false,
      logprobs: true,
      top_logprobs: 2,
      user: "user-7",
    };
    const completion = await openai().chat.completions.create(request);
    const { model: _, ...forwarded } = request;
    expect(upstream.lastBody).toEqual({ ...forwarded, model: "fake-1", stream: false });
    expect(upstream.requests.at(-1)?.headers.authorization).toBe("Bearer sk-upstream-0123456789");
    expect(completion.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, "You said: ", "length"],
      [1, "You said: ", "length"],
    ]);
    expect(completion.usage).toEqual({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    expect(completion.system_fingerprint).toBe("fp_fake");
  });

  it("streams text with the upstream's usage chunk when include_usage is set", async () => {
    const stream = await openai().chat.completions.create({
      model: "gpt",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "one two" }],
      temperature: 1.5,
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(upstream.lastBody).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
      temperature: 1.5,
    });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("You said: one two");
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 },
    });
  });

  it("round-trips a streamed tool call: deltas with index, id, name and arguments, then the tool's answer", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "user", content: "what's the weather in Paris?" },
    ];
    const stream = await openai().chat.completions.create({
      model: "gpt",
      stream: true,
      messages,
      tools,
      tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(upstream.lastBody).toMatchObject({
      tools,
      tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    expect(finish).toBe("tool_calls");
    expect(deltas[0]).toMatchObject({
      index: 0,
      id: "call_1",
      type: "function",
      function: { name: "get_weather" },
    });
    expect(deltas.map((d) => d.function?.arguments ?? "").join("")).toBe('{"city":"Paris"}');
    const answer = await openai().chat.completions.create({
      model: "gpt",
      tools,
      messages: [
        ...messages,
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
        { role: "tool", tool_call_id: "call_1", content: "sunny, 21°C" },
      ],
    });
    expect(answer.choices[0]?.message.content).toBe("The weather is sunny, 21°C.");
    expect((upstream.lastBody!.messages as unknown[]).at(-1)).toEqual({
      role: "tool",
      tool_call_id: "call_1",
      content: "sunny, 21°C",
    });
    // Not streamed, the tool call comes back whole.
    const whole = await openai().chat.completions.create({
      model: "gpt",
      messages,
      tools,
      tool_choice: "required",
    });
    expect(whole.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: {
        content: null,
        tool_calls: [{ id: "call_1", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
    });
  });

  it("maps the upstream's 429 and 400 to OpenAI errors with their status, type, param and retry-after", async () => {
    const limited = await openai()
      .chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "rate limit" }] })
      .catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded", type: "requests" });
    expect((limited as APIError).headers?.get("retry-after")).toBe("1");
    const bad = await openai()
      .chat.completions.create({
        model: "gpt",
        stream: true,
        messages: [{ role: "user", content: "bad request" }],
      })
      .catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({ status: 400, param: "messages", type: "invalid_request_error" });
  });

  it("a key the upstream refuses is the gateway's problem: 502 api_error", async () => {
    await h.config.apply({
      ...h.config.get(),
      agents: {
        default: "echo",
        list: {
          gpt: { provider: "openai", baseUrl: upstream.url, apiKey: "sk-wrong-000000000", model: "fake-1" },
        },
      },
    } as never);
    const { status, text } = await post("/chat/completions", {
      model: "gpt",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(status).toBe(502);
    expect(JSON.parse(text)).toMatchObject({
      error: { type: "api_error", code: "upstream_error", param: null },
    });
  });

  it.each(["fail midway", "error midway"])(
    "a stream that fails mid-way (%s) ends with an error event, not stop and [DONE]",
    async (input) => {
      const { status, text } = await post("/chat/completions", {
        model: "gpt",
        stream: true,
        messages: [{ role: "user", content: input }],
      });
      expect(text).not.toContain("[DONE]");
      expect(text).not.toContain('"finish_reason":"stop"');
      if (input === "error midway" || status === 200) {
        expect(status).toBe(200);
        const events = text.split("\n\n").filter(Boolean);
        expect(events.at(-1)).toMatch(/^data: \{"error":\{"message":.*"type":"api_error"/);
        if (input === "error midway") expect(events.filter((e) => e.includes('"content":"'))).toHaveLength(3); // role + two pieces
      } else {
        // A cut the gateway saw before the first chunk (the reset discarded it) is a plain 502.
        expect(status).toBe(502);
        expect(JSON.parse(text)).toMatchObject({ error: { type: "api_error" } });
      }
      // The official client throws instead of returning a truncated answer as complete.
      const stream = await openai().chat.completions.create({
        model: "gpt",
        stream: true,
        messages: [{ role: "user", content: input }],
      });
      const failure = await (async () => {
        for await (const _ of stream);
      })().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.APIError);
    },
  );
});

describe("the built-in echo agent honours what it can and refuses the rest", () => {
  it("max_tokens truncates with length, stop cuts, n gives n choices, usage is counted", async () => {
    const cut = await openai().chat.completions.create({
      model: "echo",
      max_tokens: 2,
      messages: [{ role: "user", content: "one two three four" }],
    });
    expect(cut.choices[0]).toMatchObject({ message: { content: "one two " }, finish_reason: "length" });
    expect(cut.usage).toEqual({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
    const stopped = await openai().chat.completions.create({
      model: "echo",
      stop: ["three", "nope"],
      n: 2,
      messages: [{ role: "user", content: "one two three four" }],
    });
    expect(stopped.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, "one two ", "stop"],
      [1, "one two ", "stop"],
    ]);
    const stream = await openai().chat.completions.create({
      model: "echo",
      stream: true,
      stop: "ee fo",
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "one two three four" }],
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("one two thr");
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 3, prompt_tokens: 4 } });
  });

  it("joins text parts and refuses images, out-of-range values and what it cannot do with a 400 naming the parameter", async () => {
    const joined = await openai().chat.completions.create({
      model: "echo",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "part one, " },
            { type: "text", text: "part two" },
          ],
        },
      ],
    });
    expect(joined.choices[0]?.message.content).toBe("part one, part two");
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 5 }, "temperature"],
      [{ top_p: -1 }, "top_p"],
      [{ n: 0 }, "n"],
      [{ max_tokens: 0 }, "max_tokens"],
      [{ stop: ["a", "b", "c", "d", "e"] }, "stop"],
      [{ presence_penalty: 3 }, "presence_penalty"],
      [{ logprobs: true }, "logprobs"],
      [{ response_format: { type: "json_object" } }, "response_format"],
      [{ tools, tool_choice: "required" }, "tool_choice"],
      [{ stream_options: { include_usage: true } }, "stream_options"],
      [
        { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }] },
        "messages[0].content[0]",
      ],
      [{ messages: [{ role: "robot", content: "x" }] }, "messages[0].role"],
    ];
    for (const [fields, param] of cases) {
      const failure = await openai()
        .chat.completions.create({
          model: "echo",
          messages: [{ role: "user", content: "hi" }],
          ...fields,
        } as never)
        .catch((error: unknown) => error);
      expect(failure, param).toBeInstanceOf(OpenAI.BadRequestError);
      expect(failure, param).toMatchObject({ status: 400, type: "invalid_request_error", param });
    }
  });
});

describe("OpenAI's wire details on every /v1 route", () => {
  it("answers errors as {error: {message, type, param, code}}: 401, 404, 405, unknown model, models by id", async () => {
    const unauthorized = await openai("wrong-token-000000000")
      .models.list()
      .catch((error: unknown) => error);
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(unauthorized).toMatchObject({
      status: 401,
      type: "authentication_error",
      code: "invalid_api_key",
      param: null,
    });
    const unknown = await fetch(`${h.http}/v1/nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: {
        message: "no route for GET /v1/nope",
        type: "not_found_error",
        param: null,
        code: "unknown_url",
      },
    });
    const wrongMethod = await fetch(`${h.http}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toMatchObject({
      error: { type: "invalid_request_error", code: "method_not_allowed" },
    });
    const noModel = await post("/chat/completions", {
      model: "gpt-9",
      messages: [{ role: "user", content: "x" }],
    });
    expect(noModel.status).toBe(404);
    expect(JSON.parse(noModel.text)).toMatchObject({
      error: {
        type: "not_found_error",
        param: "model",
        code: "model_not_found",
        details: { models: ["echo", "gpt", "phone"] },
      },
    });
    expect((await openai().models.list()).data.map((m) => m.id)).toEqual(["echo", "gpt", "phone"]);
    expect(await openai().models.retrieve("gpt")).toMatchObject({
      id: "gpt",
      object: "model",
      owned_by: "openclaw",
    });
    await expect(openai().models.retrieve("gpt-9")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("refuses a body over gateway.maxBodyBytes with 413 before reading it: declared or chunked", async () => {
    const port = new URL(h.http).port;
    const exchange = (head: string, feed?: (write: (data: string) => boolean) => void) =>
      new Promise<{ response: string; sentBytes: number }>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1");
        let response = "";
        let sentBytes = 0;
        socket.on("error", reject);
        socket.on("data", (data) => {
          response += data.toString("utf8");
          if (response.includes("\r\n\r\n")) {
            socket.destroy();
            resolve({ response, sentBytes });
          }
        });
        socket.write(head);
        feed?.((data) => {
          sentBytes += Buffer.byteLength(data);
          return socket.write(data);
        });
      });
    // 60 MB declared, nothing sent: the answer cannot wait for the body.
    const declared = await exchange(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${60 * 1024 * 1024}\r\n\r\n{"model":`,
    );
    expect(declared.response).toMatch(/^HTTP\/1\.1 413 /);
    // Chunked, sent in 16 KB pieces until the gateway answers: it must answer soon after 64 KB.
    const piece = `${(16 * 1024).toString(16)}\r\n${"x".repeat(16 * 1024)}\r\n`;
    let stop = false;
    const chunked = await exchange(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
      (write) => {
        let sent = 0;
        const pump = () => {
          // At most 60 MB; the gateway must answer long before.
          while (!stop && sent < 3840) {
            sent++;
            if (!write(piece)) return void setImmediate(pump);
          }
        };
        pump();
      },
    );
    stop = true;
    expect(chunked.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(chunked.sentBytes).toBeLessThan(30 * 1024 * 1024);
    // The body of a 413 is OpenAI's error.
    const big = await post("/chat/completions", {
      model: "echo",
      messages: [{ role: "user", content: "x".repeat(70_000) }],
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text)).toMatchObject({
      error: { type: "invalid_request_error", code: "request_too_large" },
    });
    // And the gateway still serves.
    expect((await openai().models.list()).data.length).toBe(3);
  });
});

describe("node-hosted agents", () => {
  it("receive the conversation and tools and may answer with tool calls", async () => {
    const seen: unknown[] = [];
    await pairNode(h, "mobile-device-1", (data) => {
      seen.push(data);
      const { runId, messages } = data as {
        runId: string;
        messages: Array<{ role: string; content: string }>;
      };
      if (messages.at(-1)?.role === "tool") return { runId, output: `it is ${messages.at(-1)?.content}` };
      return {
        runId,
        output: "",
        toolCalls: [{ id: "call_n1", name: "get_weather", arguments: { city: "Oslo" } }],
      };
    });
    const asked = await openai().chat.completions.create({
      model: "phone",
      tools,
      messages: [{ role: "user", content: "weather in Oslo?" }],
    });
    expect(seen[0]).toMatchObject({
      input: "weather in Oslo?",
      messages: [{ role: "user", content: "weather in Oslo?" }],
      tools,
    });
    expect(asked.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: {
        tool_calls: [
          {
            id: "call_n1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
          },
        ],
      },
    });
    const answered = await openai().chat.completions.create({
      model: "phone",
      tools,
      messages: [
        { role: "user", content: "weather in Oslo?" },
        { role: "assistant", content: null, tool_calls: asked.choices[0]!.message.tool_calls! },
        { role: "tool", tool_call_id: "call_n1", content: "snowing" },
      ],
    });
    expect(answered.choices[0]).toMatchObject({
      message: { content: "it is snowing" },
      finish_reason: "stop",
    });
    const many = await openai()
      .chat.completions.create({ model: "phone", n: 2, messages: [{ role: "user", content: "x" }] })
      .catch((error: unknown) => error);
    expect(many).toMatchObject({ status: 400, param: "n" });
  });
});
