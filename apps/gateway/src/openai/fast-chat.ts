import type { ChatRequest } from "./params";

/** The fields a request of the common shape may have (any other sends it to the schema). */
const REQUEST_KEYS: ReadonlySet<string> = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "max_tokens",
  "max_completion_tokens",
  "user",
]);
const ROLES: ReadonlySet<unknown> = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

/** A plain object, as `JSON.parse` makes them (the schema's output has their prototype too). */
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
/** `undefined` (absent) or null, or a number in `[min, max]`. */
const isRange = (value: unknown, min: number, max: number): boolean =>
  value == null || (typeof value === "number" && value >= min && value <= max);
/** Absent or null, or an integer of at least 1. */
const isCount = (value: unknown): boolean =>
  value == null ||
  (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= Number.MAX_SAFE_INTEGER);

/**
 * A hand-written check of the common shape of a chat request (`model`, text `messages` with a role,
 * `stream`, `stream_options`, `temperature`, `top_p`, `max_tokens`, `max_completion_tokens`,
 * `user`), used by {@link parseChatRequest} before valibot: valibot's object validation of a whole
 * request cost more than the rest of a proxied one's checks. It accepts a subset of what
 * `ChatRequestSchema` accepts and returns the body itself, which equals the schema's output for it
 * (the parsed JSON is the request's own); anything else is `undefined`, for the schema to decide
 * and to build the detailed error. A differential property test (`openai-fast-chat.test.ts`) keeps
 * it equal to the schema.
 *
 * @param body - The parsed JSON body.
 * @returns The request, or `undefined` to ask the schema.
 * @internal
 */
export function fastChatRequest(body: unknown): ChatRequest | undefined {
  if (!isObject(body)) return undefined;
  for (const key in body) if (!REQUEST_KEYS.has(key)) return undefined;
  const { model, messages, stream, stream_options: options } = body;
  if (typeof model !== "string" || model === "") return undefined;
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  for (const message of messages) {
    if (!isObject(message)) return undefined;
    for (const key in message) if (key !== "role" && key !== "content" && key !== "name") return undefined;
    if (!ROLES.has(message.role)) return undefined;
    const content = message.content;
    if (content != null && typeof content !== "string") return undefined;
    if ("name" in message && typeof message.name !== "string") return undefined;
  }
  if (stream != null && typeof stream !== "boolean") return undefined;
  if (options != null) {
    if (!isObject(options)) return undefined;
    for (const key in options) if (key !== "include_usage") return undefined;
    if ("include_usage" in options && typeof options.include_usage !== "boolean") return undefined;
  }
  if (!isRange(body.temperature, 0, 2) || !isRange(body.top_p, 0, 1)) return undefined;
  if (!isCount(body.max_tokens) || !isCount(body.max_completion_tokens)) return undefined;
  if (body.user != null && typeof body.user !== "string") return undefined;
  return body as ChatRequest;
}
