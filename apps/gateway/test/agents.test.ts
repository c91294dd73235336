import { FakePlatform } from "@openclaw/channel-sdk/testing";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Harness, pairNode, startGateway, TOKEN, until } from "./harness";

let h: Harness;
let upstream: FakePlatform;
let upstreamClosed = false;

const sse = (deltas: string[]) =>
  `${deltas.map((content, i) => `data: ${JSON.stringify({ id: "up-1", object: "chat.completion.chunk", choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content } : { content }, finish_reason: null }] })}\n\n`).join("")}data: ${JSON.stringify({ id: "up-1", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`;

beforeEach(async () => {
  upstreamClosed = false;
  upstream = await FakePlatform.start({
    "POST /v1/chat/completions": (req, raw) => {
      const body = req.json as { messages: Array<{ content: string }>; stream?: boolean };
      const input = body.messages.at(-1)?.content ?? "";
      if (input === "fail") return { status: 500, body: { error: { message: "upstream exploded" } } };
      if (input === "hang") {
        raw.socket.once("close", () => {
          upstreamClosed = true;
        });
        return new Promise(() => {});
      }
      if (body.stream !== true)
        return {
          body: {
            id: "up-1",
            object: "chat.completion",
            created: 1,
            model: "upstream-model-1",
            choices: [
              {
                index: 0,
                message: { role: "assistant", content: `You said: ${input}` },
                finish_reason: "stop",
              },
            ],
          },
        };
      return { headers: { "content-type": "text/event-stream" }, body: sse(["You ", "said: ", input]) };
    },
  });
  h = await startGateway({
    env: { UPSTREAM_KEY: "sk-upstream-0123456789" },
    config: {
      agents: {
        default: "gpt",
        list: {
          gpt: {
            provider: "openai",
            baseUrl: `${upstream.url}/v1`,
            apiKey: "${UPSTREAM_KEY}",
            model: "upstream-model-1",
          },
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

const openai = () => new OpenAI({ baseURL: `${h.http}/v1`, apiKey: TOKEN, maxRetries: 0 });

describe("agents behind one interface", () => {
  it("forwards to an OpenAI-compatible upstream, streamed and not, with the upstream's model and key", async () => {
    const completion = await openai().chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(completion.choices[0]?.message.content).toBe("You said: hello");
    const sent = upstream.requests[0]!;
    expect(sent.headers.authorization).toBe("Bearer sk-upstream-0123456789");
    expect(sent.json).toMatchObject({
      model: "upstream-model-1",
      stream: false,
      messages: [{ role: "user", content: "hello" }],
    });
    const stream = await openai().chat.completions.create({
      model: "gpt",
      stream: true,
      messages: [{ role: "user", content: "streamed" }],
    });
    const parts: string[] = [];
    for await (const chunk of stream) parts.push(chunk.choices[0]?.delta.content ?? "");
    expect(parts.filter(Boolean)).toEqual(["You ", "said: ", "streamed"]);
    const models = await openai().models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(["echo", "gpt", "phone"]);
  });

  it("runs the default agent for agent.run over the WebSocket too", async () => {
    const cli = await h.client();
    await expect(cli.request("agent.run", { input: "over ws" })).resolves.toMatchObject({
      output: "You said: over ws",
    });
    await expect(cli.request("agent.run", { agent: "nope", input: "x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      details: { reason: "unknown_agent" },
    });
  });

  it("maps an upstream failure to a 502 JSON error", async () => {
    const failure = await openai()
      .chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "fail" }] })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ status: 502 });
    const raw = await fetch(`${h.http}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt", messages: [{ role: "user", content: "fail" }] }),
    });
    expect(await raw.json()).toMatchObject({
      error: { type: "api_error", code: "upstream_error", details: { upstreamStatus: 500 } },
    });
  });

  it("aborts the upstream request when the client goes away", async () => {
    const controller = new AbortController();
    const request = fetch(`${h.http}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt", stream: true, messages: [{ role: "user", content: "hang" }] }),
      signal: controller.signal,
    }).catch(() => undefined);
    await until(() => upstream.requests.length === 1);
    controller.abort();
    await request;
    await until(() => upstreamClosed);
  });

  it("streams a node-hosted agent's agent.chunk events as completion chunks", async () => {
    await pairNode(h, "mobile-device-1", async (data, node) => {
      const { runId, input } = data as { runId: string; input: string };
      const words = ["phone ", "says ", input];
      for (const [index, delta] of words.entries()) node.sendEvent("agent.chunk", { runId, index, delta });
      node.sendEvent("agent.chunk", { runId, index: words.length, delta: "", done: true });
      return { runId, output: words.join("") };
    });
    const stream = await openai().chat.completions.create({
      model: "phone",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    const parts: string[] = [];
    for await (const chunk of stream) parts.push(chunk.choices[0]?.delta.content ?? "");
    expect(parts.filter(Boolean)).toEqual(["phone ", "says ", "hi"]);
    const whole = await openai().chat.completions.create({
      model: "phone",
      messages: [{ role: "user", content: "again" }],
    });
    expect(whole.choices[0]?.message.content).toBe("phone says again");
  });
});
