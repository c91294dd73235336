// Test helpers for the gateway's OpenAI-compatible API (exported from `@openclaw/gateway/testing`):
// FakeOpenAiUpstream, a loopback fake of OpenAI's chat completions API to put behind an `openai` agent.
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the fake received. */
export interface RecordedUpstreamRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  /** The JSON body (`undefined` for none). */
  body: Record<string, unknown> | undefined;
}

/** Options of {@link FakeOpenAiUpstream.start}. */
export interface FakeOpenAiUpstreamOptions {
  /** The API key it accepts; any other is a 401. @defaultValue undefined (any key, or none) */
  apiKey?: string;
  /** Requests remembered at most (the oldest are dropped). @defaultValue 1000 */
  maxRecorded?: number;
}

/** Default {@link FakeOpenAiUpstreamOptions}. */
export const FAKE_UPSTREAM_DEFAULTS = { maxRecorded: 1000 } as const;

interface Message {
  role: string;
  content?: unknown;
  tool_call_id?: string;
}

/**
 * A loopback fake of OpenAI's chat completions API that records every request it receives. Its
 * answers follow the last message:
 *
 * - a `tool` message → `The weather is <the tool's content>.`
 * - `tools` given (and `tool_choice` not `"none"`) and the text mentions `weather`, or a forced
 *   function → a call of that (or the first) tool with `{"city":"Paris"}`, `finish_reason: "tool_calls"`
 * - `rate limit` → 429 with `retry-after: 1`; `bad request` → 400 naming `messages`
 * - `fail midway` → two chunks, then the connection is cut; `error midway` → two chunks, then an
 *   error event; `hang` → no answer at all
 * - `words <N>` → N words (`w0 w1 …`)
 * - anything else → `You said: <text>`
 *
 * Text is streamed a word per chunk; `n`, `max_tokens` / `max_completion_tokens` (words, then
 * `finish_reason: "length"`), `stop` and `stream_options.include_usage` are honoured, and usage
 * counts words.
 *
 * @example
 * ```ts
 * const upstream = await FakeOpenAiUpstream.start();
 * // agents: { gpt: { provider: "openai", baseUrl: upstream.url, model: "fake-1" } }
 * expect(upstream.requests[0]?.body).toMatchObject({ temperature: 0.2 });
 * await upstream.close();
 * ```
 */
export class FakeOpenAiUpstream {
  /** What it received, oldest first. */
  readonly requests: RecordedUpstreamRequest[] = [];
  /** Connections cut or closed by the client while it was answering. */
  closedEarly = 0;
  readonly #server: Server;
  readonly #options: FakeOpenAiUpstreamOptions;

  private constructor(server: Server, options: FakeOpenAiUpstreamOptions) {
    this.#server = server;
    this.#options = options;
  }

  /**
   * Starts the fake on 127.0.0.1, on a free port.
   *
   * @param options - Key and limits.
   * @returns The running fake.
   */
  static async start(options: FakeOpenAiUpstreamOptions = {}): Promise<FakeOpenAiUpstream> {
    let fake: FakeOpenAiUpstream | undefined;
    const server = createServer((req, res) => {
      void fake?.handle(req, res).catch(() => res.destroy());
    });
    fake = new FakeOpenAiUpstream(server, options);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return fake;
  }

  /** The API's base URL, ending in `/v1`. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1`;
  }

  /** The body of the last chat completion request. */
  get lastBody(): Record<string, unknown> | undefined {
    return this.requests.at(-1)?.body;
  }

