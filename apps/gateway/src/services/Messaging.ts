import { createHash } from "node:crypto";
import type { DeliveryRecord, OutboundQueue } from "@openclaw/backend";
import { ChannelError, type SendResult } from "@openclaw/channel-sdk";
import {
  type MessageContent,
  type MethodParams,
  type MethodResult,
  ProtocolError,
  type Sender,
  toProtocolError,
  WEBCHAT_CHANNEL,
} from "@openclaw/protocol";
import type { Router } from "@openclaw/router";
import type { BroadcastEvent, EventSink } from "../broadcast/Broadcaster";
import type { ChannelManager } from "../channels/ChannelManager";
import type { Logger } from "../logging";
import type { ConversationStore, Recorded } from "../state/ConversationStore";
import { failSpan, inSpan, runWithin, startSpan, tracingActive } from "../telemetry/tracing";

/** What messaging needs. */
export interface MessagingContext {
  readonly logger: Logger;
  readonly router: Pick<Router, "resolve">;
  /**
   * The channels: a send is accepted for a channel running here, or one standing by here while
   * another instance of the cluster holds its lease (the queue is worked there).
   */
  readonly channels: Pick<ChannelManager, "get"> & Partial<Pick<ChannelManager, "has" | "holdsLease">>;
  /** The outbound queue (throws `SHUTTING_DOWN` when not running). */
  deliveries(): Pick<OutboundQueue, "enqueue">;
  readonly conversations: Pick<ConversationStore, "append" | "findMessage">;
  readonly events: EventSink;
}

/** Sends messages through the delivery queue and records what reached its platform. */
export class Messaging {
  readonly #context: MessagingContext;

  constructor(context: MessagingContext) {
    this.#context = context;
  }

  /**
   * Sends a message: routed when no channel is given, queued durably, recorded once sent.
   *
   * @param params - The `message.send` params.
   * @param from - The connection that asked, left out of the `channel.message.sent` event.
   */
  sendMessage(
    params: MethodParams<"message.send">,
    from?: { readonly id: string },
  ): Promise<MethodResult<"message.send">> {
    if (!tracingActive()) return this.#sendMessage(params, from);
    return inSpan(
      "message.send",
      params.channel === undefined ? {} : { "openclaw.channel": params.channel },
      async (span) => {
        const result = await this.#sendMessage(params, from);
        span?.setAttributes({
          "openclaw.channel": result.channel,
          "openclaw.delivery.status": result.status,
        });
        return result;
      },
    );
  }

