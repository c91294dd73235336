import type { ChannelCapability, ChannelState, InboundMessage, MessageContent } from "@openclaw/protocol";
import type * as v from "valibot";

/**
 * A webhook request, independent of the HTTP framework: the gateway builds it from the incoming
 * request. `body` is the raw bytes, exactly as received, because signatures are computed over them.
 */
export interface WebhookRequest {
  method: string;
  /** The path below the channel's webhook URL, e.g. `/` or `/interactions`. */
  path: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
  body: Uint8Array;
}

/** What the gateway answers the platform with. */
export interface WebhookResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
}

/** The normalised inbound message a plugin emits; `channel` and `timestamp` are filled in when omitted. */
export type InboundMessageInput = Omit<InboundMessage, "channel" | "timestamp"> & {
  channel?: string;
  timestamp?: number;
};

/** Where a plugin logs. Never log tokens; message bodies only at `debug`. */
export interface ChannelLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What the gateway hands a plugin at `initialize`. A plugin sees its own config only. */
export interface ChannelContext<C = unknown> {
  /** The channel's name in the gateway's config (one plugin may run several channels). */
  readonly channel: string;
  /** This channel's validated settings. */
  readonly config: C;
  /**
   * Hands an inbound message to the gateway. Validated: a malformed message throws a
   * `ChannelError` (`INTERNAL`) at once, since it is a plugin bug.
   *
   * @returns Resolves once the host has taken the message: the gateway has recorded it durably in
   * the conversation history and told its clients. A plugin awaits it before acknowledging to its
   * platform, so a crash of the gateway loses nothing. Rejects with a `ChannelError`
   * `HOST_UNAVAILABLE` when the gateway cannot record the message (a full disk): then nothing was
   * broadcast or remembered, and the plugin must not acknowledge it either. It answers a webhook
   * with a 5xx (or the platform's own retry signal) so that the platform redelivers it, or keeps
   * its cursor where it is and emits again (`emitUntilTaken`). A repeat of a message already
   * taken resolves without a second record.
   */
  emit(message: InboundMessageInput): Promise<void>;
  /** Reports the channel's health (`connecting`, `ready`, `degraded`, `down`), with an optional reason. */
  setStatus(state: ChannelState, detail?: { error?: unknown; details?: Record<string, unknown> }): void;
  readonly logger: ChannelLogger;
  /** Aborted when the channel is being destroyed: stop polling, close sockets. */
  readonly signal: AbortSignal;
}

/** Options of one send. */
export interface SendOptions {
  /** Platform message id to reply to. */
  replyTo?: string;
  /** Aborted when the gateway gives up on the send. */
  signal?: AbortSignal;
  /**
   * The same for every attempt at this message (the gateway's delivery id). Plugins whose platform
   * deduplicates sends (Matrix transaction ids, Discord's enforced nonces, an `Idempotency-Key`
   * header) pass it on, so that a retry after an unknown outcome cannot post twice.
   */
  idempotencyKey?: string;
}

/** The outcome of a send. */
export interface SendResult {
  /** The platform's id of the (first) message sent. */
  messageId: string;
  /** Every message id, when long text was split into several messages. */
  messageIds?: string[];
}

/** A channel's health, as shown by `channel.status` and `/ready`. */
export interface ChannelHealth {
  state: ChannelState;
  /** When the channel entered this state. */
  since: number;
  lastError?: { code: string; message: string; at: number };
  /** Plugin facts (bot name, poll lag). No secrets. */
  details?: Record<string, unknown>;
}

/** Limits that shape outgoing content. */
export interface ChannelLimits {
  /** Longest text one message may carry; longer text is split. */
  maxTextLength?: number;
}

/**
 * The contract between the gateway and a channel: one instance per configured channel.
 * Build one with `defineChannel()`, which adds validation, fallbacks, splitting and health tracking.
 */
export interface ChannelPlugin<C = unknown> {
  /** The plugin's name, e.g. `telegram`. */
  readonly name: string;
  readonly capabilities: readonly ChannelCapability[];
  readonly limits: Readonly<ChannelLimits>;
  /** Connects to the platform (or arms the webhook). Rejects with a `ChannelError` it cannot recover from. */
  initialize(config: C, context: ChannelContext<C>): Promise<void>;
  /** Sends a message. Rejects with a `ChannelError`. */
  send(recipient: string, content: MessageContent, options?: SendOptions): Promise<SendResult>;
  /** Handles a platform webhook; absent (or `undefined`) for channels that only poll or hold a socket. */
  readonly handleWebhook?: ((request: WebhookRequest) => Promise<WebhookResponse>) | undefined;
  /** Current health. */
  status(): ChannelHealth;
  /** Disconnects and releases everything: no timer, socket or request may outlive it. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Where a channel runs when several gateway instances form one cluster (a single gateway runs every
 * channel either way):
 * - `"leased"`: on one instance at a time, under a lease. For a channel that holds a connection or
 *   a poll (Telegram polling, Discord's gateway socket, Matrix sync, Slack Socket Mode, Signal,
 *   WhatsApp Web): two instances would both receive every message. The other instances stand by
 *   and take over when the holder dies or loses the cluster's backend.
 * - `"everywhere"`: on every instance. For a channel that only receives webhooks (and sends): a
 *   webhook may reach any instance behind the load balancer, and each handles it.
 */
export type ChannelPlacement = "leased" | "everywhere";

/** What an extension package exports: makes plugin instances and describes their config. */
export interface ChannelPluginFactory<C = unknown> {
  readonly name: string;
  readonly capabilities: readonly ChannelCapability[];
  /** Validates a channel's settings (the gateway runs it on config load and reload). */
  readonly configSchema: v.GenericSchema<unknown, C>;
  /**
   * Where a channel of this plugin runs in a cluster, from its validated settings (so that a plugin
   * with both kinds of mode can tell: Telegram's `polling` is leased, its `webhook` mode runs
   * everywhere). Ignored by a single gateway.
   *
   * @param config - The channel's validated settings.
   * @returns Its placement. Without this method: `"leased"` (safe for any plugin: never two
   *   connections to one account).
   */
  placement?(config: C): ChannelPlacement;
  /** A new, uninitialized instance. */
  create(): ChannelPlugin<C>;
}
