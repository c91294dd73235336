import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentConfig } from "@openclaw/config";
import type { NodeRegistry } from "@openclaw/node-registry";
import { AgentRunResultSchema, type ErrorCode, ProtocolError } from "@openclaw/protocol";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import * as v from "valibot";
import { requireNode } from "./nodes";
import { ChunkEncoder } from "./openai/ChunkEncoder";
import { invalidParam, OpenAiError, toOpenAiError } from "./openai/errors";
import { type ChatRequest, type ChatRequestMessage, firstNonTextPart, textOf } from "./openai/params";
import { type AbortWatch, UpstreamClient } from "./openai/upstream";
import { currentTraceparent } from "./telemetry/tracing";

/** One chat message, as the WebSocket `agent.run` and channel conversations give it. */
export interface ChatTurn {
  role: string;
  content: string;
}

/** What an agent run needs besides the agent. */
export interface AgentRunContext {
  registry: NodeRegistry;
  /** Subscribes to a node's `agent.chunk` events for one run; returns the unsubscribe. */
  onChunks(runId: string, listener: (delta: string, done: boolean) => void): () => void;
  /** Aborted when the caller goes away: the upstream request (or the node's run) stops too. */
  signal: AbortSignal;
  /**
   * The same as {@link AgentRunContext.signal} without making one, when the caller has something
   * cheaper (the `/v1` routes: a signal costs a few µs a request); upstream agents watch it.
   */
  abortWatch?: AbortWatch;
}

/** A streamed chat completion chunk, in OpenAI's format. */
export type ChatChunk = ChatCompletionChunk;
/** A whole chat completion, in OpenAI's format. */
export type ChatResult = ChatCompletion;

/**
 * One agent behind the OpenAI-compatible API. Every provider speaks OpenAI's chat format: an
 * upstream passes requests and answers through unchanged; the built-in `echo` agent and node-hosted
 * agents honour what they can (`max_tokens`, `stop`, `n` for echo, tools for nodes) and refuse the
 * rest with a 400 naming the parameter.
 */
export interface ChatAgent {
  /** The agent's name, as clients ask for it (`model`). */
  readonly name: string;
  /**
   * Refuses, before anything runs, a request this agent cannot honour.
   *
   * @throws {@link OpenAiError} 400 `invalid_request_error` naming the parameter.
   */
  check(request: ChatRequest): void;
  /**
   * Streams the completion as OpenAI's chunks. The last chunk carries `usage` (with `choices: []`)
   * when `stream_options.include_usage` is set.
   */
  stream(request: ChatRequest, context: AgentRunContext): AsyncGenerator<ChatChunk>;
  /** The whole completion. */
  complete(request: ChatRequest, context: AgentRunContext): Promise<ChatResult>;
  /**
   * The streamed chunks as batches of JSON texts, when the agent has them as text already (an
   * upstream's own chunks, forwarded unparsed); {@link ChatAgent.stream} otherwise.
   */
  streamText?(request: ChatRequest, context: AgentRunContext): AsyncGenerator<string[]>;
  /**
   * The streamed chunks as server-sent events ready to send (`data: <chunk>\n\n` each, no
   * `[DONE]`), when the agent has them framed already (an upstream's own event bytes, passed on);
   * preferred over {@link ChatAgent.streamText} and {@link ChatAgent.stream}.
   */
  streamEvents?(request: ChatRequest, context: AgentRunContext): AsyncGenerator<Buffer | string>;
}

/**
 * The {@link ChatAgent} for an agent's config.
 *
 * @param agent - The agent's config.
 * @param name - Its name (`model` in requests).
 * @returns The agent.
 */
export function chatAgent(agent: AgentConfig, name: string): ChatAgent {
  if (agent.provider === "openai") return upstreamAgent(agent, name);
  return builtInAgent(agent, name);
}

/**
 * Runs an agent and yields its text as it is produced: the WebSocket `agent.run` and channel
 * conversations use it. Failures are the protocol's typed errors.
 *
 * @param agent - The agent's config.
 * @param name - The agent's name (for errors).
 * @param turns - The conversation; the last user turn is the input.
 * @param context - Registry, chunk subscription and abort signal.
 * @returns The text deltas, in order.
 */
