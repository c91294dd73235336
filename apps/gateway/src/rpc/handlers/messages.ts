import { type MethodParams, type MethodResult, ProtocolError } from "@openclaw/protocol";
import type { Messaging } from "../../services/Messaging";
import type { MethodHandlers } from "../types";

/** What `message.*` needs. */
export interface MessageHandlerContext {
  readonly messaging: Pick<Messaging, "sendMessage">;
}

/** `message.send` and `message.broadcast`. */
export function messageHandlers(
  context: MessageHandlerContext,
): Pick<MethodHandlers, "message.send" | "message.broadcast"> {
  const { messaging } = context;
  return {
    "message.send": (params, { connection }) => messaging.sendMessage(params, connection),

    "message.broadcast": async (params, { connection }) => {
      const results: MethodResult<"message.broadcast">["results"] = [];
      for (const recipient of params.recipients) {
        const single: MethodParams<"message.send"> = { recipient };
        if (params.channel !== undefined) single.channel = params.channel;
        if (params.text !== undefined) single.text = params.text;
        if (params.content !== undefined) single.content = params.content;
        try {
          const sent = await messaging.sendMessage(single, connection);
          const entry: MethodResult<"message.broadcast">["results"][number] = {
            recipient,
            ok: true,
            channel: sent.channel,
            status: sent.status,
          };
          if (sent.messageId !== undefined) entry.messageId = sent.messageId;
          if (sent.deliveryId !== undefined) entry.deliveryId = sent.deliveryId;
          results.push(entry);
        } catch (error) {
          const failure =
            error instanceof ProtocolError ? error : new ProtocolError("INTERNAL", "send failed");
          results.push({ recipient, ok: false, error: { code: failure.code, message: failure.message } });
        }
      }
      return { results };
    },
  };
}
