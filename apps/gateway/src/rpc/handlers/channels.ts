import { ProtocolError } from "@openclaw/protocol";
import type { ChannelManager } from "../../channels/ChannelManager";
import type { MethodHandlers } from "../types";

/** What `channel.*` needs. */
export interface ChannelHandlerContext {
  readonly channels: Pick<ChannelManager, "statuses">;
}

/** `channel.list` and `channel.status`. */
export function channelHandlers(
  context: ChannelHandlerContext,
): Pick<MethodHandlers, "channel.list" | "channel.status"> {
  return {
    "channel.list": () => ({
      channels: context.channels
        .statuses()
        .map(({ name, plugin, state, capabilities }) => ({ name, plugin, state, capabilities })),
    }),

    "channel.status": (params) => {
      const statuses = context.channels.statuses();
      if (params.channel === undefined) return { channels: statuses };
      const one = statuses.filter((status) => status.name === params.channel);
      if (one.length === 0)
        throw new ProtocolError("NOT_FOUND", `channel ${params.channel} is not configured`, {
          details: { reason: "unknown_channel" },
        });
      return { channels: one };
    },
  };
}