export async function* streamAgent(
  agent: AgentConfig,
  name: string,
  turns: readonly ChatTurn[],
  context: AgentRunContext,
): AsyncGenerator<string> {
  const runner = chatAgent(agent, name);
  const request = { model: name, messages: turns } as ChatRequest;
  try {
    runner.check(request);
    for await (const chunk of runner.stream(request, context)) {
      const content = chunk.choices[0]?.delta.content;
      if (typeof content === "string" && content !== "") yield content;
    }
  } catch (error) {
    if (context.signal.aborted) return;
    throw toProtocol(error, name);
  }
}

/** An agent failure as the WebSocket protocol's typed error. */
function toProtocol(error: unknown, name: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const failure = toOpenAiError(error);
  const code: ErrorCode =
    failure.status === 429
      ? "RATE_LIMITED"
      : failure.status === 504
        ? "TIMEOUT"
        : failure.status === 404
          ? "NOT_FOUND"
          : failure.status < 500
            ? "INVALID_PARAMS"
            : "CHANNEL_UNAVAILABLE";
  return new ProtocolError(code, `agent ${name}: ${failure.message}`, {
    details: { reason: failure.code ?? failure.type, status: failure.status },
    cause: error,
  });
}

// ---------------------------------------------------------------------------------------------
// Upstream: a transparent proxy (undici, the upstream's event bytes passed on).

/** One client per agent config object: a config reload makes new objects, hence new clients. */
const clients = new WeakMap<object, UpstreamClient>();

function upstreamClient(agent: Extract<AgentConfig, { provider: "openai" }>): UpstreamClient {
  let client = clients.get(agent);
  if (client === undefined) {
    client = new UpstreamClient({ baseUrl: agent.baseUrl, apiKey: agent.apiKey, timeoutMs: agent.timeoutMs });
    clients.set(agent, client);
  }
  return client;
}

