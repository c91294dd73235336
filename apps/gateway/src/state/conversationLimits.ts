import type { Config } from "@openclaw/config";
import type { ConversationLimits, InboundIdLimits } from "./ConversationStore";

/**
 * The history bounds a config sets: `conversations.*`, with `state.historyLimit` as the per-conversation
 * message count when `conversations.maxMessagesPerConversation` is not set.
 */
export function conversationLimitsOf(config: Config): ConversationLimits {
  const { conversations, state } = config;
  return {
    maxConversations: conversations.maxConversations,
    maxMessagesPerConversation: conversations.maxMessagesPerConversation ?? state.historyLimit,
    maxBytes: conversations.maxBytes,
  };
}

/**
 * How many inbound ids the history remembers for dedupe, and how long: `delivery.maxInboundDedupeIds`
 * and `delivery.inboundDedupeWindowMs`.
 */
export function inboundIdLimitsOf(config: Config): InboundIdLimits {
  return { maxIds: config.delivery.maxInboundDedupeIds, windowMs: config.delivery.inboundDedupeWindowMs };
}
