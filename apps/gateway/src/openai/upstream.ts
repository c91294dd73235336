import type { IncomingHttpHeaders } from "node:http";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import { type Dispatcher, Pool } from "undici";
import { currentTraceparent } from "../telemetry/tracing";
import { OpenAiError } from "./errors";
import { eventData, parseJson, UpstreamEvents } from "./UpstreamEvents";

/** Limits of an {@link UpstreamClient}. */
export interface UpstreamLimits {
  /** Largest non-streamed answer read from the upstream, in bytes. @defaultValue 67108864 (64 MiB) */
  maxResponseBytes: number;
  /** Largest error body read from the upstream, in bytes (the rest is dropped). @defaultValue 65536 */
  maxErrorBytes: number;
  /**
   * Largest single server-sent event, in characters (in bytes for the events passed on unparsed).
   * @defaultValue 16777216 (16 MiB)
   */
  maxEventChars: number;
  /**
   * Bytes of the upstream's answer held for a consumer that reads slower than the upstream writes
   * (a client with a full socket); past them the upstream connection is paused until the consumer
   * catches up. @defaultValue 262144 (256 KiB)
   */
  maxBufferedBytes: number;
}

/** Default {@link UpstreamLimits}. */
export const UPSTREAM_DEFAULTS: UpstreamLimits = {
  maxResponseBytes: 64 * 1024 * 1024,
  maxErrorBytes: 64 * 1024,
  maxEventChars: 16 * 1024 * 1024,
  maxBufferedBytes: 256 * 1024,
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

/**
 * What an upstream call watches to stop when its caller goes away: an `AbortSignal`, or something
 * cheaper with the same `aborted` and `abort` listener (the `/v1` routes' `ClientGone`).
 */
export interface AbortWatch {
  /** Whether the caller went away. */
  readonly aborted: boolean;
  /** Calls `listener` once when the caller goes away. */
  addEventListener(type: "abort", listener: () => void): void;
  /** Forgets a listener. */
  removeEventListener(type: "abort", listener: () => void): void;
}

/** The upstream's event text, kept on each parsed chunk so that it can be passed on unchanged. */
export const RAW_CHUNK: unique symbol = Symbol("openclaw.rawChunk");

/** A chunk as parsed from the upstream, with its original text. */
export type UpstreamChunk = ChatCompletionChunk & { [RAW_CHUNK]?: string };

/**
 * A client of an OpenAI-compatible chat completions API: `undici` (a pool of keep-alive
 * connections to the upstream's origin) and, for streamed answers, {@link UpstreamEvents}, which
 * passes the upstream's event bytes on as they are when they need no change and reads the rest
 * with `eventsource-parser`. (The official `openai` client spent about 25 µs of CPU per chunk here,
 * and `node:http`'s client about 1 µs per chunk of a chunked answer, more than the rest of the
 * proxy.) Failures are {@link OpenAiError}s in OpenAI's shape: the upstream's 4xx as they are
 * (401/403, which are about the gateway's key, and 5xx as a 502), a timeout as a 504, a broken
 * connection or a stream that stops before its end as a 502.
 */
export class UpstreamClient {
  readonly #pool: Pool;
  readonly #path: string;
  /** The request headers for a streamed and for a whole answer, built once. */
  readonly #headers: { stream: Record<string, string>; json: Record<string, string> };

  /**
   * @param target - The upstream.
   * @param limits - Byte limits. @defaultValue {@link UPSTREAM_DEFAULTS}
   */
  constructor(
    private readonly target: UpstreamTarget,
    private readonly limits: UpstreamLimits = UPSTREAM_DEFAULTS,
  ) {
    const url = new URL(`${target.baseUrl.replace(/\/+$/, "")}/chat/completions`);
    this.#pool = new Pool(url.origin);
    this.#path = `${url.pathname}${url.search}`;
    const headers = {
      "content-type": "application/json",
      ...(target.apiKey === undefined ? {} : { authorization: `Bearer ${target.apiKey}` }),
    };
    this.#headers = {
      stream: { ...headers, accept: "text/event-stream" },
      json: { ...headers, accept: "application/json" },
    };
  }

  /**
   * A non-streamed completion.
   *
   * @param body - The request body (`stream` false).
   * @param signal - Aborts the request.
   * @returns The upstream's completion.
   */
  async complete(body: object, signal: AbortWatch): Promise<ChatCompletion> {
    const call = await this.#send(body, false, signal);
    try {
      const text = await call.text(this.limits.maxResponseBytes);
      if (text === undefined)
        throw new OpenAiError(
          "api_error",
          `the upstream's answer is over ${this.limits.maxResponseBytes} bytes`,
          { status: 502, code: "upstream_too_large" },
        );
      return parseJson<ChatCompletion>(text);
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
  async *stream(body: object, signal: AbortWatch): AsyncGenerator<UpstreamChunk> {
    for await (const texts of this.streamText(body, signal))
      for (const text of texts) {
        const chunk = parseJson<UpstreamChunk>(text);
        chunk[RAW_CHUNK] = text;
        yield chunk;
      }
  }

  /**
   * A streamed completion as the upstream's chunk texts, unparsed (an error event is parsed, and a
   * finish reason is recognised in the text). The chunks that arrived together come as one batch.
   *
   * @param body - The request body (`stream` true).
   * @param signal - Aborts the request.
   * @returns Batches of chunk JSON texts, as the upstream sent them.
   * @throws {@link OpenAiError} as {@link UpstreamClient.stream}.
   */
  async *streamText(body: object, signal: AbortWatch): AsyncGenerator<string[]> {
    for await (const events of this.streamEvents(body, signal)) yield eventData(events);
  }

  /**
   * A streamed completion as server-sent events ready to pass on (`data: <chunk>\n\n` each,
   * without `[DONE]`): what a proxy forwards. Each batch is what one read of the upstream
   * connection gave (or several, when the consumer was slower), mostly the upstream's own bytes.
   *
   * @param body - The request body (`stream` true).
   * @param signal - Aborts the request.
   * @returns Batches of framed events.
   * @throws {@link OpenAiError} as {@link UpstreamClient.stream}, after the events that came before
   * an error event.
   */
  async *streamEvents(body: object, signal: AbortWatch): AsyncGenerator<Buffer | string> {
    const call = await this.#send(body, true, signal);
    try {
      if (!String(call.headers["content-type"] ?? "").includes("text/event-stream")) {
        // An upstream that ignored `stream: true`: its whole answer, as one chunk per choice.
        const text = await call.text(this.limits.maxResponseBytes);
        if (text === undefined)
          throw new OpenAiError("api_error", "the upstream's answer is too large", { status: 502 });
        let events = "";
        for (const chunk of asChunks(parseJson<ChatCompletion>(text)))
          events += `data: ${JSON.stringify(chunk)}\n\n`;
        yield events;
        return;
      }
      const events = new UpstreamEvents(this.limits.maxEventChars);
      for (let bytes = await call.next(); bytes !== undefined; bytes = await call.next()) {
        // Read to the end even after [DONE]: the connection is then reused.
        if (events.done) continue;
        const batch = events.push(bytes);
        if (batch.events.length > 0) yield batch.events;
        if (batch.failure !== undefined) throw batch.failure;
      }
      if (!events.done && !events.finished)
        throw new OpenAiError("api_error", "the upstream's stream ended before the answer did", {
          status: 502,
          code: "upstream_incomplete",
        });
    } catch (error) {
      throw call.failure(error);
    } finally {
      call.done();
    }
  }

  /** Closes the upstream connections. */
  close(): void {
    this.#pool.destroy().catch(() => {});
  }

  /** Sends the request; resolves with a 2xx response, or rejects with the upstream's error. */
  async #send(body: object, stream: boolean, signal: AbortWatch): Promise<UpstreamCall> {
    const call = new UpstreamCall(this.target.timeoutMs, signal, this.limits.maxBufferedBytes);
    this.#pool.dispatch(
      {
        path: this.#path,
        method: "POST",
        headers: withTraceparent(stream ? this.#headers.stream : this.#headers.json),
        body: JSON.stringify(body),
        // The call's own timer bounds the whole request.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      call,
    );
    try {
      await call.started;
    } catch (error) {
      call.done();
      throw call.failure(error);
    }
    if (call.status >= 200 && call.status < 300) return call;
    try {
      const text = await call.text(this.limits.maxErrorBytes, true);
      const retryAfter = call.headers["retry-after"];
      throw upstreamError(call.status, text ?? "", retryAfter);
    } catch (error) {
      throw call.failure(error);
    } finally {
      call.done();
    }
  }
}

/**
 * One request to the upstream, as an `undici` dispatch handler: its answer's bytes are queued as
 * they come and handed to the consumer by {@link UpstreamCall.next}, the bytes of one connection
 * read at once (handed over in a microtask, so no later than the read's own callback). Past
 * `maxBufferedBytes` queued the connection is paused until the consumer takes them.
 */
class UpstreamCall implements Dispatcher.DispatchHandler {
  status = 0;
  headers: IncomingHttpHeaders = {};
  /** Settles when the answer's head arrived (or the request failed before). */
  readonly started: Promise<void>;
  #start!: { resolve: () => void; reject: (error: unknown) => void };
  #controller: Dispatcher.DispatchController | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #ended = false;
  #error: unknown;
  #waiter: { resolve: (bytes: Buffer | undefined) => void; reject: (error: unknown) => void } | undefined;
  #scheduled = false;
  #abortReason: Error | undefined;
  #timedOut = false;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = () => this.#abort(new Error("aborted"));

  constructor(
    private readonly timeoutMs: number,
    private readonly signal: AbortWatch,
    private readonly maxBufferedBytes: number,
  ) {
    this.started = new Promise((resolve, reject) => {
      this.#start = { resolve, reject };
    });
    // Handled by #send; a failure after the start is reported by next().
    this.started.catch(() => {});
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#abort(new Error("timed out"));
    }, timeoutMs);
    if (signal.aborted) this.#abortReason = new Error("aborted");
    else signal.addEventListener("abort", this.#onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.status = statusCode;
    this.headers = headers;
    this.#start.resolve();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size > this.maxBufferedBytes && !controller.paused) controller.pause();
    this.#schedule();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#schedule();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#error = error;
    this.#start.reject(error);
    this.#schedule();
  }

  /**
   * The answer's next bytes: all that arrived since the last call, or (when none did) those of the
   * next read; `undefined` at its end.
   *
   * @throws the connection's error.
   */
  next(): Promise<Buffer | undefined> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#take());
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /**
   * The whole answer as text.
   *
   * @param maxBytes - Past it: `undefined`, or with `truncate` its first `maxBytes`.
   */
  async text(maxBytes: number, truncate = false): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let bytes = await this.next(); bytes !== undefined; bytes = await this.next()) {
      size += bytes.length;
      if (size > maxBytes) {
        this.#abort(new Error("too large"));
        if (!truncate) return undefined;
        chunks.push(bytes.subarray(0, bytes.length - (size - maxBytes)));
        break;
      }
      chunks.push(bytes);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  /** Ends the call: stops its timer, and aborts the request if its answer did not end. */
  done(): void {
    clearTimeout(this.#timer);
    this.signal.removeEventListener("abort", this.#onAbort);
    if (!this.#ended && this.#error === undefined) this.#abort(new Error("left before the end"));
  }

  /** The failure to report for `error`, in OpenAI's shape. */
  failure(error: unknown): OpenAiError {
    if (error instanceof OpenAiError) return error;
    if (this.#timedOut)
      return new OpenAiError("api_error", `the upstream did not answer within ${this.timeoutMs} ms`, {
        status: 504,
        code: "upstream_timeout",
        cause: error,
      });
    if (this.signal.aborted)
      return new OpenAiError("api_error", "the request was aborted", { code: "aborted", cause: error });
    return new OpenAiError("api_error", "the upstream could not be reached or broke off", {
      status: 502,
      code: "upstream_unreachable",
      cause: error,
    });
  }

  #take(): Buffer {
    const bytes = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    this.#size = 0;
    if (this.#controller?.paused === true) this.#controller.resume();
    return bytes;
  }

  #abort(reason: Error): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#abortReason ??= reason;
    if (this.#controller === undefined) {
      // Not sent yet: it is aborted when it is (onRequestStart); the caller need not wait for it.
      this.#error = reason;
      this.#start.reject(reason);
      this.#schedule();
    } else this.#controller.abort(reason);
  }

  /** Hands what arrived to a waiting consumer once the current read is over. */
  #schedule(): void {
    if (this.#scheduled || this.#waiter === undefined) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      const waiter = this.#waiter;
      if (waiter === undefined) return;
      if (this.#chunks.length > 0) waiter.resolve(this.#take());
      else if (this.#error !== undefined) waiter.reject(this.#error);
      else if (this.#ended) waiter.resolve(undefined);
      else return;
      this.#waiter = undefined;
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

/**
 * The request's headers with the W3C `traceparent` of the active span (the agent run's), so that
 * an upstream model server that traces joins the gateway's trace; the headers as they are without
 * tracing.
 */
function withTraceparent(headers: Record<string, string>): Record<string, string> {
  const traceparent = currentTraceparent();
  return traceparent === undefined ? headers : { ...headers, traceparent };
}
