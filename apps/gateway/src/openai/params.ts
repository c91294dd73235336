import * as v from "valibot";
import { invalidParam, type OpenAiError } from "./errors";
import { fastChatRequest } from "./fast-chat";

const num = (min: number, max: number) =>
  v.optional(v.nullable(v.pipe(v.number(), v.minValue(min), v.maxValue(max))));
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max))));

/** One content part of a chat message: text, an image, audio or a file. */
const ContentPartSchema = v.looseObject({ type: v.string() });

/** One chat message; `content` is text, an array of parts, or null (an assistant's tool calls). */
const MessageSchema = v.looseObject({
  role: v.picklist(["system", "developer", "user", "assistant", "tool", "function"]),
  content: v.optional(v.nullable(v.union([v.string(), v.array(ContentPartSchema)]))),
  name: v.optional(v.string()),
  tool_call_id: v.optional(v.string()),
  tool_calls: v.optional(
    v.nullable(
      v.array(
        v.looseObject({
          id: v.string(),
          type: v.optional(v.literal("function")),
          function: v.looseObject({ name: v.string(), arguments: v.string() }),
        }),
      ),
    ),
  ),
});

/** A function tool the model may call. */
const ToolSchema = v.looseObject({
  type: v.literal("function"),
  function: v.looseObject({
    name: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 of a-z, A-Z, 0-9, '_' or '-'")),
    description: v.optional(v.string()),
    parameters: v.optional(v.record(v.string(), v.unknown())),
    strict: v.optional(v.nullable(v.boolean())),
  }),
});

const ToolChoiceSchema = v.union([
  v.picklist(["none", "auto", "required"]),
  v.looseObject({ type: v.literal("function"), function: v.looseObject({ name: v.string() }) }),
]);

/**
 * `POST /v1/chat/completions`, checked against OpenAI's documented types and ranges. Fields the
 * schema does not name pass through unchanged (to an upstream agent).
 */
export const ChatRequestSchema = v.looseObject({
  model: v.pipe(v.string(), v.minLength(1, "model is required (it names an agent)")),
  messages: v.pipe(v.array(MessageSchema), v.minLength(1, "messages must be a non-empty array")),
  stream: v.optional(v.nullable(v.boolean())),
  stream_options: v.optional(v.nullable(v.looseObject({ include_usage: v.optional(v.boolean()) }))),
  temperature: num(0, 2),
  top_p: num(0, 1),
  n: int(1, 128),
  max_tokens: int(1),
  max_completion_tokens: int(1),
  stop: v.optional(
    v.nullable(
      v.union([
        v.string(),
        v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.maxLength(4, "at most 4 stop sequences")),
      ]),
    ),
  ),
  presence_penalty: num(-2, 2),
  frequency_penalty: num(-2, 2),
  logit_bias: v.optional(
    v.nullable(v.record(v.string(), v.pipe(v.number(), v.minValue(-100), v.maxValue(100)))),
  ),
  logprobs: v.optional(v.nullable(v.boolean())),
  top_logprobs: int(0, 20),
  seed: int(Number.MIN_SAFE_INTEGER),
  tools: v.optional(v.nullable(v.pipe(v.array(ToolSchema), v.maxLength(128, "at most 128 tools")))),
  tool_choice: v.optional(v.nullable(ToolChoiceSchema)),
  parallel_tool_calls: v.optional(v.nullable(v.boolean())),
  response_format: v.optional(
    v.nullable(v.looseObject({ type: v.picklist(["text", "json_object", "json_schema"]) })),
  ),
  user: v.optional(v.nullable(v.string())),
});

/** A checked `POST /v1/chat/completions` body. */
export type ChatRequest = v.InferOutput<typeof ChatRequestSchema>;
/** One message of a {@link ChatRequest}. */
export type ChatRequestMessage = ChatRequest["messages"][number];
/** One tool of a {@link ChatRequest}. */
export type ChatRequestTool = NonNullable<ChatRequest["tools"]>[number];

/**
 * Checks a chat completion request: the types and ranges OpenAI documents, and the rules between
 * fields (`stream_options` only with `stream`, a forced function among the `tools`).
 *
 * @param body - The parsed JSON body.
 * @returns The request, unknown fields kept.
 * @throws {@link OpenAiError} 400 `invalid_request_error` with `param` naming the field at fault.
 */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalidParam(null, "the request body must be a JSON object", "invalid_body");
  let request = fastChatRequest(body);
  if (request === undefined) {
    const result = v.safeParse(ChatRequestSchema, body);
    if (!result.success) throw issueError(result.issues);
    request = result.output;
  }
  if (request.stream_options != null && request.stream !== true)
    throw invalidParam("stream_options", "stream_options is only allowed when stream is true");
  const choice = request.tool_choice;
  if (typeof choice === "object" && choice !== null) {
    const name = choice.function.name;
    if (!request.tools?.some((tool) => tool.function.name === name))
      throw invalidParam(
        "tool_choice",
        `tool_choice names the function ${name}, which is not among the tools`,
      );
  }
  if ((choice === "required" || typeof choice === "object") && !request.tools?.length)
    throw invalidParam("tool_choice", "tool_choice needs tools");
  if (request.top_logprobs != null && request.logprobs !== true)
    throw invalidParam("top_logprobs", "top_logprobs needs logprobs: true");
  return request;
}

/** The first valibot issue as a 400 naming its parameter (`messages[0].role`). */
export function issueError(issues: readonly v.BaseIssue<unknown>[]): OpenAiError {
  let issue = issues[0]!;
  // A union's own issue says little ("expected string | Array"); the deepest of its branches' says more.
  for (let depth = 0; depth < 8 && issue.issues !== undefined && issue.issues.length > 0; depth++)
    issue = issue.issues.reduce((deepest, next) =>
      (next.path?.length ?? 0) > (deepest.path?.length ?? 0) ? next : deepest,
    );
  const param = paramOf(issue.path);
  const expected = issue.expected === null ? "" : ` (expected ${issue.expected})`;
  const message =
    issue.kind === "validation" || issue.type === "min_length"
      ? `${param ?? "the body"}: ${issue.message}`
      : `${param ?? "the body"} is invalid${expected}`;
  return invalidParam(
    param,
    message,
    issue.input === undefined ? "missing_required_parameter" : "invalid_value",
  );
}

function paramOf(path: v.BaseIssue<unknown>["path"]): string | null {
  if (path === undefined || path.length === 0) return null;
  let param = "";
  for (const item of path) {
    const key = item.key as string | number;
    param += typeof key === "number" ? `[${key}]` : param === "" ? String(key) : `.${String(key)}`;
  }
  return param;
}

/**
 * The text of a message's content as OpenAI reads it: a string as it is; an array of parts with
 * its text parts concatenated (OpenAI joins them with nothing in between); null or no text → "".
 *
 * @param content - A message's `content`.
 * @returns The text.
 */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content as Array<{ type?: unknown; text?: unknown }>)
    if (
      (part?.type === "text" || part?.type === "input_text" || part?.type === "output_text") &&
      typeof part.text === "string"
    )
      text += part.text;
  return text;
}

/** The parameter path of the first non-text content part in the messages, if any (images, audio, files). */
export function firstNonTextPart(messages: readonly ChatRequestMessage[]): string | undefined {
  for (const [i, message] of messages.entries()) {
    if (!Array.isArray(message.content)) continue;
    for (const [j, part] of message.content.entries())
      if (part.type !== "text") return `messages[${i}].content[${j}]`;
  }
  return undefined;
}
