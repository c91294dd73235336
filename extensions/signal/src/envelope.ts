import type { Attachment, InboundMessageInput } from "@openclaw/channel-sdk";
import { v } from "@openclaw/channel-sdk";
import { GROUP_PREFIX, messageId } from "./recipient";
import type { SignalAttachment, SignalEnvelope, SignalMention, SignalReceivePayload } from "./types";

const Nullable = <T extends v.GenericSchema>(schema: T) => v.nullish(schema);

/** The part of a `receive` event the plugin relies on; everything else passes through to `raw`. */
const ReceivePayloadSchema = v.looseObject({
  envelope: v.looseObject({
    sourceNumber: Nullable(v.string()),
    sourceUuid: Nullable(v.string()),
    source: Nullable(v.string()),
    sourceName: Nullable(v.string()),
    timestamp: v.pipe(v.number(), v.integer(), v.minValue(0)),
    dataMessage: Nullable(
      v.looseObject({
        message: Nullable(v.string()),
        groupInfo: Nullable(v.looseObject({ groupId: v.string(), type: Nullable(v.string()) })),
        attachments: Nullable(v.array(v.looseObject({ id: Nullable(v.string()) }))),
        mentions: Nullable(
          v.array(v.looseObject({ start: v.number(), length: v.number(), name: Nullable(v.string()) })),
        ),
        quote: Nullable(v.looseObject({ id: v.number() })),
        reaction: Nullable(v.looseObject({ emoji: v.string(), targetSentTimestamp: v.number() })),
      }),
    ),
    syncMessage: Nullable(v.unknown()),
    reactionMessage: Nullable(v.looseObject({ emoji: v.string(), targetSentTimestamp: v.number() })),
  }),
  account: Nullable(v.string()),
});

/** What to do with one `receive` event. */
export type EnvelopeOutcome =
  | {
      kind: "message";
      /** The normalised message, without downloaded attachments. */
      message: InboundMessageInput;
      /** Attachments to download with `getAttachment`. */
      attachments: SignalAttachment[];
      /** Who to name in `getAttachment`: the sender, or the group. */
      from: { recipient: string } | { groupId: string };
      /** Where the conversation is, for the typing indicator. */
      conversation: string;
    }
  | { kind: "ignored"; reason: string };

/**
 * Turns one `receive` event of signal-cli into a normalised inbound message, or says why it is not
 * one. Messages and reactions from people (direct or in groups) count; sync messages (what the
 * account itself sent from another device), receipts, typing indicators, calls, stories, edits,
 * deletions, group updates and timer changes are ignored, and so is anything the account sent.
 *
 * Ids are `<author>:<timestamp>`, the author being the ACI (UUID) when known, else the number; the
 * account's own messages always use `account`. Direct conversations are the peer's ACI (or number),
 * groups `group:<id>`.
 *
 * @param data - The event's data, parsed JSON.
 * @param account - The account the channel runs as (number or ACI).
 * @returns The message, or the reason it is ignored.
 */
export function interpretReceive(data: unknown, account: string): EnvelopeOutcome {
  const parsed = v.safeParse(ReceivePayloadSchema, data);
  if (!parsed.success)
    return {
      kind: "ignored",
      reason: `not a signal-cli envelope: ${v.getDotPath(parsed.issues[0]!) ?? "(root)"} ${parsed.issues[0]!.message}`,
    };
  const payload = data as SignalReceivePayload;
  const envelope: SignalEnvelope = payload.envelope;
  // Compared only when both name the account the same way (number or ACI).
  if (
    typeof payload.account === "string" &&
    payload.account !== account &&
    payload.account.startsWith("+") === account.startsWith("+")
  )
    return { kind: "ignored", reason: `for another account (${payload.account})` };
  if (envelope.syncMessage != null)
    return { kind: "ignored", reason: "a sync message of the account itself" };
  const number = envelope.sourceNumber ?? (envelope.source?.startsWith("+") ? envelope.source : undefined);
  const uuid = envelope.sourceUuid ?? (envelope.source?.startsWith("+") ? undefined : envelope.source);
  if (number === account || uuid === account)
    return { kind: "ignored", reason: "sent by the account itself" };
  const author = uuid ?? number;
  if (author == null || author === "") return { kind: "ignored", reason: "no sender" };
  const data_ = envelope.dataMessage;
  const reaction = data_?.reaction ?? envelope.reactionMessage;
  if (data_ == null && reaction == null)
    return { kind: "ignored", reason: "no message (receipt, typing, call, story or edit)" };
  const group = data_?.groupInfo;
  if (group != null && group.type === "UPDATE" && !data_?.message)
    return { kind: "ignored", reason: "a group update" };
  const authorOf = (n?: string | null, u?: string | null, legacy?: string | null): string | undefined => {
    if (n === account || u === account || legacy === account) return account;
    return u ?? n ?? legacy ?? undefined;
  };
  const conversation = group != null ? `${GROUP_PREFIX}${group.groupId}` : author;
  const attachments = (data_?.attachments ?? []).filter((a) => typeof a.id === "string" && a.id !== "");
  const text = withMentions(data_?.message ?? "", data_?.mentions ?? []);
  const sender: InboundMessageInput["sender"] = { id: author };
  if (envelope.sourceName) sender.name = envelope.sourceName.slice(0, 256);
  if (number != null) sender.username = number;
  const message: InboundMessageInput = {
    id: messageId(author, envelope.timestamp),
    conversationId: conversation,
    peerId: conversation,
    sender,
    text,
    timestamp: envelope.timestamp,
    raw: payload,
  };
  if (reaction != null) {
    const target = authorOf(reaction.targetAuthorNumber, reaction.targetAuthorUuid, reaction.targetAuthor);
    if (target === undefined) return { kind: "ignored", reason: "a reaction without a target author" };
    // A reaction carries no text of its own (so no agent answers it); `raw` has the emoji.
    message.text = "";
    message.replyTo = messageId(target, reaction.targetSentTimestamp);
  } else {
    if (data_?.remoteDelete != null) return { kind: "ignored", reason: "a deletion" };
    if (text === "" && attachments.length === 0)
      return { kind: "ignored", reason: "no text and no attachment (timer change, sticker or poll)" };
    const quote = data_?.quote;
    if (quote != null) {
      const quoted = authorOf(quote.authorNumber, quote.authorUuid, quote.author);
      if (quoted !== undefined) message.replyTo = messageId(quoted, quote.id);
    }
  }
  return {
    kind: "message",
    message,
    attachments,
    from: group != null ? { groupId: group.groupId } : { recipient: number ?? author },
    conversation,
  };
}

/** Replaces each mention's U+FFFC placeholder with `@name` (or the number or ACI). */
function withMentions(text: string, mentions: readonly SignalMention[]): string {
  let out = text;
  for (const mention of [...mentions].sort((a, b) => b.start - a.start)) {
    if (mention.start < 0 || mention.start + mention.length > out.length) continue;
    const who = mention.name || mention.number || mention.uuid || "someone";
    out = `${out.slice(0, mention.start)}@${who}${out.slice(mention.start + mention.length)}`;
  }
  return out;
}

/**
 * The SDK's attachment kind for a MIME type.
 *
 * @param contentType - E.g. `image/jpeg`.
 * @returns `image`, `audio`, `video` or `file`.
 */
export function attachmentKind(contentType: string | undefined): Attachment["kind"] {
  const type = contentType?.split("/")[0];
  return type === "image" || type === "audio" || type === "video" ? type : "file";
}
