import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import { OpenAiError } from "./errors";

/** Limits of an {@link UpstreamClient}. */
export interface UpstreamLimits {
  /** Largest non-streamed answer read from the upstream, in bytes. @defaultValue 67108864 (64 MiB) */
  maxResponseBytes: number;
  /** Largest error body read from the upstream, in bytes (the rest is dropped). @defaultValue 65536 */
  maxErrorBytes: number;
  /** Largest single server-sent event, in characters. @defaultValue 16777216 (16 MiB) */
  maxEventChars: number;
}

/** Default {@link UpstreamLimits}. */
export const UPSTREAM_DEFAULTS: UpstreamLimits = {
  maxResponseBytes: 64 * 1024 * 1024,
  maxErrorBytes: 64 * 1024,
  maxEventChars: 16 * 1024 * 1024,
};

/** Where an upstream is and how to reach it: an `openai` agent's config. */
export interface UpstreamTarget {
  /** The API's base URL, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; none when omitted. */
  apiKey?: string | undefined;
  /** The whole request, streamed answer included, must finish within it. */
  timeoutMs: number;
}

/** The upstream's event text, kept on each parsed chunk so that it can be passed on unchanged. */
export const RAW_CHUNK: unique symbol = Symbol("openclaw.rawChunk");

/** A chunk text with a finish reason (`"finish_reason":"stop"`, …; null is not one). */
const FINISHED = /"finish_reason"\s*:\s*"/;

/** A chunk as parsed from the upstream, with its original text. */
export type UpstreamChunk = ChatCompletionChunk & { [RAW_CHUNK]?: string };

/**
 * A client of an OpenAI-compatible chat completions API: `node:http(s)` with keep-alive
 * connections, and `eventsource-parser` for the streamed answer. Chunks are parsed once and keep
 * their original text, so the gateway forwards them without serialising them again (the official
 * `openai` client spent about 25 µs of CPU per chunk here, more than the rest of the proxy).
 * Failures are {@link OpenAiError}s in OpenAI's shape: the upstream's 4xx as they are (401/403,
 * which are about the gateway's key, and 5xx as a 502), a timeout as a 504, a broken connection
 * or a stream that stops before its end as a 502.
 */
export class UpstreamClient {
  readonly #url: URL;
  readonly #agent: HttpAgent;
  readonly #headers: Record<string, string>;

