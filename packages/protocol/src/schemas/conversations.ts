import * as v from "valibot";
import {
  AddressSchema,
  ChannelNameSchema,
  IdSchema,
  LimitSchema,
  MessageContentSchema,
  SenderSchema,
  TimestampSchema,
} from "./common";

/** A conversation: one chat on one channel. */
export const ConversationSummarySchema = v.object({
  conversationId: AddressSchema,
  channel: ChannelNameSchema,
  peerId: v.optional(AddressSchema),
  guildId: v.optional(IdSchema),
  title: v.optional(v.string()),
  messageCount: v.number(),
  /** Sequence number of the newest message; use it as the `since` cursor. */
  lastSeq: v.number(),
  lastMessageAt: TimestampSchema,
});

/** One message in a conversation's history. */
export const ConversationMessageSchema = v.object({
  /** Increases by one per message in the conversation; the history cursor. */
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  direction: v.picklist(["in", "out"]),
  messageId: IdSchema,
  sender: v.optional(SenderSchema),
  content: MessageContentSchema,
  timestamp: TimestampSchema,
});

/** `conversation.list` params. */
export const ConversationListParamsSchema = v.optional(
  v.object({
    channel: v.optional(ChannelNameSchema),
    limit: v.optional(LimitSchema),
    /** Opaque cursor from a previous page's `nextCursor`. */
    cursor: v.optional(v.pipe(v.string(), v.maxLength(500))),
  }),
  {},
);

/** `conversation.list` result, newest first. */
export const ConversationListResultSchema = v.object({
  conversations: v.array(ConversationSummarySchema),
  nextCursor: v.nullable(v.string()),
});

/** `conversation.history` params: messages after `since` (a `seq`), oldest first. */
export const ConversationHistoryParamsSchema = v.object({
  channel: ChannelNameSchema,
  conversationId: AddressSchema,
  since: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  limit: v.optional(LimitSchema),
});

/** `conversation.history` result. */
export const ConversationHistoryResultSchema = v.object({
  channel: ChannelNameSchema,
  conversationId: AddressSchema,
  messages: v.array(ConversationMessageSchema),
  /** Pass as `since` to continue. */
  cursor: v.number(),
  hasMore: v.boolean(),
});

/** `conversation.updated` event payload. */
export const ConversationUpdatedEventSchema = v.object({
  conversation: ConversationSummarySchema,
  message: v.optional(ConversationMessageSchema),
});

/** A conversation summary. */
export type ConversationSummary = v.InferOutput<typeof ConversationSummarySchema>;
/** A message in a conversation's history. */
export type ConversationMessage = v.InferOutput<typeof ConversationMessageSchema>;
