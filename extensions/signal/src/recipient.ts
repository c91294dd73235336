import { ChannelError } from "@openclaw/channel-sdk";
import type { SignalRecipientParams } from "./types";

/** Prefix of group recipients and conversation ids: `group:<base64 group id>`. */
export const GROUP_PREFIX = "group:";

/** Where a message goes on Signal. */
export type SignalTarget = { kind: "group"; groupId: string } | { kind: "user"; id: string };

const E164 = /^\+[1-9]\d{6,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Reads a recipient: a phone number in E.164 form (`+15550001111`), an ACI (a UUID), or a group
 * (`group:<base64 id>`, as in `conversationId`s).
 *
 * @param recipient - The address given to `send`.
 * @returns The target.
 * @throws `ChannelError` `RECIPIENT_NOT_FOUND` naming the accepted forms.
 */
export function parseRecipient(recipient: string): SignalTarget {
  const value = recipient.trim();
  if (value.startsWith(GROUP_PREFIX)) {
    const groupId = value.slice(GROUP_PREFIX.length);
    if (BASE64.test(groupId)) return { kind: "group", groupId };
  } else if (E164.test(value) || UUID.test(value)) {
    return { kind: "user", id: value };
  }
  throw new ChannelError(
    "RECIPIENT_NOT_FOUND",
    `"${recipient}" is not a Signal recipient; use a phone number in E.164 form (+15550001111), an ACI (UUID) or group:<base64 group id>`,
  );
}

/**
 * The `recipient` / `groupId` parameters of a target.
 *
 * @param target - From {@link parseRecipient}.
 * @returns Parameters for `send`, `sendTyping` and `sendReaction`.
 */
export function targetParams(target: SignalTarget): SignalRecipientParams {
  return target.kind === "group" ? { groupId: target.groupId } : { recipient: [target.id] };
}

/**
 * The id the plugin gives a Signal message: its author and timestamp, which is how Signal itself
 * names a message (quotes and reactions point at the pair).
 *
 * @param author - Number or ACI of the author.
 * @param timestamp - The message's timestamp (ms).
 * @returns `<author>:<timestamp>`.
 */
export function messageId(author: string, timestamp: number): string {
  return `${author}:${timestamp}`;
}

/**
 * Reads an id made by {@link messageId} (the `replyTo` of a send).
 *
 * @param id - `<author>:<timestamp>`.
 * @returns The author and timestamp, or `undefined` when `id` is not of that form.
 */
export function parseMessageId(id: string): { author: string; timestamp: number } | undefined {
  const at = id.lastIndexOf(":");
  if (at <= 0) return undefined;
  const author = id.slice(0, at);
  const timestamp = Number(id.slice(at + 1));
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0 || !(E164.test(author) || UUID.test(author)))
    return undefined;
  return { author, timestamp };
}
