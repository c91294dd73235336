import type { SendResult } from "@openclaw/channel-sdk";
import type { DeliveryConfig } from "@openclaw/config";
import type { Delivery, MessageContent } from "@openclaw/protocol";
import type { RecordLogStats } from "@openclaw/record-log";
import type { BackendLogger } from "../logger";

/** A delivery as stored: the wire shape plus its place in the global order. */
export interface DeliveryRecord extends Delivery {
  /** Enqueue order; messages to one address are delivered by it. */
  seq: number;
}

/** What to deliver. */
export interface DeliveryInput {
  channel: string;
  address: string;
  content: MessageContent;
  replyTo?: string | undefined;
  /** A stable id (derived from a request's idempotency key); a new one is made when absent. */
  id?: string | undefined;
}

/** What happened to a message's first attempt, as its sender sees it. */
export type FirstOutcome =
  | { status: "sent"; deliveryId: string; messageId: string }
  | { status: "queued"; deliveryId: string; reason?: string };

/** What the queue needs from its host. */
export interface DeliveryQueueHost {
  /** Sends through the channel (throws a `ChannelError` when it cannot). */
  send(record: DeliveryRecord): Promise<SendResult>;
  /** The `delivery` config in force (read at every use, so reloads apply). */
  config(): DeliveryConfig;
  /** A message reached its platform. `inline` is true when its sender is still waiting for the answer. */
  onSent(record: DeliveryRecord, result: SendResult, inline: boolean): void;
  /** A message was moved to the dead-letter list. */
  onDead(record: DeliveryRecord): void;
  /**
   * Whether this instance can send on a channel now (it runs the channel's platform connection). A
   * cluster queue works a channel's messages only on an instance where this holds; the
   * single-process queue does not ask.
   * @defaultValue every channel can be sent on
   */
  canSend?(channel: string): boolean;
  /** Where the queue logs retries, dead letters and store failures. */
  logger: BackendLogger;
}

/** How many messages wait and how many were given up on. */
export interface DeliveryCounts {
  pending: number;
  dead: number;
}

/** Which stored messages `list` returns. */
export interface DeliveryListFilter {
  channel?: string | undefined;
  status?: "pending" | "dead" | undefined;
  /** Page size. */
  limit: number;
}

/**
 * The outbound delivery queue as the gateway uses it (`message.send`, `delivery.*`). The
 * single-process `DeliveryQueue` of `@openclaw/gateway` keeps it in a `RecordStore` and works it in this process; a
 * cluster implementation (`RedisDeliveryQueue` of `@openclaw/redis`) keeps it where every instance
 * sees it and works each channel's queue on one instance at a time. Either way: a message is stored
 * durably before `enqueue` answers, messages to one address go out in the order they were accepted,
 * and every attempt hands the channel the delivery id as its idempotency key.
 */
export interface OutboundQueue {
  /**
   * Stores a message and waits for its first attempt, unless earlier messages to the same address
   * are still waiting (then it answers `queued` at once).
   *
   * @returns `sent` with the platform's id, or `queued`.
   * @throws `ChannelError` when the platform refused the message for good (it is not kept),
   *   `RATE_LIMITED` when the queue is full, `NOT_READY` when shutting down; a store error when the
   *   message could not be stored (then it is not sent).
   */
  enqueue(input: DeliveryInput): Promise<FirstOutcome>;
  /** Stored messages, oldest first. */
  list(filter: DeliveryListFilter): Delivery[] | Promise<Delivery[]>;
  /** Counts of pending and dead messages. */
  counts(): DeliveryCounts | Promise<DeliveryCounts>;
  /**
   * Makes a pending or dead message due now (a dead one gets a fresh set of attempts).
   *
   * @returns The message, or undefined when there is none with this id.
   */
  retry(id: string): Promise<Delivery | undefined>;
  /**
   * Removes a pending or dead message.
   *
   * @returns Whether there was one.
   */
  drop(id: string): Promise<boolean>;
  /** Stops working the queue; stored messages stay for the next start (or another instance). */
  close(): Promise<void>;
  /** Facts about the journal (skipped lines among them), when the queue keeps one. */
  readonly journal?: RecordLogStats | undefined;
}

/** What a {@link DeliveryQueueFactory} opens a queue with. */
export interface DeliveryQueueOpenOptions {
  /** The gateway's state dir. */
  stateDir: string;
  /** How to send, the config, and whom to tell about outcomes. */
  host: DeliveryQueueHost;
}

/**
 * Opens the outbound queue at start (`GatewayOptions.deliveryQueue`). The default opens a
 * `DeliveryQueue` (of `@openclaw/gateway`) on `GatewayOptions.deliveryStore`.
 *
 * @example
 * ```ts
 * const deliveryQueue: DeliveryQueueFactory = ({ host }) =>
 *   RedisDeliveryQueue.open({ redis, instanceId, leases, host });
 * ```
 */
export type DeliveryQueueFactory = (options: DeliveryQueueOpenOptions) => Promise<OutboundQueue>;
