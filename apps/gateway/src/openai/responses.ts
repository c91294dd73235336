import { hash, randomUUID } from "node:crypto";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import {
  fitsResponseStore,
  InMemoryResponseStore,
  RESPONSE_STORE_DEFAULTS,
  type ResponseStoreOptions,
  type StoredResponse,
  storedBytes,
} from "@openclaw/backend";
import { OPENAI_DEFAULTS } from "@openclaw/config";
import type { Context } from "hono";
import * as v from "valibot";
import type { ChatChunk } from "../agents";
import { bearerToken } from "../auth/guards";
import { readJsonBody } from "./body";
import { invalidParam, OpenAiError, toOpenAiError } from "./errors";
import { ClientGone, nodeOf, type OpenAiHost, resolveAgent, runContext } from "./host";
import { meteredAgent } from "./metered";
import { type ChatRequestMessage, issueError, parseChatRequest } from "./params";
import { SseWriter } from "./sse";

const TextPartSchema = v.looseObject({
  type: v.picklist(["input_text", "output_text", "text"]),
  text: v.string(),
});

/** One item of `input`: a message, a function call the model made, or its output. */
const InputItemSchema = v.variant("type", [
  v.looseObject({
    type: v.optional(v.literal("message"), "message"),
    role: v.picklist(["user", "assistant", "system", "developer"]),
    content: v.union([v.string(), v.array(v.looseObject({ type: v.string() }))]),
  }),
  v.looseObject({
    type: v.literal("function_call"),
    call_id: v.pipe(v.string(), v.minLength(1)),
    name: v.pipe(v.string(), v.minLength(1)),
    arguments: v.string(),
  }),
  v.looseObject({
    /** An output item of a stored response, by its id (what clients send when `store` is on). */
    type: v.literal("item_reference"),
    id: v.pipe(v.string(), v.minLength(1)),
  }),
  v.looseObject({
    type: v.literal("function_call_output"),
    call_id: v.pipe(v.string(), v.minLength(1)),
    output: v.union([v.string(), v.array(TextPartSchema)]),
  }),
]);

const num = (min: number, max: number) =>
  v.optional(v.nullable(v.pipe(v.number(), v.minValue(min), v.maxValue(max))));

/** `POST /v1/responses`, checked against OpenAI's documented types and ranges. */
export const ResponsesRequestSchema = v.looseObject({
  model: v.pipe(v.string(), v.minLength(1, "model is required (it names an agent)")),
  input: v.optional(v.union([v.string(), v.array(InputItemSchema)])),
  instructions: v.optional(v.nullable(v.string())),
  previous_response_id: v.optional(v.nullable(v.string())),
  stream: v.optional(v.nullable(v.boolean())),
  store: v.optional(v.nullable(v.boolean())),
  temperature: num(0, 2),
  top_p: num(0, 1),
  max_output_tokens: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1)))),
  parallel_tool_calls: v.optional(v.nullable(v.boolean())),
  tools: v.optional(
    v.pipe(
      v.array(
        v.looseObject({
          type: v.literal("function"),
          name: v.pipe(
            v.string(),
            v.regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 of a-z, A-Z, 0-9, '_' or '-'"),
          ),
          description: v.optional(v.nullable(v.string())),
          parameters: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
          strict: v.optional(v.nullable(v.boolean())),
        }),
      ),
      v.maxLength(128),
    ),
  ),
  tool_choice: v.optional(
    v.union([
      v.picklist(["none", "auto", "required"]),
      v.looseObject({ type: v.literal("function"), name: v.string() }),
    ]),
  ),
  metadata: v.optional(v.nullable(v.record(v.string(), v.string()))),
  user: v.optional(v.nullable(v.string())),
});

type ResponsesRequest = v.InferOutput<typeof ResponsesRequestSchema>;

/** An output item of a response. */
type OutputItem =
  | {
      type: "message";
      id: string;
      status: "in_progress" | "completed" | "incomplete";
      role: "assistant";
      content: Array<{ type: "output_text"; text: string; annotations: unknown[]; logprobs: unknown[] }>;
    }
  | {
      type: "function_call";
      id: string;
      call_id: string;
      name: string;
      arguments: string;
      status: "in_progress" | "completed" | "incomplete";
    };

