import type {
  DeliveryQueueFactory,
  DeliveryQueueHost,
  DeliveryRecord,
  KeyStore,
  KeyStoreFactory,
  OutboundQueue,
  RecordStoreFactory,
} from "@openclaw/backend";
import { ChannelError, type SendResult } from "@openclaw/channel-sdk";
import type { Config } from "@openclaw/config";
import { WEBCHAT_CHANNEL } from "@openclaw/protocol";
import type { EventSink } from "../broadcast/Broadcaster";
import type { ChannelManager } from "../channels/ChannelManager";
import { DeliveryQueue } from "../delivery/DeliveryQueue";
import { FileKeyStore } from "../delivery/FileKeyStore";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import { inSpan, SpanKind, tracingActive } from "../telemetry/tracing";

/** What opening the delivery state needs. */
export interface DeliveryStateContext {
  readonly stateDir: string;
  readonly logger: Logger;
  /** The config in force (`delivery`). */
  config(): Config;
  readonly channels: Pick<ChannelManager, "get">;
  readonly events: EventSink;
  /** Counts the attempts to send by channel and outcome. @defaultValue none */
  readonly metrics?: Metrics | undefined;
  /** A queued message reached its platform later than its request (a retry): record it. */
  onSentLater(record: DeliveryRecord, messageId: string): void;
  /**
   * Sends a queued message to a web chat: records it in the chat's history (its platform), and
   * throws a retryable `ChannelError` when it cannot, so that it stays queued
   * (`Messaging.deliverToChat`).
   * @defaultValue the `webchat` plugin's own send (which records nothing)
   */
  readonly deliverToChat?: ((record: DeliveryRecord) => Promise<SendResult>) | undefined;
  /** Opens the store of idempotent results. @defaultValue `FileKeyStore.open` (`idempotency.log`) */
  readonly idempotencyStore?: KeyStoreFactory<unknown> | undefined;
  /**
   * Opens the store of inbound ids seen.
   * @defaultValue none with `dedupeInHistory`, else `FileKeyStore.open` (`inbound-seen.log`)
   */
  readonly dedupeStore?: KeyStoreFactory<1> | undefined;
  /**
   * The conversation journal keeps the inbound ids (`ConversationStore.keepsInboundIds`): no dedupe
   * store is opened unless `dedupeStore` is given.
   */
  readonly dedupeInHistory?: boolean | undefined;
  /** Opens the store of the outbound queue. @defaultValue `FileRecordStore.open` (`deliveries.log`) */
  readonly deliveryStore?: RecordStoreFactory<DeliveryRecord> | undefined;
  /**
   * Opens the outbound queue (a cluster's queue, for instance); `deliveryStore` is then unused.
   * @defaultValue `DeliveryQueue.open` on `deliveryStore`
   */
  readonly deliveryQueue?: DeliveryQueueFactory | undefined;
}

/** The durable state of delivery: idempotent results, inbound ids seen, the outbound queue. */
export interface DeliveryState {
  idempotency: KeyStore<unknown>;
  /** Absent when the conversation journal answers dedupe alone. */
  inboundSeen: KeyStore<1> | undefined;
  deliveries: OutboundQueue;
}

/**
 * Opens the idempotency and inbound-dedupe stores and the outbound delivery queue, which sends through
 * the channel plugins and reports dead letters as `delivery.failed`.
 */
export async function openDeliveryState(context: DeliveryStateContext): Promise<DeliveryState> {
  const delivery = () => context.config().delivery;
  const { stateDir } = context;
  const openIdempotency = context.idempotencyStore ?? FileKeyStore.open<unknown>;
  const idempotency = await openIdempotency({
    stateDir,
    name: "idempotency",
    limits: () => ({ maxEntries: delivery().maxIdempotencyKeys, ttlMs: delivery().idempotencyWindowMs }),
  });
  const openDedupe =
    context.dedupeStore ?? (context.dedupeInHistory === true ? undefined : FileKeyStore.open<1>);
  const inboundSeen = await openDedupe?.({
    stateDir,
    name: "inbound-seen",
    limits: () => ({ maxEntries: delivery().maxInboundDedupeIds, ttlMs: delivery().inboundDedupeWindowMs }),
  });
  const host: DeliveryQueueHost = {
    logger: context.logger,
    config: delivery,
    send: async (record) => {
      const plugin = context.channels.get(record.channel);
      if (plugin === undefined)
        throw new ChannelError("NOT_READY", `channel ${record.channel} is not configured or not running`);
      if (record.channel === WEBCHAT_CHANNEL && context.deliverToChat !== undefined)
        return context.deliverToChat(record);
      const options: { replyTo?: string; idempotencyKey: string } = { idempotencyKey: record.id };
      if (record.replyTo !== undefined) options.replyTo = record.replyTo;
      const send = () => {
        const attempt = plugin.send(record.address, record.content, options);
        return context.metrics?.send(record.channel, attempt) ?? attempt;
      };
      if (!tracingActive()) return send();
      // The platform call: a child of the send that queued it (none for a retry later).
      return inSpan(
        `channel.send ${record.channel}`,
        { "openclaw.channel": record.channel, "openclaw.delivery.attempt": record.attempts + 1 },
        async (span) => {
          const result = await send();
          span?.setAttribute("openclaw.outcome", "OK");
          return result;
        },
        { kind: SpanKind.CLIENT },
      );
    },
    onSent: (record, result, inline) => {
      if (!inline) context.onSentLater(record, result.messageId);
    },
    onDead: (record) => {
      const { seq: _seq, ...dead } = record;
      context.events.broadcast("delivery.failed", { delivery: dead });
    },
    // Running here: a channel with a platform connection runs only on its lease's holder.
    canSend: (channel) => context.channels.get(channel) !== undefined,
  };
  const deliveries =
    context.deliveryQueue === undefined
      ? await DeliveryQueue.open(stateDir, host, context.deliveryStore)
      : await context.deliveryQueue({ stateDir, host });
  return { idempotency, inboundSeen, deliveries };
}
