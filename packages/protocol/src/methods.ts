import type * as v from "valibot";
import * as chat from "./schemas/chat";
import { EmptySchema } from "./schemas/common";
import * as config from "./schemas/config";
import * as conversations from "./schemas/conversations";
import * as delivery from "./schemas/delivery";
import * as messages from "./schemas/messages";
import * as nodes from "./schemas/nodes";
import * as pairing from "./schemas/pairing";
import * as routing from "./schemas/routing";
import type { Scope } from "./schemas/system";
import * as system from "./schemas/system";
import * as tasks from "./schemas/tasks";

/** Any valibot schema. */
export type AnySchema = v.GenericSchema;

/** The definition of one method: its schemas and who may call it. */
export interface MethodDefinition<P extends AnySchema = AnySchema, R extends AnySchema = AnySchema> {
  /** Schema of the request's `data`. */
  readonly params: P;
  /** Schema of the response's `data`. */
  readonly result: R;
  /** The caller needs at least one of these scopes. Empty only for `connect`. */
  readonly scopes: readonly Scope[];
  /** One sentence saying what the method does. */
  readonly summary: string;
  /** The method accepts `idempotencyKey` and returns the first result for a repeat. */
  readonly idempotent: boolean;
  /** The request may carry a frame-level `target` naming the node that should execute it. */
  readonly forwardable: boolean;
}

function method<P extends AnySchema, R extends AnySchema>(
  params: P,
  result: R,
  scopes: readonly Scope[],
  summary: string,
  flags: { idempotent?: boolean; forwardable?: boolean } = {},
): MethodDefinition<P, R> {
  return {
    params,
    result,
    scopes,
    summary,
    idempotent: flags.idempotent ?? false,
    forwardable: flags.forwardable ?? false,
  };
}

const READ: readonly Scope[] = ["operator.read"];
const WRITE: readonly Scope[] = ["operator.write"];
const ADMIN: readonly Scope[] = ["operator.admin"];
const ANYONE: readonly Scope[] = ["operator.read", "node", "pairing"];

/**
 * The method catalogue: every method the gateway offers, its params and result schemas,
 * and the scopes it needs. Servers validate with it; {@link GatewayClient} is typed by it.
 */
