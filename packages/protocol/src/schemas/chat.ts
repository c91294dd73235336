import * as v from "valibot";
import { AddressSchema, IdempotencyKeySchema, IdSchema, NonEmptyTextSchema } from "./common";

/**
 * The name of the built-in chat channel: the Web UI and the CLI talk to the gateway's agents
 * through it, over the WebSocket. It is a channel like any other for history, routing and
 * `message.send` (`recipient` is a chat's conversation id).
 */
export const WEBCHAT_CHANNEL = "webchat";

/** The status of a chat reply, as `chat.run` reports it. */
export const ChatRunStatusSchema = v.picklist(["started", "completed", "aborted", "failed"]);

/**
 * `chat.send` params: one user message in a built-in chat. Without `conversationId` a new chat is
 * started and its id returned. Send an `idempotencyKey` so that a send repeated after a lost
 * connection is recorded once.
 */
export const ChatSendParamsSchema = v.object({
  /** The chat to post in; a new one when omitted. */
  conversationId: v.optional(AddressSchema),
  text: NonEmptyTextSchema,
  /** The agent that replies; the chat channel's agent (`channels.webchat.agent`, else `agents.default`) when omitted. */
  agent: v.optional(IdSchema),
  idempotencyKey: v.optional(IdempotencyKeySchema),
});

/** `chat.send` result: answered once the message is in the history, before the reply is done. */
export const ChatSendResultSchema = v.object({
  conversationId: AddressSchema,
  /** The id the user's message is recorded under. */
  messageId: IdSchema,
  /** Its sequence number in the conversation's history. */
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** The reply's run, streamed as `chat.chunk` events; `null` when no agent answers this chat. */
  runId: v.nullable(IdSchema),
  /** The agent that replies, or `null`. */
  agent: v.nullable(IdSchema),
});

/** `chat.abort` params: stop the running reply of a chat (only that run, when `runId` is given). */
export const ChatAbortParamsSchema = v.object({
  conversationId: AddressSchema,
  runId: v.optional(IdSchema),
});

/** `chat.abort` result. */
export const ChatAbortResultSchema = v.object({
  /** Whether a running reply was stopped. */
  aborted: v.boolean(),
  /** The run stopped, or `null`. */
  runId: v.nullable(IdSchema),
});

/** `chat.subscribe` / `chat.unsubscribe` params. */
export const ChatSubscribeParamsSchema = v.object({
  conversationId: AddressSchema,
});

/** `chat.subscribe` result: includes the reply in progress, so a reopened page can show it. */
export const ChatSubscribeResultSchema = v.object({
  conversationId: AddressSchema,
  running: v.nullable(
    v.object({
      runId: IdSchema,
      agent: IdSchema,
      /** The reply so far. */
      text: v.string(),
      /** The `index` of the next `chat.chunk`. */
      nextIndex: v.pipe(v.number(), v.integer(), v.minValue(0)),
    }),
  ),
});

/** `chat.unsubscribe` result. */
export const ChatUnsubscribeResultSchema = v.object({
  /** Whether the connection was subscribed. */
  unsubscribed: v.boolean(),
});

/** `chat.chunk` event: a piece of a chat reply, sent only to the chat's subscribers. */
export const ChatChunkEventSchema = v.object({
  conversationId: AddressSchema,
  runId: IdSchema,
  /** 0, 1, 2, … within the run. */
  index: v.pipe(v.number(), v.integer(), v.minValue(0)),
  delta: v.string(),
});

/**
 * `chat.run` event: a chat reply started or ended, sent only to the chat's subscribers. After the
 * last one (`completed`, `aborted`, `failed`) the recorded reply also arrives as `conversation.updated`.
 */
export const ChatRunEventSchema = v.object({
  conversationId: AddressSchema,
  runId: IdSchema,
  agent: IdSchema,
  status: ChatRunStatusSchema,
  /** The recorded reply's message id (`completed`, or `aborted` with some text). */
  messageId: v.optional(IdSchema),
  /** Why it failed. */
  error: v.optional(v.object({ code: v.string(), message: v.string() })),
});

/** `chat.send` params. */
export type ChatSendParams = v.InferOutput<typeof ChatSendParamsSchema>;
/** `chat.send` result. */
export type ChatSendResult = v.InferOutput<typeof ChatSendResultSchema>;
/** The status of a chat reply. */
export type ChatRunStatus = v.InferOutput<typeof ChatRunStatusSchema>;
/** `chat.chunk` event data. */
export type ChatChunkEvent = v.InferOutput<typeof ChatChunkEventSchema>;
/** `chat.run` event data. */
export type ChatRunEvent = v.InferOutput<typeof ChatRunEventSchema>;