  /**
   * @param target - The upstream.
   * @param limits - Byte limits. @defaultValue {@link UPSTREAM_DEFAULTS}
   */
  constructor(
    private readonly target: UpstreamTarget,
    private readonly limits: UpstreamLimits = UPSTREAM_DEFAULTS,
  ) {
    this.#url = new URL(`${target.baseUrl.replace(/\/+$/, "")}/chat/completions`);
    this.#agent =
      this.#url.protocol === "https:"
        ? new HttpsAgent({ keepAlive: true })
        : new HttpAgent({ keepAlive: true });
    this.#headers = {
      "content-type": "application/json",
      ...(target.apiKey === undefined ? {} : { authorization: `Bearer ${target.apiKey}` }),
    };
  }

  /**
   * A non-streamed completion.
   *
   * @param body - The request body (`stream` false).
   * @param signal - Aborts the request.
   * @returns The upstream's completion.
   */
  async complete(body: object, signal: AbortSignal): Promise<ChatCompletion> {
    const call = await this.#send(body, "application/json", signal);
    try {
      const text = await readText(call.res, this.limits.maxResponseBytes);
      if (text === undefined)
        throw new OpenAiError(
          "api_error",
          `the upstream's answer is over ${this.limits.maxResponseBytes} bytes`,
          {
            status: 502,
            code: "upstream_too_large",
          },
        );
      return parseJson(text) as ChatCompletion;
    } catch (error) {
      throw call.failure(error);
    } finally {
      call.done();
    }
  }

  /**
   * A streamed completion: the upstream's chunks as they arrive, until `data: [DONE]`.
   *
   * @param body - The request body (`stream` true).
   * @param signal - Aborts the request.
   * @returns The chunks, each with its original text under {@link RAW_CHUNK}.
   * @throws {@link OpenAiError} for an error event, a broken connection, or an end before `[DONE]`
   * with no finish reason.
   */
  async *stream(body: object, signal: AbortSignal): AsyncGenerator<UpstreamChunk> {
    for await (const texts of this.streamText(body, signal))
      for (const text of texts) {
        const chunk = parseJson(text) as UpstreamChunk;
        chunk[RAW_CHUNK] = text;
        yield chunk;
      }
  }

  /**
   * A streamed completion as the upstream's chunk texts, unparsed (an error event is parsed, and a
   * finish reason is recognised in the text): what a proxy forwards. The chunks that arrived
   * together come as one batch, so that they cost one step of the consumer, not one each.
   *
   * @param body - The request body (`stream` true).
   * @param signal - Aborts the request.
   * @returns Batches of chunk JSON texts, as the upstream sent them.
   * @throws {@link OpenAiError} as {@link UpstreamClient.stream}.
   */
  async *streamText(body: object, signal: AbortSignal): AsyncGenerator<string[]> {
    const call = await this.#send(body, "text/event-stream", signal);
    const { res } = call;
    const events: EventSourceMessage[] = [];
    let size = 0;
    const parser = createParser({ onEvent: (event) => events.push(event) });
    let done = false;
    let finished = false;
    try {
      if (!String(res.headers["content-type"] ?? "").includes("text/event-stream")) {
        // An upstream that ignored `stream: true`: its whole answer, as one chunk per choice.
        const text = await readText(res, this.limits.maxResponseBytes);
        if (text === undefined)
          throw new OpenAiError("api_error", "the upstream's answer is too large", { status: 502 });
        yield [...asChunks(parseJson(text) as ChatCompletion)].map((chunk) => JSON.stringify(chunk));
        return;
      }
      res.setEncoding("utf8");
      // Read to the end even after [DONE] (leaving a `for await` destroys the response, and with it
      // a keep-alive connection the next request would have reused).
      for await (const text of res as AsyncIterable<string>) {
        if (done) continue;
        size += text.length;
        parser.feed(text);
        if (events.length === 0) {
          if (size > this.limits.maxEventChars)
            throw new OpenAiError("api_error", "an event from the upstream is too large", {
              status: 502,
              code: "upstream_too_large",
            });
          continue;
        }
        size = 0;
        const batch: string[] = [];
        let failure: OpenAiError | undefined;
        for (const event of events) {
          const data = event.data;
          if (data === "[DONE]") {
            done = true;
            break;
          }
          if (event.event === "error")
            failure = midStreamError((parseJson(data) as { error?: unknown }).error ?? {});
          else if (data.includes('"error"')) {
            const error = (parseJson(data) as { error?: unknown }).error;
            if (error !== undefined && error !== null) failure = midStreamError(error);
          }
          if (failure !== undefined) break;
          if (!finished && FINISHED.test(data)) finished = true;
          batch.push(data);
        }
        events.length = 0;
        // What came before an error event still goes out, then the error.
        if (batch.length > 0) yield batch;
        if (failure !== undefined) throw failure;
      }
      if (!done && !finished)
        throw new OpenAiError("api_error", "the upstream's stream ended before the answer did", {
          status: 502,
          code: "upstream_incomplete",
        });
    } catch (error) {
      throw call.failure(error);
    } finally {
      call.done();
      // Left before its end (the caller went away): the connection is not reusable.
      if (!res.complete) res.destroy();
    }
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  /** Sends the request; resolves with a 2xx response, or rejects with the upstream's error. */
  #send(body: object, accept: string, signal: AbortSignal) {
    const payload = JSON.stringify(body);
    const send = this.#url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<{ res: IncomingMessage; done: () => void; failure: (error: unknown) => OpenAiError }>(
      (resolve, reject) => {
        let timedOut = false;
        const req = send(this.#url, {
          method: "POST",
          agent: this.#agent,
          headers: { ...this.#headers, accept, "content-length": Buffer.byteLength(payload) },
        });
        // Small writes (the request, then nothing until the answer) must not wait for Nagle's ACK.
        req.setNoDelay(true);
        const timer = setTimeout(() => {
          timedOut = true;
          req.destroy();
        }, this.target.timeoutMs);
        const onAbort = () => req.destroy();
        signal.addEventListener("abort", onAbort, { once: true });
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        };
        const failure = (error: unknown): OpenAiError => {
          if (error instanceof OpenAiError) return error;
          if (timedOut)
            return new OpenAiError(
              "api_error",
              `the upstream did not answer within ${this.target.timeoutMs} ms`,
              {
                status: 504,
                code: "upstream_timeout",
                cause: error,
              },
            );
          if (signal.aborted)
            return new OpenAiError("api_error", "the request was aborted", { code: "aborted", cause: error });
          return new OpenAiError("api_error", "the upstream could not be reached or broke off", {
            status: 502,
            code: "upstream_unreachable",
            cause: error,
          });
        };
        req.once("error", (error) => {
          done();
          reject(failure(error));
        });
        req.once("response", (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve({ res, done, failure });
            return;
          }
          readText(res, this.limits.maxErrorBytes, true).then(
            (text) => {
              done();
              reject(upstreamError(status, text ?? "", res.headers["retry-after"]));
            },
            (error: unknown) => {
              done();
              reject(failure(error));
            },
          );
        });
        if (signal.aborted) req.destroy();
        req.end(payload);
      },
    );
  }
}