export const METHODS = {
  connect: method(
    system.ConnectParamsSchema,
    system.ConnectResultSchema,
    [],
    "Handshake: authenticate and negotiate the protocol.",
  ),
  ping: method(system.PingParamsSchema, system.PingResultSchema, ANYONE, "Round trip; returns server time."),
  "system.status": method(
    EmptySchema,
    system.SystemStatusResultSchema,
    ["operator.read"],
    "Version, uptime, connection, channel, node and task counts.",
  ),
  "system.metrics": method(
    EmptySchema,
    system.SystemMetricsResultSchema,
    ["operator.read"],
    "A compact summary of the gateway's metrics (connections, frames, messages, latency, delivery queue) for live charts.",
  ),
  "message.send": method(
    messages.MessageSendParamsSchema,
    messages.MessageSendResultSchema,
    WRITE,
    "Send a message; the router picks the channel when none is given.",
    { idempotent: true },
  ),
  "message.broadcast": method(
    messages.MessageBroadcastParamsSchema,
    messages.MessageBroadcastResultSchema,
    WRITE,
    "Send the same content to several recipients.",
    { idempotent: true },
  ),
  "delivery.list": method(
    delivery.DeliveryListParamsSchema,
    delivery.DeliveryListResultSchema,
    READ,
    "Outbound messages waiting in the delivery queue or given up on (dead letters).",
  ),
  "delivery.retry": method(
    delivery.DeliveryIdParamsSchema,
    delivery.DeliveryRetryResultSchema,
    WRITE,
    "Try a queued or dead-lettered message again now.",
  ),
  "delivery.drop": method(
    delivery.DeliveryIdParamsSchema,
    delivery.DeliveryDropResultSchema,
    WRITE,
    "Remove a message from the delivery queue or the dead-letter list.",
  ),
  "channel.list": method(
    EmptySchema,
    system.ChannelListResultSchema,
    READ,
    "Configured channels with their state and capabilities.",
  ),
  "channel.status": method(
    system.ChannelStatusParamsSchema,
    system.ChannelStatusResultSchema,
    READ,
    "Detailed health of one or all channels.",
  ),
  "agent.run": method(
    nodes.AgentRunParamsSchema,
    nodes.AgentRunResultSchema,
    WRITE,
    "Run an agent, on the gateway or (with target) on a node.",
    { idempotent: true, forwardable: true },
  ),
  "chat.send": method(
    chat.ChatSendParamsSchema,
    chat.ChatSendResultSchema,
    WRITE,
    "Post a message in a built-in chat (channel `webchat`); its agent's reply streams to the chat's subscribers.",
    { idempotent: true },
  ),
  "chat.abort": method(
    chat.ChatAbortParamsSchema,
    chat.ChatAbortResultSchema,
    WRITE,
    "Stop a chat's running reply; the text so far is recorded.",
  ),
  "chat.subscribe": method(
    chat.ChatSubscribeParamsSchema,
    chat.ChatSubscribeResultSchema,
    READ,
    "Receive a chat's `chat.chunk` and `chat.run` events on this connection; answers the reply in progress.",
  ),
  "chat.unsubscribe": method(
    chat.ChatSubscribeParamsSchema,
    chat.ChatUnsubscribeResultSchema,
    READ,
    "Stop receiving a chat's events on this connection.",
  ),
  "node.list": method(
    EmptySchema,
    nodes.NodeListResultSchema,
    READ,
    "Connected nodes and their capabilities.",
  ),
  "node.invoke": method(
    nodes.NodeInvokeParamsSchema,
    nodes.NodeInvokeResultSchema,
    WRITE,
    "Call a method on a node and return its answer.",
    { idempotent: true },
  ),
  "pairing.start": method(
    pairing.PairingStartParamsSchema,
    pairing.PairingStartResultSchema,
    ["pairing"],
    "A new device asks to be paired, showing a code to its user.",
  ),
  "pairing.approve": method(
    pairing.PairingApproveParamsSchema,
    pairing.PairingApproveResultSchema,
    ADMIN,
    "Approve a pairing code; the device receives its token.",
  ),
  "pairing.reject": method(
    pairing.PairingRejectParamsSchema,
    pairing.PairingRejectResultSchema,
    WRITE,
    "Refuse a pairing code.",
  ),
  "pairing.list": method(EmptySchema, pairing.PairingListResultSchema, READ, "Pending pairing requests."),
  "device.list": method(EmptySchema, pairing.DeviceListResultSchema, READ, "Paired devices."),
  "device.revoke": method(
    pairing.DeviceRevokeParamsSchema,
    pairing.DeviceRevokeResultSchema,
    ADMIN,
    "Revoke a device's token and disconnect it.",
  ),
  "task.schedule": method(
    tasks.TaskScheduleParamsSchema,
    tasks.TaskScheduleResultSchema,
    WRITE,
    "Schedule a background task (once, delayed, cron or interval).",
    { idempotent: true },
  ),
  "task.execute": method(
    tasks.TaskExecuteParamsSchema,
    tasks.TaskResultSchema,
    WRITE,
    "Run a task now and wait for its result.",
  ),
  "task.cancel": method(
    tasks.TaskCancelParamsSchema,
    tasks.TaskCancelResultSchema,
    WRITE,
    "Cancel a scheduled task.",
  ),
  "task.list": method(
    tasks.TaskListParamsSchema,
    tasks.TaskListResultSchema,
    READ,
    "List tasks, filtered by status or type.",
  ),
  "binding.add": method(
    routing.BindingInputSchema,
    routing.BindingAddResultSchema,
    ADMIN,
    "Add a routing binding.",
  ),
  "binding.remove": method(
    routing.BindingRemoveParamsSchema,
    routing.BindingRemoveResultSchema,
    ADMIN,
    "Remove a routing binding.",
  ),
  "binding.list": method(
    routing.BindingListParamsSchema,
    routing.BindingListResultSchema,
    ADMIN,
    "List routing bindings, optionally for one user.",
  ),
  "route.resolve": method(
    routing.RouteResolveParamsSchema,
    routing.ChannelRouteSchema,
    READ,
    "Explain where a message to a recipient would go, and why.",
  ),
  "config.get": method(
    config.ConfigGetParamsSchema,
    config.ConfigGetResultSchema,
    READ,
    "The active config, secrets redacted.",
  ),
  "config.validate": method(
    config.ConfigValidateParamsSchema,
    config.ConfigValidateResultSchema,
    READ,
    "Validate a config without applying it.",
  ),
  "config.apply": method(
    config.ConfigApplyParamsSchema,
    config.ConfigApplyResultSchema,
    ADMIN,
    "Apply a config; reports what changed live and what needs a restart.",
  ),
  "conversation.list": method(
    conversations.ConversationListParamsSchema,
    conversations.ConversationListResultSchema,
    READ,
    "Conversations, newest first.",
  ),
  "conversation.history": method(
    conversations.ConversationHistoryParamsSchema,
    conversations.ConversationHistoryResultSchema,
    READ,
    "Messages of a conversation after a cursor.",
  ),
} as const satisfies Record<string, MethodDefinition>;

/** Every method name in the catalogue. */
export type MethodName = keyof typeof METHODS;

/** All method names, in catalogue order. */
export const METHOD_NAMES = Object.freeze(Object.keys(METHODS)) as readonly MethodName[];

/** What a caller passes as `data` for method `M` (before defaults are applied). */
export type MethodParamsInput<M extends MethodName> = v.InferInput<(typeof METHODS)[M]["params"]>;

/** The validated `data` a server sees for method `M` (defaults applied). */
export type MethodParams<M extends MethodName> = v.InferOutput<(typeof METHODS)[M]["params"]>;

/** The `data` of a successful response to method `M`. */
export type MethodResult<M extends MethodName> = v.InferOutput<(typeof METHODS)[M]["result"]>;

/**
 * Tests whether a string names a method in the catalogue.
 *
 * @param name - A method name from the wire.
 * @returns `true` when `name` is a {@link MethodName}.
 */
export function isMethodName(name: string): name is MethodName {
  return METHOD_SET.has(name);
}

const METHOD_SET: ReadonlySet<string> = new Set(METHOD_NAMES);
