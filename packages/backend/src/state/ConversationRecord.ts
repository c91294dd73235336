import type { ConversationMessage } from "@openclaw/protocol";

/**
 * One stored message (a journal line): the message with what its conversation's summary became when
 * it was recorded, so the summaries are rebuilt from the messages alone.
 */
export interface ConversationRecord extends ConversationMessage {
  /** The record's id (unique across conversations). */
  id: string;
  /** The channel of the conversation. */
  channel: string;
  /** The conversation, within the channel. */
  conversationId: string;
  /** The conversation's message count with this message. */
  messageCount: number;
  /** The conversation's peer, when the platform names one. */
  peerId?: string;
  /** The conversation's guild (server, workspace), when the platform has them. */
  guildId?: string;
}