/** A response body as text; `undefined` past `maxBytes` (or, with `truncate`, its first `maxBytes`). */
async function readText(
  res: IncomingMessage,
  maxBytes: number,
  truncate = false,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      if (!truncate) return undefined;
      chunks.push(chunk.subarray(0, chunk.length - (size - maxBytes)));
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpenAiError("api_error", "the upstream answered with malformed JSON", {
      status: 502,
      code: "upstream_malformed",
      cause: error,
    });
  }
}

interface UpstreamErrorFields {
  message?: unknown;
  type?: unknown;
  param?: unknown;
  code?: unknown;
}

/**
 * The upstream's error answer in OpenAI's shape: its 4xx kept with its type, param and code (and
 * `retry-after`); its 401/403 (the gateway's key) and 5xx answered as a 502 `api_error`.
 *
 * @param status - The upstream's HTTP status.
 * @param text - Its body.
 * @param retryAfter - Its `retry-after` header.
 * @returns The error to answer with.
 */
export function upstreamError(status: number, text: string, retryAfter?: string | string[]): OpenAiError {
  let fields: UpstreamErrorFields = {};
  try {
    const body = JSON.parse(text) as { error?: UpstreamErrorFields | string };
    if (typeof body.error === "object" && body.error !== null) fields = body.error;
    else if (typeof body.error === "string") fields = { message: body.error };
  } catch {
    if (text !== "") fields = { message: text.slice(0, 500) };
  }
  const message = typeof fields.message === "string" ? fields.message : `the upstream answered ${status}`;
  if (status === 401 || status === 403 || status >= 500 || status < 400)
    return new OpenAiError("api_error", `the upstream answered ${status}: ${message}`, {
      status: 502,
      code: "upstream_error",
      details: { upstreamStatus: status },
    });
  const type =
    typeof fields.type === "string"
      ? fields.type
      : status === 429
        ? "rate_limit_error"
        : status === 404
          ? "not_found_error"
          : "invalid_request_error";
  const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  return new OpenAiError(type, message, {
    status,
    param: typeof fields.param === "string" ? fields.param : null,
    code: typeof fields.code === "string" ? fields.code : null,
    ...(header === undefined ? {} : { headers: { "retry-after": header } }),
  });
}

/** An error event inside the upstream's stream. */
function midStreamError(error: unknown): OpenAiError {
  const fields = (typeof error === "object" && error !== null ? error : {}) as UpstreamErrorFields;
  return new OpenAiError(
    "api_error",
    `the upstream failed mid-stream: ${typeof fields.message === "string" ? fields.message : "unknown error"}`,
    { status: 502, code: typeof fields.code === "string" ? fields.code : "upstream_error" },
  );
}

/** A whole completion as the chunks that would have streamed it. */
function* asChunks(completion: ChatCompletion): Generator<UpstreamChunk> {
  for (const choice of completion.choices) {
    const { role: _, ...message } = choice.message;
    yield {
      id: completion.id,
      object: "chat.completion.chunk",
      created: completion.created,
      model: completion.model,
      choices: [
        {
          index: choice.index,
          delta: {
            role: "assistant",
            ...(message.content == null ? {} : { content: message.content }),
            ...(message.tool_calls === undefined
              ? {}
              : {
                  tool_calls: message.tool_calls.map((call, index) => ({
                    index,
                    id: call.id,
                    type: "function" as const,
                    function: call.type === "function" ? call.function : { name: "", arguments: "" },
                  })),
                }),
          },
          finish_reason: choice.finish_reason,
          logprobs: choice.logprobs ?? null,
        },
      ],
    };
  }
  if (completion.usage !== undefined)
    yield {
      id: completion.id,
      object: "chat.completion.chunk",
      created: completion.created,
      model: completion.model,
      choices: [],
      usage: completion.usage,
    };
}
