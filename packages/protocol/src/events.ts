import type * as v from "valibot";
import type { AnySchema } from "./methods";
import * as chat from "./schemas/chat";
import * as config from "./schemas/config";
import * as conversations from "./schemas/conversations";
import * as delivery from "./schemas/delivery";
import * as messages from "./schemas/messages";
import * as nodes from "./schemas/nodes";
import * as pairing from "./schemas/pairing";
import type { Scope } from "./schemas/system";
import * as system from "./schemas/system";
import * as tasks from "./schemas/tasks";

/** The definition of one event: its payload schema and who receives it. */
export interface EventDefinition<D extends AnySchema = AnySchema> {
  /** Schema of the event's `data`. */
  readonly data: D;
  /** Connections holding at least one of these scopes receive the event. */
  readonly scopes: readonly Scope[];
  /** One sentence saying when it is sent. */
  readonly summary: string;
}

function event<D extends AnySchema>(data: D, scopes: readonly Scope[], summary: string): EventDefinition<D> {
  return { data, scopes, summary };
}

const OPERATORS: readonly Scope[] = ["operator.read"];
const EVERYONE: readonly Scope[] = ["operator.read", "node", "pairing"];

/** The event catalogue: every event the gateway sends and its payload schema. */
export const EVENTS = {
  tick: event(system.TickEventSchema, EVERYONE, "Heartbeat, every `heartbeatMs`."),
  "channel.message.received": event(
    messages.MessageReceivedEventSchema,
    OPERATORS,
    "A platform delivered a message to a channel.",
  ),
  "channel.message.sent": event(
    messages.MessageSentEventSchema,
    OPERATORS,
    "A message went out through a channel.",
  ),
  "delivery.failed": event(
    delivery.DeliveryFailedEventSchema,
    OPERATORS,
    "An outbound message was given up on and moved to the dead-letter list.",
  ),
  "channel.status": event(
    system.ChannelStatusSchema,
    OPERATORS,
    "A channel changed state (connecting, ready, degraded, down).",
  ),
  "node.online": event(nodes.NodeOnlineEventSchema, OPERATORS, "A node connected and registered."),
  "node.offline": event(
    nodes.NodeOfflineEventSchema,
    OPERATORS,
    "A node disconnected, was replaced or was revoked.",
  ),
  "agent.chunk": event(nodes.AgentChunkEventSchema, OPERATORS, "A piece of streamed agent output."),
  "chat.chunk": event(
    chat.ChatChunkEventSchema,
    OPERATORS,
    "A piece of a chat reply; sent only to the connections subscribed to the chat.",
  ),
  "chat.run": event(
    chat.ChatRunEventSchema,
    OPERATORS,
    "A chat reply started, completed, was aborted or failed; sent only to the chat's subscribers.",
  ),
  "task.started": event(tasks.TaskEventSchema, OPERATORS, "A task attempt started."),
  "task.completed": event(tasks.TaskEventSchema, OPERATORS, "A task completed."),
  "task.failed": event(
    tasks.TaskEventSchema,
    OPERATORS,
    "A task attempt failed (`willRetry` says whether it runs again).",
  ),
  "task.cancelled": event(tasks.TaskEventSchema, OPERATORS, "A task was cancelled."),
  "config.reloaded": event(config.ConfigReloadedEventSchema, OPERATORS, "A new config became active."),
  "config.invalid": event(
    config.ConfigInvalidEventSchema,
    OPERATORS,
    "The config file was edited into an invalid state; the old config stays active.",
  ),
  "pairing.requested": event(pairing.PairingRequestedEventSchema, OPERATORS, "A device asked to be paired."),
  "pairing.approved": event(
    pairing.PairingApprovedEventSchema,
    ["operator.read", "pairing"],
    "A pairing code was approved.",
  ),
  "pairing.rejected": event(
    pairing.PairingRejectedEventSchema,
    ["operator.read", "pairing"],
    "A pairing code was rejected.",
  ),
  "conversation.updated": event(
    conversations.ConversationUpdatedEventSchema,
    OPERATORS,
    "A conversation gained a message or changed.",
  ),
} as const satisfies Record<string, EventDefinition>;

/** Every event name in the catalogue. */
export type EventName = keyof typeof EVENTS;

/** All event names, in catalogue order. */
export const EVENT_NAMES = Object.freeze(Object.keys(EVENTS)) as readonly EventName[];

/** The `data` of event `E`. */
export type EventData<E extends EventName> = v.InferOutput<(typeof EVENTS)[E]["data"]>;

/**
 * Tests whether a string names an event in the catalogue.
 *
 * @param name - An event name from the wire.
 * @returns `true` when `name` is an {@link EventName}.
 */
export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EVENTS, name);
}