function upstreamAgent(agent: Extract<AgentConfig, { provider: "openai" }>, name: string): ChatAgent {
  return {
    name,
    check() {},
    stream(request, context) {
      return upstreamClient(agent).stream(
        { ...request, model: agent.model, stream: true },
        context.abortWatch ?? context.signal,
      );
    },
    streamEvents(request, context) {
      return upstreamClient(agent).streamEvents(
        { ...request, model: agent.model, stream: true },
        context.abortWatch ?? context.signal,
      );
    },
    complete(request, context) {
      return upstreamClient(agent).complete(
        { ...request, model: agent.model, stream: false },
        context.abortWatch ?? context.signal,
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Built-in (echo) and node-hosted agents.

/** What a node's `agent.run` result may add to `output` (see the protocol's README). */
const NodeResultSchema = v.looseObject({
  output: v.optional(v.string()),
  toolCalls: AgentRunResultSchema.entries.toolCalls,
  finishReason: AgentRunResultSchema.entries.finishReason,
  usage: AgentRunResultSchema.entries.usage,
});

type NodeResult = v.InferOutput<typeof NodeResultSchema>;
type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

/** How a built-in run ended besides its text: tool calls, a finish reason, counted usage. */
interface RunEnd {
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  finishReason?: FinishReason;
  usage?: { promptTokens: number; completionTokens: number };
}

function builtInAgent(agent: Extract<AgentConfig, { provider: "echo" | "node" }>, name: string): ChatAgent {
  const isNode = agent.provider === "node";
  const self: ChatAgent = {
    name,
    check(request) {
      const part = firstNonTextPart(request.messages);
      if (part !== undefined)
        throw invalidParam(
          part,
          `agent ${name} takes text only (no images, audio or files)`,
          "unsupported_content",
        );
      if (request.logprobs === true)
        throw invalidParam("logprobs", `agent ${name} does not return logprobs`, "unsupported_parameter");
      const format = request.response_format?.type;
      if (format !== undefined && format !== "text")
        throw invalidParam("response_format", `agent ${name} answers text only`, "unsupported_parameter");
      if (isNode && (request.n ?? 1) > 1)
        throw invalidParam("n", `agent ${name} returns one choice (n must be 1)`, "unsupported_parameter");
      const choice = request.tool_choice;
      if (!isNode && (choice === "required" || (typeof choice === "object" && choice !== null)))
        throw invalidParam("tool_choice", `agent ${name} cannot call tools`, "unsupported_parameter");
      if (!isNode && lastUserText(request.messages) === "")
        throw invalidParam("messages", "the last user message has no text", "empty_input");
    },
    async *stream(request, context) {
      const chunks = new ChunkBuilder(request, name);
      // Echo's pieces are there at once: read synchronously, without a promise per piece.
      const echoed = isNode ? undefined : echo(request);
      const source = isNode
        ? runOnNode(agent as Extract<AgentConfig, { provider: "node" }>, request, context)
        : undefined;
      let end: RunEnd = {};
      let started = false;
      const delayMs = agent.provider === "echo" ? (agent.delayMs ?? 0) : 0;
      for (;;) {
        if (delayMs > 0 && started) await sleep(delayMs, undefined, { signal: context.signal });
        const step = echoed !== undefined ? echoed.next() : await source!.next();
        if (!started) {
          started = true;
          yield chunks.start();
        }
        if (step.done) {
          end = step.value;
          break;
        }
        const chunk = chunks.text(step.value);
        if (chunk !== undefined) yield chunk;
        if (chunks.cut) {
          await source?.return({});
          break;
        }
      }
      yield* chunks.finish(end);
    },
    async complete(request, context) {
      return collectCompletion(self.stream({ ...request, stream_options: { include_usage: true } }, context));
    },
  };
  // Echo's whole answer is there at once: its chunks are built and encoded in one go, one batch.
  if (agent.provider === "echo" && (agent.delayMs ?? 0) === 0)
    self.streamText = (request) => oneBatch(echoTexts(request, name));
  return self;
}

/** Echo's streamed chunks as JSON texts, built synchronously. */
function echoTexts(request: ChatRequest, name: string): string[] {
  const chunks = new ChunkBuilder(request, name);
  const encoder = new ChunkEncoder();
  const texts = [encoder.text(chunks.start())];
  for (const piece of echoPieces(request)) {
    const chunk = chunks.text(piece);
    if (chunk !== undefined) texts.push(encoder.text(chunk));
    if (chunks.cut) break;
  }
  for (const chunk of chunks.finish({})) texts.push(encoder.text(chunk));
  return texts;
}

/** An async generator of one batch. */
async function* oneBatch(batch: string[]): AsyncGenerator<string[]> {
  yield batch;
}

/**
 * The chunks of one streamed answer of a built-in agent, in OpenAI's format: the role chunk, text
 * cut by `stop` and `max_tokens`, tool calls, the finish reason, and usage when asked for. `n`
 * choices carry the same text.
 */
class ChunkBuilder {
  readonly #id = `chatcmpl-${randomUUID()}`;
  readonly #created = Math.floor(Date.now() / 1000);
  readonly #n: number;
  readonly #limits: TextLimits;

  constructor(
    private readonly request: ChatRequest,
    private readonly model: string,
  ) {
    this.#n = request.n ?? 1;
    this.#limits = new TextLimits(request);
  }

  /** Whether `stop` or `max_tokens` has ended the text. */
  get cut(): boolean {
    return this.#limits.finish !== undefined;
  }

  /** The first chunk: the role. */
  start(): ChatChunk {
    return this.#all({ role: "assistant", content: "" }, null);
  }

  /** A piece of text, as far as the limits let it through; `undefined` when nothing is. */
  text(piece: string): ChatChunk | undefined {
    const text = this.#limits.push(piece);
    return text === "" ? undefined : this.#all({ content: text }, null);
  }

  /** What follows the text: its held-back tail, tool calls, the finish reason, usage. */
  *finish(end: RunEnd): Generator<ChatChunk> {
    const limits = this.#limits;
    const tail = limits.end();
    if (tail !== "") yield this.#all({ content: tail }, null);
    const toolCalls = limits.finish === undefined ? (end.toolCalls ?? []) : [];
    for (const [index, call] of toolCalls.entries())
      yield this.#all(
        {
          tool_calls: [
            {
              index,
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments },
            },
          ],
        },
        null,
      );
    const finish = limits.finish ?? (toolCalls.length > 0 ? "tool_calls" : (end.finishReason ?? "stop"));
    yield this.#all({}, finish);
    if (this.request.stream_options?.include_usage === true) {
      const promptTokens = end.usage?.promptTokens ?? countMessageTokens(this.request.messages);
      const completionTokens =
        (end.usage?.completionTokens ?? limits.tokens) * (end.usage === undefined ? this.#n : 1);
      yield {
        ...this.#chunk([]),
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      };
    }
  }

  #chunk(choices: ChatChunk["choices"]): ChatChunk {
    return {
      id: this.#id,
      object: "chat.completion.chunk",
      created: this.#created,
      model: this.model,
      choices,
    };
  }

  #all(delta: ChatChunk["choices"][number]["delta"], finish: FinishReason | null): ChatChunk {
    if (this.#n === 1) return this.#chunk([{ index: 0, delta, finish_reason: finish, logprobs: null }]);
    return this.#chunk(
      Array.from({ length: this.#n }, (_, index) => ({
        index,
        delta,
        finish_reason: finish,
        logprobs: null,
      })),
    );
  }
}

