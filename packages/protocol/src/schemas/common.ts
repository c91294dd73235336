import * as v from "valibot";
import { MAX_ID_LENGTH } from "../constants";

/** An opaque identifier: 1 to 128 characters. */
export const IdSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ID_LENGTH));

/** A short human label: 1 to 200 characters. */
export const LabelSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(200));

/** A channel name: lower-case letters, digits, `-` and `_`, starting with a letter or digit. */
export const ChannelNameSchema = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be 1-64 of a-z, 0-9, '-' or '_'"),
);

/** A platform address (chat id, user id, phone number, room id, …): 1 to 512 characters. */
export const AddressSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(512));

/** Milliseconds since the Unix epoch. */
export const TimestampSchema = v.pipe(v.number(), v.integer(), v.minValue(0));

/** A non-negative whole number of milliseconds, at most about 24.8 days (the largest safe timer). */
export const DurationMsSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2_147_483_647));

/** A client-chosen key that makes a side-effecting request safe to repeat: 1 to 200 characters. */
export const IdempotencyKeySchema = v.pipe(v.string(), v.minLength(1), v.maxLength(200));

/** A page size: 1 to 1000. */
export const LimitSchema = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000));

/** Longest message text, in characters (channels split long text further). */
export const MAX_TEXT_LENGTH = 100_000;

/** Message text: at most {@link MAX_TEXT_LENGTH} characters. */
export const TextSchema = v.pipe(v.string(), v.maxLength(MAX_TEXT_LENGTH));

/** Non-empty message text: 1 to {@link MAX_TEXT_LENGTH} characters. */
export const NonEmptyTextSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_TEXT_LENGTH));

/** An attachment sent or received with a message. Either `url` or `data` (base64) carries the bytes. */
export const AttachmentSchema = v.pipe(
  v.object({
    kind: v.picklist(["image", "audio", "video", "file", "sticker", "location"]),
    url: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    data: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64"))),
    mimeType: v.optional(v.pipe(v.string(), v.maxLength(255))),
    filename: v.optional(v.pipe(v.string(), v.maxLength(255))),
    sizeBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    caption: v.optional(TextSchema),
  }),
  v.check((a) => a.url !== undefined || a.data !== undefined, "an attachment needs url or data"),
);

/** An inline button under a message: a link, or a callback with opaque data. */
export const ButtonSchema = v.object({
  text: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  url: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  callbackData: v.optional(v.pipe(v.string(), v.maxLength(256))),
});

/**
 * What to send. `format: "markdown"` asks for rich text; channels without markdown send the
 * plain-text rendering instead. `buttons` are rows of buttons.
 */
export const MessageContentSchema = v.pipe(
  v.object({
    text: v.optional(TextSchema),
    format: v.optional(v.picklist(["plain", "markdown"])),
    attachments: v.optional(v.pipe(v.array(AttachmentSchema), v.maxLength(32))),
    buttons: v.optional(v.pipe(v.array(v.pipe(v.array(ButtonSchema), v.maxLength(8))), v.maxLength(16))),
  }),
  v.check(
    (c) => (c.text !== undefined && c.text.length > 0) || (c.attachments?.length ?? 0) > 0,
    "content needs text or at least one attachment",
  ),
);

/** Who sent an inbound message. */
export const SenderSchema = v.object({
  id: AddressSchema,
  name: v.optional(v.pipe(v.string(), v.maxLength(256))),
  username: v.optional(v.pipe(v.string(), v.maxLength(256))),
  isBot: v.optional(v.boolean()),
});

/**
 * A message received from a platform, normalised the same way for every channel.
 * `conversationId` is stable per channel + chat; `guildId` carries the guild/team/workspace
 * so guild bindings can match; `raw` is the platform's own payload.
 */
export const InboundMessageSchema = v.object({
  /** The platform's message id (used for dedupe). */
  id: IdSchema,
  channel: ChannelNameSchema,
  /** The bot account on the platform that received it, when a channel runs several. */
  accountId: v.optional(IdSchema),
  conversationId: AddressSchema,
  /** The peer (user or chat) on the platform the conversation is with. */
  peerId: v.optional(AddressSchema),
  guildId: v.optional(IdSchema),
  threadId: v.optional(IdSchema),
  sender: SenderSchema,
  text: v.optional(TextSchema),
  attachments: v.optional(v.pipe(v.array(AttachmentSchema), v.maxLength(32))),
  replyTo: v.optional(IdSchema),
  timestamp: TimestampSchema,
  raw: v.optional(v.unknown()),
});

/** Name, version and platform of a connecting client. */
export const ClientInfoSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  version: v.pipe(v.string(), v.minLength(1), v.maxLength(50)),
  platform: v.pipe(v.string(), v.minLength(1), v.maxLength(50)),
  /** A stable id of this installation, when the client has one. */
  instanceId: v.optional(IdSchema),
});

/** An empty params object; `data` may also be omitted. */
export const EmptySchema = v.optional(v.object({}), {});

/** An attachment. */
export type Attachment = v.InferOutput<typeof AttachmentSchema>;
/** An inline button. */
export type Button = v.InferOutput<typeof ButtonSchema>;
/** What to send through a channel. */
export type MessageContent = v.InferOutput<typeof MessageContentSchema>;
/** Who sent an inbound message. */
export type Sender = v.InferOutput<typeof SenderSchema>;
/** A normalised inbound platform message. */
export type InboundMessage = v.InferOutput<typeof InboundMessageSchema>;
/** Identification a client sends with `connect`. */
export type ClientInfo = v.InferOutput<typeof ClientInfoSchema>;