/** A Responses API `response` object. */
interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: "in_progress" | "completed" | "incomplete" | "failed";
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  store: boolean;
  temperature: number | null;
  top_p: number | null;
  text: { format: { type: "text" } };
  tool_choice: unknown;
  tools: unknown[];
  truncation: "disabled";
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  } | null;
  metadata: Record<string, string>;
  user?: string;
}

/**
 * The principal a `/v1` request acts as: an opaque digest of its Bearer token (the auth middleware
 * has checked it). Stored responses belong to it; a rotated token starts with none.
 */
function principalOf(c: Context): string {
  const token = bearerToken(nodeOf(c).incoming.headers.authorization) ?? "";
  return hash("sha256", `openclaw-responses\0${token}`, "hex").slice(0, 32);
}

/**
 * The Responses API on top of the chat agents: `POST /v1/responses` (plain or streamed, with
 * `instructions`, `input` as text or items, function tools and `function_call_output` items, and
 * `previous_response_id`) and `GET /v1/responses/{id}`. Responses are stored (unless `store:
 * false`) in the host's {@link ResponseStore} (in memory when it has none), bounded by
 * `openai.responses` (count, age, bytes in total and per principal), and belong to the token that
 * made them: another token's request finds nothing. The input, once `previous_response_id` and
 * `item_reference` items are expanded, is bounded by `openai.responses.maxExpandedInputChars`.
 *
 * @param host - The gateway.
 * @returns The two handlers.
 */
