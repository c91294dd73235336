import { ProtocolError } from "@openclaw/protocol";
import type { ConversationStore } from "../../state/ConversationStore";
import type { MethodHandlers } from "../types";

/** What `conversation.*` needs. */
export interface ConversationHandlerContext {
  readonly conversations: Pick<ConversationStore, "list" | "history">;
}

/** `conversation.list` and `conversation.history`. */
export function conversationHandlers(
  context: ConversationHandlerContext,
): Pick<MethodHandlers, "conversation.list" | "conversation.history"> {
  const { conversations } = context;
  return {
    "conversation.list": (params) => conversations.list(params),

    "conversation.history": (params) => {
      const history = conversations.history(
        params.channel,
        params.conversationId,
        params.since,
        params.limit,
      );
      if (history === undefined)
        throw new ProtocolError(
          "NOT_FOUND",
          `no conversation ${params.conversationId} on ${params.channel}`,
          {
            details: { reason: "unknown_conversation" },
          },
        );
      return { channel: params.channel, conversationId: params.conversationId, ...history };
    },
  };
}