  async #sendMessage(
    params: MethodParams<"message.send">,
    from?: { readonly id: string },
  ): Promise<MethodResult<"message.send">> {
    const content = params.content ?? { text: params.text! };
    let channel = params.channel;
    let address = params.recipient;
    let route: MethodResult<"message.send">["route"];
    if (channel === undefined) {
      const resolved = this.#resolve(params);
      channel = resolved.channel;
      address = resolved.address;
      route = { level: resolved.level, bindingId: resolved.bindingId };
    }
    const { channels } = this.#context;
    const standingBy = channels.has?.(channel) === true && channels.holdsLease?.(channel) === false;
    if (channels.get(channel) === undefined && !standingBy) {
      throw new ProtocolError("CHANNEL_UNAVAILABLE", `channel ${channel} is not configured`, {
        details: { reason: "unknown_channel", channel, nextStep: `add channels.${channel} to openclaw.json` },
      });
    }
    let outcome: Awaited<ReturnType<OutboundQueue["enqueue"]>>;
    try {
      outcome = await this.#context.deliveries().enqueue({
        channel,
        address,
        content,
        replyTo: params.replyTo,
        id:
          params.idempotencyKey === undefined
            ? undefined
            : `idem-${createHash("sha256").update(params.idempotencyKey).digest("hex").slice(0, 40)}`,
      });
    } catch (error) {
      throw error instanceof ChannelError ? error.toProtocolError(channel) : toProtocolError(error);
    }
    const result: MethodResult<"message.send"> = {
      status: outcome.status,
      deliveryId: outcome.deliveryId,
      channel,
      address,
      conversationId: address,
    };
    if (outcome.status === "sent") {
      result.messageId = outcome.messageId;
      // A web chat's send recorded it already (deliverToChat).
      if (channel === WEBCHAT_CHANNEL) this.#announceSent(channel, address, content, outcome.messageId, from);
      else await this.recordSent(channel, address, content, outcome.messageId, from);
    }
    if (route !== undefined) result.route = route;
    return result;
  }

  /** The router's choice of channel and address, in a `router.resolve` span when tracing. */
  #resolve(params: MethodParams<"message.send">): ReturnType<Router["resolve"]> {
    const traced = startSpan("router.resolve", {});
    if (traced === undefined) return this.#context.router.resolve(params.recipient, params.context ?? {});
    try {
      const resolved = runWithin(traced.context, () =>
        this.#context.router.resolve(params.recipient, params.context ?? {}),
      );
      traced.span.setAttributes({
        "openclaw.route.level": resolved.level,
        "openclaw.channel": resolved.channel,
      });
      if (resolved.bindingId !== undefined)
        traced.span.setAttribute("openclaw.route.binding_id", resolved.bindingId);
      return resolved;
    } catch (error) {
      failSpan(traced.span, error);
      throw error;
    } finally {
      traced.span.end();
    }
  }

  /**
   * A queued message reached its platform later than its request (a retry, or a message that waited
   * behind others): records it (a web chat's was recorded by its send) and tells the clients.
   * Never rejects.
   *
   * @param record - The delivery.
   * @param messageId - The platform's id of the message.
   */
  async sentLater(
    record: Pick<DeliveryRecord, "channel" | "address" | "content">,
    messageId: string,
  ): Promise<void> {
    if (record.channel === WEBCHAT_CHANNEL)
      this.#announceSent(record.channel, record.address, record.content, messageId);
    else await this.recordSent(record.channel, record.address, record.content, messageId);
  }

  /**
   * Delivers a queued message to a web chat (the delivery queue's send for the `webchat` channel):
   * a chat's history is its platform, so the message is recorded there, durably, before the queue
   * records the delivery as sent, and the chat's clients are told (`conversation.updated`).
   * Idempotent per delivery: the message id is `webchat-<delivery id>`, and a message already in
   * the history with it (recorded by an earlier attempt whose outcome was not recorded, as when
   * Redis died in between) is not recorded again.
   *
   * @param record - The delivery (its id, chat and content).
   * @returns The message id.
   * @throws `ChannelError` `PLATFORM_UNAVAILABLE` when the history cannot be written: the message
   *   stays queued and is tried again.
   */
  async deliverToChat(
    record: Pick<DeliveryRecord, "id" | "channel" | "address" | "content">,
  ): Promise<SendResult> {
    const { channel, address, content } = record;
    const messageId = `webchat-${record.id}`;
    if (this.#context.conversations.findMessage(channel, address, messageId) !== undefined)
      return { messageId };
    let recorded: Recorded;
    try {
      recorded = await this.#context.conversations.append(channel, address, {
        direction: "out",
        messageId,
        content,
        timestamp: Date.now(),
        peerId: address,
      });
    } catch (error) {
      throw new ChannelError(
        "PLATFORM_UNAVAILABLE",
        `could not record the message in the history of chat ${address}; it stays queued`,
        { cause: error },
      );
    }
    this.#context.events.broadcastAll([{ event: "conversation.updated", data: recorded }]);
    return { messageId };
  }

  /**
   * Records a message that reached its platform, durably, then tells the clients. Never rejects: a
   * history that cannot be written is logged, and the message was sent all the same.
   *
   * @param from - The connection whose request sent it, left out of `channel.message.sent`.
   * @param sender - Who wrote it, when known (the agent of a chat reply).
   */
  async recordSent(
    channel: string,
    address: string,
    content: MessageContent,
    messageId: string,
    from?: { readonly id: string },
    sender?: Sender,
  ): Promise<void> {
    const now = Date.now();
    let recorded: Recorded | undefined;
    try {
      recorded = await this.#context.conversations.append(channel, address, {
        direction: "out",
        messageId,
        content,
        timestamp: now,
        peerId: address,
        sender,
      });
    } catch (error) {
      this.#context.logger.error(
        { err: error, channel, messageId },
        "could not record a sent message in the history",
      );
    }
    const events: BroadcastEvent[] = [
      {
        event: "channel.message.sent",
        data: { channel, messageId, address, conversationId: address, content, timestamp: now },
        except: from,
      },
    ];
    if (recorded !== undefined) events.push({ event: "conversation.updated", data: recorded });
    this.#context.events.broadcastAll(events);
  }

  /** Tells the clients that a message was sent (`channel.message.sent`), without recording it. */
  #announceSent(
    channel: string,
    address: string,
    content: MessageContent,
    messageId: string,
    from?: { readonly id: string },
  ): void {
    const data = { channel, messageId, address, conversationId: address, content, timestamp: Date.now() };
    this.#context.events.broadcastAll([{ event: "channel.message.sent", data, except: from }]);
  }
}