export function createResponses(host: OpenAiHost) {
  const limits = (): ResponseStoreOptions => ({
    ...RESPONSE_STORE_DEFAULTS,
    ...host.config().openai?.responses,
  });
  const store = host.responseStore ?? new InMemoryResponseStore(limits);

  async function create(c: Context): Promise<Response> {
    const config = host.config();
    const { incoming, outgoing } = nodeOf(c);
    const body = await readJsonBody(incoming, outgoing, config.gateway.maxBodyBytes);
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw invalidParam(null, "the request body must be a JSON object", "invalid_body");
    const parsed = v.safeParse(ResponsesRequestSchema, body);
    if (!parsed.success) throw issueError(parsed.issues);
    const request = parsed.output;
    const principal = principalOf(c);
    const budget = new InputBudget(
      host.config().openai?.responses?.maxExpandedInputChars ??
        OPENAI_DEFAULTS.responsesMaxExpandedInputChars,
    );
    budget.take(request.instructions?.length ?? 0);
    let history: ChatRequestMessage[] = [];
    if (request.previous_response_id != null) {
      const stored = await store.get(principal, request.previous_response_id);
      const previous =
        stored === undefined ? undefined : parseStored<ChatRequestMessage[]>(stored.messages, Array.isArray);
      if (previous === undefined)
        throw new OpenAiError(
          "not_found_error",
          `Previous response with id '${request.previous_response_id}' not found.`,
          {
            param: "previous_response_id",
            code: "previous_response_not_found",
          },
        );
      history = previous;
      budget.take(charsOf(history));
    }
    const items = await referencedItems(principal, request.input ?? []);
    const input = toMessages(request.input ?? [], items, budget);
    const conversation = [...history, ...input];
    const chat = parseChatRequest({
      model: request.model,
      messages:
        request.instructions == null
          ? conversation
          : [{ role: "system", content: request.instructions }, ...conversation],
      stream: true,
      stream_options: { include_usage: true },
      ...(request.temperature == null ? {} : { temperature: request.temperature }),
      ...(request.top_p == null ? {} : { top_p: request.top_p }),
      ...(request.max_output_tokens == null ? {} : { max_completion_tokens: request.max_output_tokens }),
      ...(request.parallel_tool_calls == null ? {} : { parallel_tool_calls: request.parallel_tool_calls }),
      ...(request.user == null ? {} : { user: request.user }),
      ...(request.tools === undefined || request.tools.length === 0
        ? {}
        : {
            tools: request.tools.map(({ type: _, name, description, parameters, strict }) => ({
              type: "function",
              function: {
                name,
                ...(description == null ? {} : { description }),
                ...(parameters == null ? {} : { parameters }),
                ...(strict == null ? {} : { strict }),
              },
            })),
          }),
      ...(request.tool_choice === undefined
        ? {}
        : {
            tool_choice:
              typeof request.tool_choice === "string"
                ? request.tool_choice
                : { type: "function", function: { name: request.tool_choice.name } },
          }),
    });
    const agent = meteredAgent(resolveAgent(config, request.model), host.metrics);
    agent.check(chat);
    const gone = new ClientGone(outgoing);
    const context = runContext(host, gone);
    const chunks = agent.stream(chat, context);
    // Start the agent before answering, so that an immediate failure is a plain JSON error.
    const first = await chunks.next();
    const builder = new ResponseBuilder(request);
    // Called before the final event: a response too large to store says `store: false`.
    let toStore: StoredResponse | undefined;
    const keep = (response: ResponseObject) => {
      if (!response.store) return;
      const stored: StoredResponse = {
        response: JSON.stringify(response),
        messages: JSON.stringify([...conversation, ...builder.messages()]),
        items: response.output.map((item) => item.id),
      };
      if (fitsResponseStore(storedBytes(stored), limits())) toStore = stored;
      else {
        response.store = false;
        host.logger.debug({ responseId: response.id }, "a response is too large to store; not stored");
      }
    };
    const save = async (response: ResponseObject) => {
      if (toStore === undefined) return;
      await store.put(principal, response.id, toStore).catch((error: unknown) => {
        // A plain answer (not sent yet) says so; a stream's final event has left already.
        response.store = false;
        host.logger.warn({ err: error, responseId: response.id }, "could not store a response");
      });
    };
    if (request.stream !== true) {
      for (let step = first; !step.done; step = await chunks.next()) builder.add(step.value);
      const response = builder.finish(keep);
      await save(response);
      return c.json(response);
    }
    const sse = new SseWriter(outgoing);
    const send = async (events: ResponseEvent[]) => {
      for (const event of events) await sse.send(JSON.stringify(event), event.type);
    };
    try {
      await send(builder.start());
      for (let step = first; !step.done; step = await chunks.next()) {
        if (sse.closed) {
          await chunks.return(undefined);
          return RESPONSE_ALREADY_SENT;
        }
        await send(builder.add(step.value));
      }
      const response = builder.finish(keep);
      await save(response);
      await send(builder.drain());
    } catch (error) {
      if (!gone.aborted) {
        const failure = toOpenAiError(error);
        host.logger.warn({ err: error, model: request.model }, "a streamed response failed");
        await send(builder.fail(failure));
      }
    } finally {
      sse.end();
    }
    return RESPONSE_ALREADY_SENT;
  }

  /**
   * The stored output items the input's `item_reference` items name (those `principal` can read),
   * each stored response read and parsed once however often it is referenced.
   */
  async function referencedItems(
    principal: string,
    input: NonNullable<ResponsesRequest["input"]>,
  ): Promise<Map<string, OutputItem>> {
    const found = new Map<string, OutputItem>();
    if (typeof input === "string") return found;
    const read = new Set<string>();
    for (const given of input) {
      if (given.type !== "item_reference" || found.has(given.id)) continue;
      const responseId = await store.findItem(principal, given.id);
      if (responseId === undefined || read.has(responseId)) continue;
      read.add(responseId);
      const stored = await store.get(principal, responseId);
      if (stored === undefined) continue;
      const response = parseStored<ResponseObject>(stored.response, (value) =>
        Array.isArray((value as Partial<ResponseObject> | null)?.output),
      );
      for (const item of response?.output ?? []) found.set(item.id, item);
    }
    return found;
  }

  async function get(c: Context): Promise<Response> {
    const id = c.req.param("id") ?? "";
    const stored = await store.get(principalOf(c), id);
    if (stored === undefined)
      throw new OpenAiError("not_found_error", `No response with id '${id}' found (it may have expired).`, {
        param: "response_id",
        code: "response_not_found",
      });
    return c.body(stored.response, 200, { "content-type": "application/json" });
  }

  return { create, get, store };
}

/**
 * A JSON text read back from the response store, when it parses and passes `check` (a shared store
 * may hold what another program wrote).
 */