/** The echo agent: the last user message back, a word (and its trailing space) at a time. */
function* echo(request: ChatRequest): Generator<string, RunEnd> {
  yield* echoPieces(request);
  return {};
}

/** The pieces echo answers with: each word with its trailing space. */
function echoPieces(request: ChatRequest): string[] {
  return lastUserText(request.messages).match(/\S+\s*|\s+/g) ?? [];
}

function lastUserText(messages: readonly ChatRequestMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]!.role === "user") return textOf(messages[i]!.content);
  return "";
}

/** An agent on a node: `agent.run` with the conversation and tools, its `agent.chunk` events, then its result. */
async function* runOnNode(
  agent: Extract<AgentConfig, { provider: "node" }>,
  request: ChatRequest,
  context: AgentRunContext,
): AsyncGenerator<string, RunEnd> {
  const node = requireNode(context.registry, agent.node, "agent.run");
  const runId = randomUUID();
  const messages = request.messages.map((message) => ({ ...message, content: textOf(message.content) }));
  const input =
    lastUserText(request.messages) ||
    [...messages].reverse().find((message) => message.content !== "")?.content ||
    "";
  if (input === "") throw invalidParam("messages", "the conversation has no text", "empty_input");
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let streamed = false;
  const unsubscribe = context.onChunks(runId, (delta, done) => {
    if (delta !== "") queue.push(delta);
    if (done) finished = true;
    wake?.();
  });
  const params: Record<string, unknown> = { input, stream: true, runId, messages };
  if (request.tools != null) params.tools = request.tools;
  if (request.tool_choice != null) params.toolChoice = request.tool_choice;
  const call = context.registry
    .invoke(node.nodeId, "agent.run", params, {
      timeoutMs: agent.timeoutMs,
      signal: context.signal,
      // The agent run's trace context: the node's spans join it.
      traceparent: currentTraceparent(),
    })
    .then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    .finally(() => {
      finished = true;
      wake?.();
    });
  try {
    for (;;) {
      while (queue.length > 0) {
        streamed = true;
        yield queue.shift()!;
      }
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    const outcome = await call;
    while (queue.length > 0) {
      streamed = true;
      yield queue.shift()!;
    }
    if (!outcome.ok) {
      if (context.signal.aborted)
        throw new OpenAiError("api_error", "the request was aborted", { code: "aborted" });
      throw outcome.error;
    }
    const parsed = v.safeParse(NodeResultSchema, outcome.result ?? {});
    if (!parsed.success)
      throw new OpenAiError(
        "api_error",
        `agent ${agent.node ?? "on a node"} answered with a malformed result`,
        {
          status: 502,
          code: "node_bad_result",
        },
      );
    const result: NodeResult = parsed.output;
    // A node that does not stream answers with the whole output.
    if (!streamed && result.output !== undefined && result.output !== "") yield result.output;
    const end: RunEnd = {};
    if (result.toolCalls !== undefined && result.toolCalls.length > 0)
      end.toolCalls = result.toolCalls.map((call) => ({
        id: call.id ?? `call_${randomUUID().replaceAll("-", "")}`,
        name: call.name,
        arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {}),
      }));
    if (result.finishReason !== undefined) end.finishReason = result.finishReason;
    if (result.usage !== undefined) end.usage = result.usage;
    return end;
  } finally {
    unsubscribe();
  }
}

/** Tokens as the built-in agents count them: words. */
export function countTokens(text: string): number {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = isSpace(text.charCodeAt(i));
    if (!space && !inWord) count++;
    inWord = !space;
  }
  return count;
}

/**
 * The tokens of the messages' text as one text of them all, separated by spaces, would count, counted
 * message by message (no joined copy of a large input is made).
 */
function countMessageTokens(messages: readonly ChatRequestMessage[]): number {
  let count = 0;
  for (const message of messages) count += countTokens(textOf(message.content));
  return count;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 160 || code === 0x2028 || code === 0x2029;
}

/**
 * `stop` and `max_tokens` applied to streamed text: the text is cut before the first stop sequence
 * (a possible start of one is held back until it is decided) or before the word past the limit.
 */