  /** Stops the fake, cutting open connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
    const path = (req.url ?? "/").split("?")[0]!;
    this.requests.push({ method: req.method ?? "GET", path, headers: req.headers, body });
    const max = this.#options.maxRecorded ?? FAKE_UPSTREAM_DEFAULTS.maxRecorded;
    if (this.requests.length > max) this.requests.shift();
    res.once("close", () => {
      if (!res.writableFinished) this.closedEarly++;
    });
    const key = this.#options.apiKey;
    if (key !== undefined && req.headers.authorization !== `Bearer ${key}`)
      return error(res, 401, "Incorrect API key provided", "invalid_request_error", null, "invalid_api_key");
    if (req.method === "GET" && path === "/v1/models")
      return json(res, 200, {
        object: "list",
        data: [{ id: "fake-1", object: "model", created: 0, owned_by: "fake" }],
      });
    if (req.method !== "POST" || path !== "/v1/chat/completions")
      return error(res, 404, `no route ${req.method} ${path}`, "invalid_request_error", null, "unknown_url");
    await this.complete(body ?? {}, res);
  }

  private async complete(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const messages = (body.messages ?? []) as Message[];
    const last = messages.at(-1);
    const lastText = textOf(last?.content);
    if (lastText.includes("rate limit")) {
      res.setHeader("retry-after", "1");
      return error(res, 429, "Rate limit reached for requests", "requests", null, "rate_limit_exceeded");
    }
    if (lastText.includes("bad request"))
      return error(
        res,
        400,
        "Invalid 'messages': this upstream refuses it",
        "invalid_request_error",
        "messages",
        "invalid_value",
      );
    if (lastText.includes("hang")) return;
    const model = typeof body.model === "string" ? body.model : "fake-1";
    const n = typeof body.n === "number" ? body.n : 1;
    const maxWords = (body.max_completion_tokens ?? body.max_tokens) as number | undefined;
    const stops =
      body.stop === undefined || body.stop === null ? [] : ([] as string[]).concat(body.stop as string);
    const tools = (body.tools ?? []) as Array<{ function: { name: string } }>;
    const choice = body.tool_choice as string | { function: { name: string } } | undefined;
    const promptTokens = words(messages.map((m) => textOf(m.content)).join(" ")).length;

    let reply: string | undefined;
    let toolName: string | undefined;
    if (last?.role === "tool") reply = `The weather is ${lastText}.`;
    else if (typeof choice === "object") toolName = choice.function.name;
    else if (tools.length > 0 && choice !== "none" && (choice === "required" || lastText.includes("weather")))
      toolName = tools[0]!.function.name;
    else {
      const many = /words (\d+)/.exec(lastText);
      reply = many
        ? Array.from({ length: Number(many[1]) }, (_, i) => `w${i}`).join(" ")
        : `You said: ${lastText}`;
    }
    let finish = toolName === undefined ? "stop" : "tool_calls";
    let pieces: string[] = [];
    if (reply !== undefined) {
      for (const stop of stops) {
        const at = reply.indexOf(stop);
        if (at !== -1) reply = reply.slice(0, at);
      }
      pieces = reply.match(/\S+\s*/g) ?? [];
      if (maxWords !== undefined && pieces.length > maxWords) {
        pieces = pieces.slice(0, maxWords);
        finish = "length";
      }
    }
    const content = pieces.join("");
    const args = '{"city":"Paris"}';
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: pieces.length * n,
      total_tokens: promptTokens + pieces.length * n,
    };
    const id = "chatcmpl-fake";
    const created = 1_700_000_000;
    if (body.stream !== true) {
      return json(res, 200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: Array.from({ length: n }, (_, index) => ({
          index,
          message: {
            role: "assistant",
            content: toolName === undefined ? content : null,
            refusal: null,
            ...(toolName === undefined
              ? {}
              : {
                  tool_calls: [
                    { id: "call_1", type: "function", function: { name: toolName, arguments: args } },
                  ],
                }),
          },
          logprobs: null,
          finish_reason: finish,
        })),
        usage,
        system_fingerprint: "fp_fake",
      });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const send = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      res.write(
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake", choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`,
      );
    const all = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      send(
        Array.from({ length: n }, (_, index) => ({
          index,
          delta,
          logprobs: null,
          finish_reason: finishReason,
        })),
      );
    all({ role: "assistant", content: "", refusal: null });
    if (toolName !== undefined) {
      all({
        tool_calls: [
          { index: 0, id: "call_1", type: "function", function: { name: toolName, arguments: "" } },
        ],
      });
      all({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 8) } }] });
      all({ tool_calls: [{ index: 0, function: { arguments: args.slice(8) } }] });
    }
    for (const [i, piece] of pieces.entries()) {
      if (i === 2 && lastText.includes("fail midway")) {
        // Cut once the chunks are out (a reset can discard what the peer had not read yet).
        await new Promise((resolve) => res.write("", resolve));
        await new Promise((resolve) => setTimeout(resolve, 20));
        res.destroy();
        return;
      }
      if (i === 2 && lastText.includes("error midway")) {
        res.end(
          `data: ${JSON.stringify({ error: { message: "The server had an error while processing your request", type: "server_error", param: null, code: null } })}\n\n`,
        );
        return;
      }
      all({ content: piece });
      // Let a slow reader's backpressure through, every so often.
      if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    }
    all({}, finish);
    if (includeUsage) send([], { usage });
    res.end("data: [DONE]\n\n");
  }
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((part: { type?: string; text?: string }) => (part?.type === "text" ? (part.text ?? "") : ""))
      .join("");
  return "";
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function error(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  param: string | null,
  code: string | null,
): void {
  json(res, status, { error: { message, type, param, code } });
}
