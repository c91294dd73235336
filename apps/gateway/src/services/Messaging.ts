import { createHash } from "node:crypto";
import { ChannelError } from "@openclaw/channel-sdk";
import {
  type MessageContent,
  type MethodParams,
  type MethodResult,
  ProtocolError,
  type Sender,
  toProtocolError,
} from "@openclaw/protocol";
import type { Router } from "@openclaw/router";
import type { BroadcastEvent, EventSink } from "../broadcast/Broadcaster";
import type { ChannelManager } from "../channels/ChannelManager";
import type { OutboundQueue } from "../delivery/OutboundQueue";
import type { Logger } from "../logging";
import type { ConversationStore, Recorded } from "../state/ConversationStore";

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
  readonly conversations: Pick<ConversationStore, "append">;
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
  async sendMessage(
    params: MethodParams<"message.send">,
    from?: { readonly id: string },
  ): Promise<MethodResult<"message.send">> {
    const content = params.content ?? { text: params.text! };
    let channel = params.channel;
    let address = params.recipient;
    let route: MethodResult<"message.send">["route"];
    if (channel === undefined) {
      const resolved = this.#context.router.resolve(params.recipient, params.context ?? {});
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
      await this.recordSent(channel, address, content, outcome.messageId, from);
    }
    if (route !== undefined) result.route = route;
    return result;
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
}
