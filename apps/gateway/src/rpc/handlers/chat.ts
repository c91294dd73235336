import type { ChatService } from "../../services/ChatService";
import type { MethodHandlers } from "../types";

/** What `chat.*` needs. */
export interface ChatHandlerContext {
  readonly chat: Pick<ChatService, "send" | "abort" | "subscribe" | "unsubscribe">;
}

/** `chat.send`, `chat.abort`, `chat.subscribe`, `chat.unsubscribe`: the built-in chat channel. */
export function chatHandlers(
  context: ChatHandlerContext,
): Pick<MethodHandlers, "chat.send" | "chat.abort" | "chat.subscribe" | "chat.unsubscribe"> {
  const { chat } = context;
  return {
    "chat.send": (params, { connection }) => chat.send(params, connection),
    "chat.abort": (params) => chat.abort(params),
    "chat.subscribe": (params, { connection }) => chat.subscribe(params.conversationId, connection),
    "chat.unsubscribe": (params, { connection }) => chat.unsubscribe(params.conversationId, connection),
  };
}
