import { randomUUID } from "node:crypto";
import { type Adapter, type AdapterMember, chatRoom } from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import {
  type ChatRunEvent,
  type ChatRunStatus,
  type MethodParams,
  type MethodResult,
  ProtocolError,
  toProtocolError,
  WEBCHAT_CHANNEL,
} from "@openclaw/protocol";
import type { ChatTurn } from "../agents";
import type { BroadcastEvent, EventSink } from "../broadcast/Broadcaster";
import { webchatSettings } from "../channels/webchat";
import type { Logger } from "../logging";
import { SourceRateLimiter } from "../server/RateLimiter";
import type { ConversationStore, Recorded } from "../state/ConversationStore";
import type { AgentRunner } from "./AgentRunner";
import type { Messaging } from "./Messaging";

/** What the chat service needs. */
export interface ChatServiceContext {
  /** The config in force (`channels.webchat`, `agents`). */
  config(): Config;
  readonly logger: Logger;
  /** Rooms: a chat's subscribers are the members of its room, on every instance. */
  readonly adapter: Pick<Adapter, "join" | "leave" | "rooms">;
  readonly events: EventSink;
  readonly agents: Pick<AgentRunner, "streamAgent">;
  readonly conversations: Pick<ConversationStore, "append" | "recent">;
  readonly messaging: Pick<Messaging, "recordSent">;
}

/** Who asked: the connection (it joins the chat's room), and the client it said it is. */
export interface ChatCaller extends AdapterMember {
  readonly client?: { readonly name: string; readonly instanceId?: string | undefined } | undefined;
  /** The source its sends count against (`sendsPerSecondPerSource`); without one, the connection's id. */
  readonly source?: string | undefined;
}

interface Reply {
  readonly runId: string;
  readonly conversationId: string;
  readonly agent: string;
  /** The connection whose `chat.send` started it (for the per-connection limit). */
  readonly owner: string;
  readonly controller: AbortController;
  text: string;
  nextIndex: number;
}

/**
 * The built-in chat (`chat.*`): records a user's message in a `webchat` conversation, runs the
 * chat's agent and streams its reply to the chat's subscribers only (`chat.chunk`, `chat.run`),
 * then records the reply. Replies run on the instance that took the `chat.send`; its events reach
 * the subscribers on every instance through the adapter's rooms.
 */
export class ChatService {
  readonly #context: ChatServiceContext;
  readonly #replies = new Map<string, Reply>();
  readonly #repliesByOwner = new Map<string, number>();
  /** `chat.send` calls by source. */
  readonly #sends = new SourceRateLimiter();
  #stopped = false;

  constructor(context: ChatServiceContext) {
    this.#context = context;
  }

  /** The replies running here now. */
  get running(): number {
    return this.#replies.size;
  }

