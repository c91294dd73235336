import type { KeyStore } from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import type { InboundMessage } from "@openclaw/protocol";
import type { BroadcastEvent, EventSink } from "../broadcast/Broadcaster";
import type { Logger } from "../logging";
import type { ConversationStore, Recorded } from "../state/ConversationStore";
import { inSpan, tracingActive } from "../telemetry/tracing";
import type { AgentRunner } from "./AgentRunner";
import type { Messaging } from "./Messaging";

/** What the inbound pipeline needs. */
export interface InboundPipelineContext {
  /** The config in force (`channels.<name>.agent`). */
  config(): Config;
  readonly logger: Logger;
  /**
   * Inbound platform message ids seen, once opened; `undefined` when the history alone answers
   * (`hasInbound` of a `ConversationStore` that keeps the ids of messages it no longer holds).
   */
  seen(): KeyStore<1> | undefined;
  readonly conversations: Pick<ConversationStore, "append" | "hasInbound">;
  readonly events: EventSink;
  readonly agents: Pick<AgentRunner, "runAgent">;
  readonly messaging: Pick<Messaging, "sendMessage">;
}

/** Inbound messages: dedupe → history → broadcast → the channel's agent replies. */
export class InboundPipeline {
  readonly #context: InboundPipelineContext;
  /** The messages being written, by channel and id: a repeat meanwhile waits for the first. */
  readonly #pending = new Map<string, Promise<void>>();

  constructor(context: InboundPipelineContext) {
    this.#context = context;
  }

  /**
   * Takes an inbound message: drops a repeat, records it durably in the history, tells the clients,
   * remembers its id for dedupe. Resolves once it is in the history on disk and broadcast, so a
   * plugin that awaits `emit` before acknowledging to its platform loses nothing on a crash.
   *
   * @throws What the history's write failed with (a full disk): the message was not recorded, and
   *   is neither broadcast nor remembered, so the platform's redelivery is taken. A repeat that
   *   arrives while the first is being written waits for it, and fails with it.
   */
  receive(channel: string, message: InboundMessage): Promise<void> {
    if (!tracingActive()) return this.#receive(channel, message);
    // The agent's run and its reply start within this span, and are its children.
    return inSpan(
      "inbound.message",
      {
        "openclaw.channel": channel,
        "openclaw.message.id": message.id,
        "openclaw.conversation.id": message.conversationId,
      },
      () => this.#receive(channel, message),
    );
  }

  async #receive(channel: string, message: InboundMessage): Promise<void> {
    const { logger, conversations } = this.#context;
    const seen = this.#context.seen();
    const pendingKey = `${channel}\u0000${message.id}`;
    const key = seen === undefined ? "" : pendingKey;
    // A repeat of a message still being written is taken only if that write is.
    const pending = this.#pending.get(pendingKey);
    if (pending !== undefined) return pending;
    // The history knows every id it recorded (and, by default, those of the messages it no longer
    // holds, within the dedupe window); a dedupe store of the options catches replays older than
    // the history holds, and the history a replay whose id is not yet remembered there.
    if (conversations.hasInbound(channel, message.conversationId, message.id) || seen?.has(key) === true) {
      logger.debug({ channel, messageId: message.id }, "duplicate inbound message dropped");
      return;
    }
    const content =
      message.attachments === undefined
        ? { text: message.text ?? "" }
        : { text: message.text ?? "", attachments: message.attachments };
    const appended = conversations.append(channel, message.conversationId, {
      direction: "in",
      messageId: message.id,
      content:
        content.text === "" && content.attachments === undefined ? { text: "(empty message)" } : content,
      timestamp: message.timestamp,
      sender: message.sender,
      peerId: message.peerId,
      guildId: message.guildId,
    });
    const recording = appended.then(
      () => undefined,
      (error: unknown) => {
        logger.error(
          { err: error, channel, messageId: message.id },
          "could not record an inbound message in the history; refused, so that it is delivered again",
        );
        throw error;
      },
    );
    // Awaited by repeats only; this call rejects through `appended`.
    recording.catch(() => {});
    this.#pending.set(pendingKey, recording);
    let recorded: Recorded;
    try {
      recorded = await appended;
    } finally {
      this.#pending.delete(pendingKey);
    }
    this.#deliver(channel, message, recorded);
    // Not awaited: once the history holds the message, it is safe to acknowledge; until the id is
    // on disk in the dedupe store, a replay is recognised by the history.
    seen
      ?.remember(key, 1)
      .catch((error: unknown) =>
        logger.error({ err: error, channel }, "could not remember an inbound message id"),
      );
  }

  #deliver(channel: string, message: InboundMessage, recorded: Recorded): void {
    this.#context.logger.debug(
      { channel, conversationId: message.conversationId, text: message.text },
      "inbound message",
    );
    const events: BroadcastEvent[] = [
      { event: "channel.message.received", data: { channel, message } },
      { event: "conversation.updated", data: recorded },
    ];
    this.#context.events.broadcastAll(events);
    const agent = this.#context.config().channels[channel]?.agent;
    if (
      agent !== undefined &&
      message.text !== undefined &&
      message.text !== "" &&
      message.sender.isBot !== true
    ) {
      void this.#replyWithAgent(channel, agent, message);
    }
  }

  /** Runs the channel's agent on an inbound message and sends its answer back in the conversation. */
  async #replyWithAgent(channel: string, agent: string, message: InboundMessage): Promise<void> {
    try {
      const run = await this.#context.agents.runAgent({ agent, input: message.text! }, undefined);
      if (run.output.trim() === "") return;
      await this.#context.messaging.sendMessage({
        recipient: message.conversationId,
        channel,
        text: run.output,
        replyTo: message.id,
      });
    } catch (error) {
      this.#context.logger.warn(
        { channel, agent, conversationId: message.conversationId, err: (error as Error).message },
        "agent reply failed",
      );
    }
  }
}
