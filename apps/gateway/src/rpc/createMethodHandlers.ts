import { type BindingHandlerContext, bindingHandlers } from "./handlers/bindings";
import { type ChannelHandlerContext, channelHandlers } from "./handlers/channels";
import { type ChatHandlerContext, chatHandlers } from "./handlers/chat";
import { type ConfigHandlerContext, configHandlers } from "./handlers/config";
import { type ConversationHandlerContext, conversationHandlers } from "./handlers/conversations";
import { type DeliveryHandlerContext, deliveryHandlers } from "./handlers/delivery";
import { type DeviceHandlerContext, deviceHandlers } from "./handlers/devices";
import { type MessageHandlerContext, messageHandlers } from "./handlers/messages";
import { type NodeHandlerContext, nodeHandlers } from "./handlers/nodes";
import { type PairingHandlerContext, pairingHandlers } from "./handlers/pairing";
import { type SystemHandlerContext, systemHandlers } from "./handlers/system";
import { type TaskHandlerContext, taskHandlers } from "./handlers/tasks";
import type { MethodHandlers } from "./types";

/** Everything the handlers need, namespace by namespace. */
export type MethodHandlersContext = SystemHandlerContext &
  ChannelHandlerContext &
  ChatHandlerContext &
  MessageHandlerContext &
  DeliveryHandlerContext &
  NodeHandlerContext &
  PairingHandlerContext &
  DeviceHandlerContext &
  TaskHandlerContext &
  BindingHandlerContext &
  ConfigHandlerContext &
  ConversationHandlerContext;

/**
 * The handler of every catalogue method but `connect`, one namespace per file under `handlers/`.
 *
 * @param context - What they need.
 * @returns The handler table.
 */
export function createMethodHandlers(context: MethodHandlersContext): MethodHandlers {
  return {
    ...systemHandlers(context),
    ...channelHandlers(context),
    ...chatHandlers(context),
    ...messageHandlers(context),
    ...deliveryHandlers(context),
    ...nodeHandlers(context),
    ...pairingHandlers(context),
    ...deviceHandlers(context),
    ...taskHandlers(context),
    ...bindingHandlers(context),
    ...configHandlers(context),
    ...conversationHandlers(context),
  };
}