  /**
   * `chat.send`: records the message, subscribes the caller, starts the agent's reply. Answers once
   * the message is recorded; the reply streams as events.
   *
   * @throws `CHANNEL_UNAVAILABLE` when the chat channel is off, `NOT_FOUND` for an unknown agent,
   *   `CONFLICT` while a reply runs in the chat or past the subscription limit, `RATE_LIMITED` past
   *   the reply limits or the caller's source's sends per second.
   */
  async send(params: MethodParams<"chat.send">, caller: ChatCaller): Promise<MethodResult<"chat.send">> {
    const config = this.#context.config();
    const settings = this.#settings(config);
    const conversationId = params.conversationId ?? `web-${randomUUID()}`;
    const agent = params.agent ?? settings.agent;
    if (this.#stopped) throw new ProtocolError("SHUTTING_DOWN", "the gateway is stopping");
    if (agent !== "echo" && !Object.hasOwn(config.agents.list, agent))
      throw new ProtocolError("NOT_FOUND", `no agent named ${agent}`, {
        details: {
          reason: "unknown_agent",
          agents: [...new Set(["echo", ...Object.keys(config.agents.list)])],
        },
      });
    const running = this.#replies.get(conversationId);
    if (running !== undefined)
      throw new ProtocolError("CONFLICT", "a reply is still running in this chat; abort it first", {
        details: { reason: "reply_running", runId: running.runId, nextStep: "call chat.abort" },
      });
    if (this.#replies.size >= settings.maxReplies)
      throw tooManyReplies(settings.maxReplies, "the gateway is running its most replies at once");
    if ((this.#repliesByOwner.get(caller.id) ?? 0) >= settings.maxRepliesPerConnection)
      throw tooManyReplies(settings.maxRepliesPerConnection, "this connection has its most replies running");
    const { sendsPerSecondPerSource: perSecond, sendBurstPerSource: burst } = settings;
    const waitMs = this.#sends.take(caller.source ?? caller.id, perSecond, burst);
    if (waitMs > 0)
      throw new ProtocolError("RATE_LIMITED", `too many chat messages from this address (${perSecond}/s)`, {
        details: { reason: "too_many_sends_from_source", limit: perSecond, burst, retryAfterMs: waitMs },
      });
    this.subscribe(conversationId, caller);
    const client = caller.client;
    const sender = {
      id: `operator:${client?.instanceId ?? client?.name ?? caller.id}`,
      name: client?.name ?? "operator",
    };
    const messageId = `webchat-${randomUUID()}`;
    const timestamp = Date.now();
    // Taken before the first await: a second send racing this one sees the chat busy.
    const reply = this.#startReply(conversationId, agent, caller.id);
    let recorded: Recorded;
    try {
      recorded = await this.#context.conversations.append(WEBCHAT_CHANNEL, conversationId, {
        direction: "in",
        messageId,
        content: { text: params.text },
        timestamp,
        sender,
        peerId: conversationId,
      });
    } catch (error) {
      this.#endReply(reply);
      throw new ProtocolError("UNAVAILABLE", "the message could not be recorded; nothing was sent", {
        details: { reason: "state_write_failed" },
        cause: error,
      });
    }
    const events: BroadcastEvent[] = [
      {
        event: "channel.message.received",
        data: {
          channel: WEBCHAT_CHANNEL,
          message: {
            id: messageId,
            channel: WEBCHAT_CHANNEL,
            conversationId,
            peerId: conversationId,
            sender,
            text: params.text,
            timestamp,
          },
        },
      },
      { event: "conversation.updated", data: recorded },
    ];
    this.#context.events.broadcastAll(events);
    void this.#run(reply, settings.historyTurns, settings.replyTimeoutMs);
    return {
      conversationId,
      messageId,
      seq: recorded.message.seq,
      runId: reply.runId,
      agent,
    };
  }

  /** `chat.abort`: stops the chat's running reply (that run only, when `runId` is given). */
  abort(params: MethodParams<"chat.abort">): MethodResult<"chat.abort"> {
    const reply = this.#replies.get(params.conversationId);
    if (reply === undefined || (params.runId !== undefined && params.runId !== reply.runId))
      return { aborted: false, runId: null };
    if (!reply.controller.signal.aborted)
      reply.controller.abort(new ProtocolError("CONNECTION_CLOSED", "the reply was aborted"));
    return { aborted: true, runId: reply.runId };
  }

  /**
   * `chat.subscribe`: the caller receives the chat's `chat.chunk` and `chat.run` events from now on.
   *
   * @throws `CONFLICT` (`too_many_subscriptions`) past `maxSubscriptionsPerConnection`.
   */
  subscribe(conversationId: string, caller: ChatCaller): MethodResult<"chat.subscribe"> {
    const room = chatRoom(conversationId);
    const { adapter } = this.#context;
    const rooms = adapter.rooms(caller.id);
    if (!rooms.has(room)) {
      const limit = this.#settings(this.#context.config()).maxSubscriptionsPerConnection;
      let subscribed = 0;
      for (const joined of rooms) if (joined.startsWith(CHAT_ROOM_PREFIX)) subscribed++;
      if (subscribed >= limit)
        throw new ProtocolError("CONFLICT", `a connection may follow at most ${limit} chats at once`, {
          details: { reason: "too_many_subscriptions", limit, nextStep: "call chat.unsubscribe first" },
        });
      adapter.join(caller, [room]);
    }
    const reply = this.#replies.get(conversationId);
    return {
      conversationId,
      running:
        reply === undefined
          ? null
          : { runId: reply.runId, agent: reply.agent, text: reply.text, nextIndex: reply.nextIndex },
    };
  }

  /** `chat.unsubscribe`. */
  unsubscribe(conversationId: string, caller: ChatCaller): MethodResult<"chat.unsubscribe"> {
    const room = chatRoom(conversationId);
    const subscribed = this.#context.adapter.rooms(caller.id).has(room);
    if (subscribed) this.#context.adapter.leave(caller.id, room);
    return { unsubscribed: subscribed };
  }

  /** Aborts every running reply (shutdown); what they wrote so far is recorded. */
  stop(): void {
    this.#stopped = true;
    for (const reply of this.#replies.values())
      reply.controller.abort(new ProtocolError("SHUTTING_DOWN", "the gateway is stopping"));
  }

  #settings(config: Config): NonNullable<ReturnType<typeof webchatSettings>> {
    const settings = webchatSettings(config);
    if (settings === undefined)
      throw new ProtocolError("CHANNEL_UNAVAILABLE", `channel ${WEBCHAT_CHANNEL} is switched off`, {
        details: {
          reason: "channel_disabled",
          channel: WEBCHAT_CHANNEL,
          nextStep: `set channels.${WEBCHAT_CHANNEL}.enabled to true`,
        },
      });
    return settings;
  }

  #startReply(conversationId: string, agent: string, owner: string): Reply {
    const reply: Reply = {
      runId: randomUUID(),
      conversationId,
      agent,
      owner,
      controller: new AbortController(),
      text: "",
      nextIndex: 0,
    };
    this.#replies.set(conversationId, reply);
    this.#repliesByOwner.set(owner, (this.#repliesByOwner.get(owner) ?? 0) + 1);
    return reply;
  }

  #endReply(reply: Reply): void {
    if (this.#replies.get(reply.conversationId) === reply) this.#replies.delete(reply.conversationId);
    const owned = (this.#repliesByOwner.get(reply.owner) ?? 1) - 1;
    if (owned <= 0) this.#repliesByOwner.delete(reply.owner);
    else this.#repliesByOwner.set(reply.owner, owned);
  }

  /** Runs the agent on the chat's recent turns, streams, records the reply. Never rejects. */
  async #run(reply: Reply, historyTurns: number, timeoutMs: number): Promise<void> {
    const { conversationId, runId, agent, controller } = reply;
    const rooms = [chatRoom(conversationId)];
    const { events, logger } = this.#context;
    events.broadcast("chat.run", { conversationId, runId, agent, status: "started" }, { rooms });
    const timer = setTimeout(
      () => controller.abort(new ProtocolError("TIMEOUT", `agent ${agent} ran past its time limit`)),
      timeoutMs,
    );
    let status: ChatRunStatus = "completed";
    let failure: ProtocolError | undefined;
    try {
      const turns = this.#turns(conversationId, historyTurns);
      for await (const delta of this.#context.agents.streamAgent(agent, turns, controller.signal)) {
        if (controller.signal.aborted) break;
        const index = reply.nextIndex++;
        reply.text += delta;
        events.broadcast("chat.chunk", { conversationId, runId, index, delta }, { rooms });
      }
    } catch (error) {
      if (!controller.signal.aborted) {
        status = "failed";
        failure = toProtocolError(error);
      }
    } finally {
      clearTimeout(timer);
    }
    if (controller.signal.aborted) {
      const reason = controller.signal.reason;
      if (reason instanceof ProtocolError && reason.code === "TIMEOUT") {
        status = "failed";
        failure = reason;
      } else status = "aborted";
    }
    let messageId: string | undefined;
    if (reply.text.trim() !== "") {
      messageId = `webchat-${randomUUID()}`;
      // Recorded before the run's end is told, so a client that reads the history then has it.
      await this.#context.messaging.recordSent(
        WEBCHAT_CHANNEL,
        conversationId,
        { text: reply.text },
        messageId,
        undefined,
        { id: `agent:${agent}`, name: agent, isBot: true },
      );
    }
    this.#endReply(reply);
    const end: ChatRunEvent = { conversationId, runId, agent, status };
    if (messageId !== undefined) end.messageId = messageId;
    if (failure !== undefined) {
      end.error = { code: failure.code, message: failure.message };
      logger.warn({ conversationId, agent, err: failure.message }, "chat reply failed");
    }
    events.broadcast("chat.run", end, { rooms });
  }

  /** The chat's recent messages as the agent's turns, oldest first. */
  #turns(conversationId: string, limit: number): ChatTurn[] {
    return this.#context.conversations.recent(WEBCHAT_CHANNEL, conversationId, limit).map((message) => ({
      role: message.direction === "in" ? "user" : "assistant",
      content: message.content.text ?? "",
    }));
  }
}

const CHAT_ROOM_PREFIX = chatRoom("");

function tooManyReplies(limit: number, message: string): ProtocolError {
  return new ProtocolError("RATE_LIMITED", `${message} (${limit}); try again when one has finished`, {
    details: { reason: "too_many_replies", limit, retryAfterMs: 1000 },
  });
}
