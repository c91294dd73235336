import * as v from "valibot";
import {
  AddressSchema,
  ChannelNameSchema,
  IdempotencyKeySchema,
  IdSchema,
  InboundMessageSchema,
  MessageContentSchema,
  NonEmptyTextSchema,
  TimestampSchema,
} from "./common";
import { RouteLevelSchema, RoutingContextSchema } from "./routing";

/**
 * `message.send` params. `recipient` is a user id known to the router or a platform address;
 * without `channel` the router picks one. Give either `text` (plain text shorthand) or `content`.
 */
export const MessageSendParamsSchema = v.pipe(
  v.object({
    recipient: AddressSchema,
    channel: v.optional(ChannelNameSchema),
    text: v.optional(NonEmptyTextSchema),
    content: v.optional(MessageContentSchema),
    context: v.optional(RoutingContextSchema),
    /** Platform message id to reply to. */
    replyTo: v.optional(IdSchema),
    idempotencyKey: v.optional(IdempotencyKeySchema),
  }),
  v.check(
    (p) => (p.text === undefined) !== (p.content === undefined),
    "give exactly one of text and content",
  ),
);

/** `message.send` result. */
export const MessageSendResultSchema = v.object({
  /**
   * `sent`: the platform took the message (`messageId` is its id). `queued`: the channel is down,
   * rate limited or busy with earlier messages to this address; the message is stored and will be
   * delivered (`channel.message.sent` follows), or end up in the dead-letter list (`delivery.failed`).
   */
  status: v.optional(v.picklist(["sent", "queued"]), "sent"),
  /** The platform's id of the sent message (absent while queued). */
  messageId: v.optional(IdSchema),
  /** The delivery's id in the queue: see `delivery.list`. */
  deliveryId: v.optional(IdSchema),
  channel: ChannelNameSchema,
  /** The platform address it went to. */
  address: AddressSchema,
  /** Which binding level chose the channel (absent when `channel` was given). */
  route: v.optional(v.object({ level: RouteLevelSchema, bindingId: IdSchema })),
  /** The conversation the message was recorded in. */
  conversationId: v.optional(AddressSchema),
});

/** `message.broadcast` params: the same content to several recipients, each routed on its own. */
export const MessageBroadcastParamsSchema = v.pipe(
  v.object({
    recipients: v.pipe(v.array(AddressSchema), v.minLength(1), v.maxLength(1000)),
    channel: v.optional(ChannelNameSchema),
    text: v.optional(NonEmptyTextSchema),
    content: v.optional(MessageContentSchema),
    idempotencyKey: v.optional(IdempotencyKeySchema),
  }),
  v.check(
    (p) => (p.text === undefined) !== (p.content === undefined),
    "give exactly one of text and content",
  ),
);

/** `message.broadcast` result: one entry per recipient, in order. */
export const MessageBroadcastResultSchema = v.object({
  results: v.array(
    v.object({
      recipient: AddressSchema,
      ok: v.boolean(),
      channel: v.optional(ChannelNameSchema),
      /** As in `message.send`: `sent` or `queued` (for recipients that are `ok`). */
      status: v.optional(v.picklist(["sent", "queued"])),
      messageId: v.optional(IdSchema),
      deliveryId: v.optional(IdSchema),
      error: v.optional(v.object({ code: v.string(), message: v.string() })),
    }),
  ),
});

/** `channel.message.received` event payload. */
export const MessageReceivedEventSchema = v.object({
  channel: ChannelNameSchema,
  message: InboundMessageSchema,
});

/** `channel.message.sent` event payload. */
export const MessageSentEventSchema = v.object({
  channel: ChannelNameSchema,
  messageId: IdSchema,
  address: AddressSchema,
  conversationId: v.optional(AddressSchema),
  content: v.optional(MessageContentSchema),
  timestamp: TimestampSchema,
});

/** `message.send` params. */
export type MessageSendParams = v.InferOutput<typeof MessageSendParamsSchema>;
/** `message.send` result. */
export type MessageSendResult = v.InferOutput<typeof MessageSendResultSchema>;