class TextLimits {
  /** Why the text was cut, once it was. */
  finish: "stop" | "length" | undefined;
  /** Words let through. */
  tokens = 0;
  readonly #stops: string[];
  readonly #maxTokens: number;
  #held = "";
  #inWord = false;

  constructor(request: ChatRequest) {
    const stop = request.stop;
    this.#stops = stop == null ? [] : typeof stop === "string" ? (stop === "" ? [] : [stop]) : stop;
    this.#maxTokens = request.max_completion_tokens ?? request.max_tokens ?? Number.POSITIVE_INFINITY;
  }

  /** The part of `delta` that may be sent now. */
  push(delta: string): string {
    if (this.finish !== undefined) return "";
    if (this.#stops.length === 0) return this.#count(delta);
    const text = this.#held + delta;
    let cut = -1;
    for (const stop of this.#stops) {
      const at = text.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.#held = "";
      const out = this.#count(text.slice(0, cut));
      this.finish ??= "stop";
      return out;
    }
    let hold = 0;
    for (const stop of this.#stops)
      for (let k = Math.min(stop.length - 1, text.length); k > hold; k--)
        if (text.endsWith(stop.slice(0, k))) {
          hold = k;
          break;
        }
    this.#held = text.slice(text.length - hold);
    return this.#count(text.slice(0, text.length - hold));
  }

  /** What was held back, at the end of the text. */
  end(): string {
    const held = this.#held;
    this.#held = "";
    return this.finish === undefined ? this.#count(held) : "";
  }

  #count(text: string): string {
    if (this.#maxTokens === Number.POSITIVE_INFINITY) {
      this.tokens +=
        countTokens(text) - (this.#inWord && text !== "" && !isSpace(text.charCodeAt(0)) ? 1 : 0);
      if (text !== "") this.#inWord = !isSpace(text.charCodeAt(text.length - 1));
      return text;
    }
    for (let i = 0; i < text.length; i++) {
      const space = isSpace(text.charCodeAt(i));
      if (!space && !this.#inWord) {
        if (this.tokens === this.#maxTokens) {
          this.finish = "length";
          return text.slice(0, i);
        }
        this.tokens++;
      }
      this.#inWord = !space;
    }
    return text;
  }
}

/**
 * A streamed completion gathered into a whole one: each choice's text, tool calls (by `index`),
 * finish reason, and the usage chunk.
 *
 * @param chunks - The stream.
 * @returns The completion.
 */
export async function collectCompletion(chunks: AsyncIterable<ChatChunk>): Promise<ChatResult> {
  let head: ChatChunk | undefined;
  let usage: ChatResult["usage"];
  const choices = new Map<
    number,
    {
      content: string;
      finish: ChatResult["choices"][number]["finish_reason"] | null;
      tools: Map<number, { id: string; name: string; arguments: string }>;
    }
  >();
  for await (const chunk of chunks) {
    head ??= chunk;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      let into = choices.get(choice.index);
      if (into === undefined) {
        into = { content: "", finish: null, tools: new Map() };
        choices.set(choice.index, into);
      }
      if (typeof choice.delta.content === "string") into.content += choice.delta.content;
      for (const call of choice.delta.tool_calls ?? []) {
        const tool = into.tools.get(call.index) ?? { id: "", name: "", arguments: "" };
        if (call.id) tool.id = call.id;
        if (call.function?.name) tool.name += call.function.name;
        if (call.function?.arguments) tool.arguments += call.function.arguments;
        into.tools.set(call.index, tool);
      }
      if (choice.finish_reason) into.finish = choice.finish_reason;
    }
  }
  const result: ChatResult = {
    id: head?.id ?? `chatcmpl-${randomUUID()}`,
    object: "chat.completion",
    created: head?.created ?? Math.floor(Date.now() / 1000),
    model: head?.model ?? "",
    choices: [...choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, choice]) => ({
        index,
        // OpenAI also sends `refusal: null`; left out, as the gateway never refuses that way.
        message: {
          role: "assistant",
          content: choice.tools.size > 0 && choice.content === "" ? null : choice.content,
          ...(choice.tools.size === 0
            ? {}
            : {
                tool_calls: [...choice.tools.values()].map((tool) => ({
                  id: tool.id,
                  type: "function" as const,
                  function: { name: tool.name, arguments: tool.arguments },
                })),
              }),
        },
        finish_reason: choice.finish ?? "stop",
        logprobs: null,
      })) as ChatResult["choices"],
  };
  if (usage !== undefined) result.usage = usage;
  return result;
}