function parseStored<T>(json: string, check: (value: unknown) => boolean): T | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return check(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The characters a request's input may still expand to (`openai.responses.maxExpandedInputChars`):
 * `instructions`, the conversation of `previous_response_id` and every input item, referenced
 * items counted each time they are referenced.
 */
class InputBudget {
  constructor(public left: number) {}

  /**
   * Counts `chars` against the budget.
   *
   * @throws {@link OpenAiError} 400 `input_too_large` (param `input`) once it is spent.
   */
  take(chars: number): void {
    this.left -= chars;
    if (this.left < 0)
      throw new OpenAiError(
        "invalid_request_error",
        "the input is too large once previous_response_id and item_reference items are expanded " +
          "(see openai.responses.maxExpandedInputChars)",
        { param: "input", code: "input_too_large" },
      );
  }
}

/**
 * The characters of chat messages' text, tool calls and other parts (without joining them). Reads
 * stored conversations too, so it takes any shape and counts the strings it finds where they belong.
 */
function charsOf(messages: readonly ChatRequestMessage[]): number {
  const length = (value: unknown) => (typeof value === "string" ? value.length : 0);
  let chars = 0;
  for (const message of messages as ReadonlyArray<Partial<Record<string, unknown>> | null>) {
    const content = message?.content;
    if (typeof content === "string") chars += content.length;
    else if (Array.isArray(content))
      for (const part of content as Array<Record<string, unknown> | null>)
        chars += length(part?.text) + length((part?.image_url as { url?: unknown } | undefined)?.url);
    const calls = message?.tool_calls;
    if (Array.isArray(calls))
      for (const call of calls as Array<{ function?: { name?: unknown; arguments?: unknown } } | null>)
        chars += length(call?.function?.name) + length(call?.function?.arguments);
  }
  return chars;
}

/**
 * `input` as chat messages: text, message items, function calls (an assistant's tool calls) and
 * outputs, with `item_reference` items replaced by the stored `items` they name.
 *
 * @throws {@link OpenAiError} 404 `item_not_found`, or 400 `input_too_large` when `budget` is spent.
 */
function toMessages(
  input: NonNullable<ResponsesRequest["input"]>,
  items: ReadonlyMap<string, OutputItem>,
  budget: InputBudget,
): ChatRequestMessage[] {
  if (typeof input === "string") {
    budget.take(input.length);
    return [{ role: "user", content: input }];
  }
  const messages: ChatRequestMessage[] = [];
  for (const [i, given] of input.entries()) {
    let item = given as Exclude<typeof given, { type: "item_reference" }>;
    if (given.type === "item_reference") {
      const found = items.get(given.id);
      if (found === undefined)
        throw new OpenAiError(
          "not_found_error",
          `Item with id '${given.id}' not found (it may have expired).`,
          {
            param: `input[${i}].id`,
            code: "item_not_found",
          },
        );
      item =
        found.type === "message"
          ? {
              type: "message",
              role: "assistant",
              content: found.content.map((part) => ({ type: "output_text", text: part.text })),
            }
          : { type: "function_call", call_id: found.call_id, name: found.name, arguments: found.arguments };
    }
    if (item.type === "message") {
      const content =
        typeof item.content === "string"
          ? item.content
          : item.content.map((part, j) => {
              if (part.type === "input_text" || part.type === "output_text" || part.type === "text")
                return { type: "text", text: String((part as { text?: unknown }).text ?? "") };
              // Images and files go on as chat parts; agents that cannot take them refuse them.
              if (part.type === "input_image")
                return { type: "image_url", image_url: { url: (part as { image_url?: unknown }).image_url } };
              throw invalidParam(
                `input[${i}].content[${j}].type`,
                `content parts of type ${part.type} are not supported`,
              );
            });
      const message = { role: item.role, content } as ChatRequestMessage;
      budget.take(charsOf([message]));
      messages.push(message);
    } else if (item.type === "function_call") {
      budget.take(item.name.length + item.arguments.length);
      const call = {
        id: item.call_id,
        type: "function" as const,
        function: { name: item.name, arguments: item.arguments },
      };
      const last = messages.at(-1);
      // Parallel calls of one turn are one assistant message with several tool calls.
      if (last?.role === "assistant" && Array.isArray(last.tool_calls) && (last.content ?? "") === "")
        last.tool_calls.push(call);
      else messages.push({ role: "assistant", content: null, tool_calls: [call] });
    } else {
      const output =
        typeof item.output === "string" ? item.output : item.output.map((part) => part.text).join("");
      budget.take(output.length);
      messages.push({ role: "tool", tool_call_id: item.call_id, content: output });
    }
  }
  return messages;
}

/** One streamed Responses API event. */
type ResponseEvent = { type: string; sequence_number: number } & Record<string, unknown>;

/**
 * Turns a chat completion stream (its first choice) into a response and its streamed events:
 * a message item for the text, a function call item per tool call, usage, and the end state.
 */
class ResponseBuilder {
  readonly response: ResponseObject;
  #sequence = 0;
  #text: Extract<OutputItem, { type: "message" }> | undefined;
  readonly #calls = new Map<number, Extract<OutputItem, { type: "function_call" }>>();
  #finishReason: string | null = null;
  #pending: ResponseEvent[] = [];

  constructor(request: ResponsesRequest) {
    this.response = {
      id: `resp_${randomUUID().replaceAll("-", "")}`,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "in_progress",
      error: null,
      incomplete_details: null,
      instructions: request.instructions ?? null,
      max_output_tokens: request.max_output_tokens ?? null,
      model: request.model,
      output: [],
      parallel_tool_calls: request.parallel_tool_calls ?? true,
      previous_response_id: request.previous_response_id ?? null,
      store: request.store !== false,
      temperature: request.temperature ?? null,
      top_p: request.top_p ?? null,
      text: { format: { type: "text" } },
      tool_choice: request.tool_choice ?? "auto",
      tools: request.tools ?? [],
      truncation: "disabled",
      usage: null,
      metadata: request.metadata ?? {},
      ...(request.user == null ? {} : { user: request.user }),
    };
  }

  /** `response.created` and `response.in_progress`. */
  start(): ResponseEvent[] {
    this.#event("response.created", { response: this.#snapshot() });
    this.#event("response.in_progress", { response: this.#snapshot() });
    return this.drain();
  }

  /** Takes one chunk; returns the events it makes. */
  add(chunk: ChatChunk): ResponseEvent[] {
    if (chunk.usage) {
      const { prompt_tokens, completion_tokens, total_tokens } = chunk.usage;
      this.response.usage = {
        input_tokens: prompt_tokens,
        input_tokens_details: { cached_tokens: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0 },
        output_tokens: completion_tokens,
        output_tokens_details: {
          reasoning_tokens: chunk.usage.completion_tokens_details?.reasoning_tokens ?? 0,
        },
        total_tokens,
      };
    }
    const choice = chunk.choices.find((c) => c.index === 0);
    if (choice === undefined) return this.drain();
    const content = choice.delta.content;
    if (typeof content === "string" && content !== "") {
      const item = this.#openText();
      const index = this.response.output.indexOf(item);
      item.content[0]!.text += content;
      this.#event("response.output_text.delta", {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        delta: content,
        logprobs: [],
      });
    }
    for (const call of choice.delta.tool_calls ?? []) {
      let item = this.#calls.get(call.index);
      if (item === undefined) {
        this.#closeText("completed");
        item = {
          type: "function_call",
          id: `fc_${randomUUID().replaceAll("-", "")}`,
          call_id: call.id ?? `call_${randomUUID().replaceAll("-", "")}`,
          name: call.function?.name ?? "",
          arguments: "",
          status: "in_progress",
        };
        this.#calls.set(call.index, item);
        this.response.output.push(item);
        this.#event("response.output_item.added", {
          output_index: this.response.output.length - 1,
          item: { ...item },
        });
      } else if (call.function?.name) item.name += call.function.name;
      const delta = call.function?.arguments;
      if (delta) {
        item.arguments += delta;
        this.#event("response.function_call_arguments.delta", {
          item_id: item.id,
          output_index: this.response.output.indexOf(item),
          delta,
        });
      }
    }
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    return this.drain();
  }

  /**
   * Ends the response: closes the open items; `completed`, or `incomplete` after a cut for length.
   *
   * @param beforeEnd - Called with the finished response before its final event is made.
   */
  finish(beforeEnd?: (response: ResponseObject) => void): ResponseObject {
    const incomplete = this.#finishReason === "length" || this.#finishReason === "content_filter";
    const itemStatus = incomplete ? "incomplete" : "completed";
    this.#closeText(itemStatus);
    for (const item of this.#calls.values()) this.#closeCall(item, itemStatus);
    this.#calls.clear();
    this.response.status = incomplete ? "incomplete" : "completed";
    if (incomplete)
      this.response.incomplete_details = {
        reason: this.#finishReason === "length" ? "max_output_tokens" : "content_filter",
      };
    beforeEnd?.(this.response);
    this.#event(incomplete ? "response.incomplete" : "response.completed", { response: this.#snapshot() });
    return this.response;
  }

  /** Ends the response as failed, with `response.failed`. */
  fail(error: OpenAiError): ResponseEvent[] {
    this.response.status = "failed";
    this.response.error = { code: error.code ?? "server_error", message: error.message };
    this.#event("response.failed", { response: this.#snapshot() });
    // Then an `error` event, in both shapes clients read (top-level fields, and a nested `error`
    // that the official client throws on).
    const { type, code, message, param } = error.toJSON().error;
    this.#event("error", {
      code: code ?? type,
      message,
      param,
      error: { type, code: code ?? type, message, param },
    });
    return this.drain();
  }

  /** The output as chat messages, for the stored conversation. */
  messages(): ChatRequestMessage[] {
    const text = this.response.output
      .flatMap((item) => (item.type === "message" ? item.content.map((part) => part.text) : []))
      .join("");
    const calls = this.response.output.flatMap((item) =>
      item.type === "function_call"
        ? [
            {
              id: item.call_id,
              type: "function" as const,
              function: { name: item.name, arguments: item.arguments },
            },
          ]
        : [],
    );
    if (text === "" && calls.length === 0) return [];
    return [
      calls.length === 0
        ? { role: "assistant", content: text }
        : { role: "assistant", content: text === "" ? null : text, tool_calls: calls },
    ];
  }

  /** The events made since the last call. */
  drain(): ResponseEvent[] {
    const events = this.#pending;
    this.#pending = [];
    return events;
  }

  #openText(): Extract<OutputItem, { type: "message" }> {
    if (this.#text !== undefined) return this.#text;
    const item: Extract<OutputItem, { type: "message" }> = {
      type: "message",
      id: `msg_${randomUUID().replaceAll("-", "")}`,
      status: "in_progress",
      role: "assistant",
      content: [],
    };
    this.#text = item;
    this.response.output.push(item);
    const output_index = this.response.output.length - 1;
    this.#event("response.output_item.added", { output_index, item: { ...item, content: [] } });
    const part = { type: "output_text" as const, text: "", annotations: [], logprobs: [] };
    item.content.push(part);
    this.#event("response.content_part.added", {
      item_id: item.id,
      output_index,
      content_index: 0,
      part: { ...part },
    });
    return item;
  }

  #closeText(status: "completed" | "incomplete"): void {
    const item = this.#text;
    if (item === undefined) return;
    this.#text = undefined;
    const output_index = this.response.output.indexOf(item);
    const part = item.content[0]!;
    this.#event("response.output_text.done", {
      item_id: item.id,
      output_index,
      content_index: 0,
      text: part.text,
      logprobs: [],
    });
    this.#event("response.content_part.done", {
      item_id: item.id,
      output_index,
      content_index: 0,
      part: { ...part },
    });
    item.status = status;
    this.#event("response.output_item.done", { output_index, item: structuredClone(item) });
  }

  #closeCall(item: Extract<OutputItem, { type: "function_call" }>, status: "completed" | "incomplete"): void {
    const output_index = this.response.output.indexOf(item);
    this.#event("response.function_call_arguments.done", {
      item_id: item.id,
      output_index,
      name: item.name,
      arguments: item.arguments,
    });
    item.status = status;
    this.#event("response.output_item.done", { output_index, item: { ...item } });
  }

  #snapshot(): ResponseObject {
    return structuredClone(this.response);
  }

  #event(type: string, data: Record<string, unknown>): void {
    this.#pending.push({ type, sequence_number: this.#sequence++, ...data });
  }
}
