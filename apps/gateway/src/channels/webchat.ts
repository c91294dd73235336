import { randomUUID } from "node:crypto";
import { type ChannelPluginFactory, defineChannel } from "@openclaw/channel-sdk";
import type { ChannelConfig, Config } from "@openclaw/config";
import { WEBCHAT_CHANNEL } from "@openclaw/protocol";
import * as v from "valibot";
import { pluginSettings } from "./ChannelManager";

const count = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/**
 * The settings of the built-in chat channel (`channels.webchat`), besides the keys every channel has
 * (`enabled`, `agent`). All optional; the defaults are in {@link WEBCHAT_DEFAULTS}.
 */
export const WebchatSettingsSchema = v.object({
  /** Chats one connection may be subscribed to at once (`chat.subscribe`, `chat.send`). */
  maxSubscriptionsPerConnection: v.optional(count(1, 10_000), 64),
  /** Replies running at once that one connection started; more are refused with `RATE_LIMITED`. */
  maxRepliesPerConnection: v.optional(count(1, 1_000), 4),
  /** Replies running at once in all; more are refused with `RATE_LIMITED`. */
  maxReplies: v.optional(count(1, 100_000), 256),
  /**
   * `chat.send` calls per second from one source (an address, an IPv6 /64, or a client behind a
   * trusted proxy), over all its connections, sustained; more get `RATE_LIMITED`
   * (`too_many_sends_from_source`, with `retryAfterMs`).
   */
  sendsPerSecondPerSource: v.optional(v.pipe(v.number(), v.minValue(0.01), v.maxValue(100_000)), 10),
  /** `chat.send` calls one source may make at once above `sendsPerSecondPerSource`. */
  sendBurstPerSource: v.optional(count(1, 100_000), 30),
  /** The most recent messages of the chat given to the agent with the new one. */
  historyTurns: v.optional(count(1, 1_000), 20),
  /** A reply running longer than this fails with `TIMEOUT` (what it wrote so far is kept). */
  replyTimeoutMs: v.optional(count(1_000, 3_600_000), 120_000),
});

/** The built-in chat channel's settings, defaults applied. */
export type WebchatSettings = v.InferOutput<typeof WebchatSettingsSchema>;

/** The built-in chat channel's defaults. */
export const WEBCHAT_DEFAULTS: Readonly<WebchatSettings> = Object.freeze(v.parse(WebchatSettingsSchema, {}));

/**
 * The built-in chat channel's plugin. The chat itself is served over the WebSocket by the gateway
 * (`chat.*`); as a channel it is what `message.send`, bindings and the delivery queue see: the
 * gateway's delivery queue sends to a chat (its conversation id) by recording the message in the
 * chat's history (`Messaging.deliverToChat`, idempotent per delivery, retried while the history
 * cannot be written), which is how the chat's clients receive it (`conversation.updated`); this
 * plugin's own `send` only answers an id. It holds no connection, so it runs on every instance of
 * a cluster.
 */
export const webchatChannel: ChannelPluginFactory<WebchatSettings> = defineChannel({
  name: WEBCHAT_CHANNEL,
  capabilities: ["text", "markdown"],
  config: WebchatSettingsSchema,
  placement: "everywhere",
  create() {
    return {
      start(context) {
        context.setStatus("ready");
      },
      send() {
        return { messageId: `webchat-${randomUUID()}` };
      },
      stop() {},
      details: () => ({ builtIn: true }),
    };
  },
});

/**
 * The configured channels with the built-in chat channel added when the config does not mention
 * it: it is always there unless `channels.webchat.enabled` is `false`.
 *
 * @param channels - `config.channels`.
 * @returns The channels to run.
 */
export function withBuiltInChannels(
  channels: Readonly<Record<string, ChannelConfig>>,
): Readonly<Record<string, ChannelConfig>> {
  if (Object.hasOwn(channels, WEBCHAT_CHANNEL)) return channels;
  return { ...channels, [WEBCHAT_CHANNEL]: { enabled: true } };
}

const parsedSettings = new WeakMap<object, WebchatSettings>();

/**
 * The built-in chat channel's settings in a config, and the agent that answers its chats:
 * `channels.webchat.agent`, else `agents.default`. `undefined` when the channel is switched off.
 */
export function webchatSettings(config: Config): (WebchatSettings & { agent: string }) | undefined {
  const section = config.channels[WEBCHAT_CHANNEL];
  if (section?.enabled === false) return undefined;
  const agent = section?.agent ?? config.agents.default;
  if (section === undefined) return { ...WEBCHAT_DEFAULTS, agent };
  let settings = parsedSettings.get(section);
  if (settings === undefined) {
    const parsed = v.safeParse(WebchatSettingsSchema, pluginSettings(section));
    // Invalid settings keep the channel down (the channel manager reports why); chats use the defaults.
    settings = parsed.success ? parsed.output : WEBCHAT_DEFAULTS;
    parsedSettings.set(section, settings);
  }
  return { ...settings, agent };
}
