import { createHash } from "node:crypto";
import {
  type Attachment,
  type Button,
  type ChannelContext,
  ChannelError,
  defineChannel,
  type InboundMessageInput,
  InboundRetrier,
  type MessageContent,
  v,
  verifyDiscordSignature,
  type WebhookRequest,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import {
  Client,
  DiscordAPIError,
  DiscordjsError,
  Events,
  GatewayIntentBits,
  HTTPError,
  type Message,
  type MessageCreateOptions,
  Partials,
  RateLimitError,
  Routes,
  type SendableChannels,
} from "discord.js";

/** Discord's limit on one message's content. */
export const DISCORD_MAX_TEXT = 2000;

/**
 * Milliseconds discord.js adds to every rate-limit wait for clock skew and latency. The plugin
 * subtracts it again when it reports Discord's own `retry_after`.
 */
export const DISCORD_RATE_LIMIT_OFFSET_MS = 50;

/** Discord's interaction types the plugin handles. */
const InteractionType = { Ping: 1, ApplicationCommand: 2, MessageComponent: 3 } as const;
/** Interaction callback types. */
const InteractionResponse = { Pong: 1, DeferredChannelMessageWithSource: 5 } as const;
/** How long Discord accepts edits of an interaction's response. */
const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60 * 1000;

/** Settings of a Discord channel (`channels.<name>` in openclaw.json). */
export const DiscordConfigSchema = v.object({
  /** The bot token from the Developer Portal (Bot → Reset Token). Write it as `${DISCORD_BOT_TOKEN}`. */
  botToken: v.pipe(
    v.string(),
    v.regex(/^[\w-]{16,}\.[\w-]{4,}\.[\w-]{16,}$/, "must be a Discord bot token (three dot-separated parts)"),
  ),
  /**
   * The application's public key (General Information → Public Key, 64 hex characters). Needed to
   * receive interactions (slash commands, buttons) at `/webhook/<channel>`; without it the channel
   * takes no webhooks.
   */
  publicKey: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters"))),
  /** The REST API root; the gateway URL is discovered from it (`GET /gateway/bot`). */
  apiRoot: v.optional(v.pipe(v.string(), v.url()), "https://discord.com/api"),
  /**
   * The longest rate-limit wait a send sits out before giving up with `RATE_LIMITED` (and Discord's
   * `retry_after`). Shorter waits, from a 429 or from the `X-RateLimit-*` headers, are waited out.
   */
  maxRateLimitWaitMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(600_000)), 5000),
  /** Timeout of one REST request. */
  requestTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(120_000)), 15_000),
  /** How long `initialize` waits for the gateway's READY and the guilds before it fails. */
  readyTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(300_000)), 30_000),
  /** First delay before logging in again after Discord ended the session for good; doubles each try. */
  reconnectBaseMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(600_000)), 1000),
  /** Longest delay between two logins after a lost session. */
  reconnectMaxMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(3_600_000)), 60_000),
  /** Accepted clock difference of an interaction's `X-Signature-Timestamp`, in seconds. */
  signatureToleranceSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 300),
  /** Most interactions awaiting their reply at once (each is answerable for 15 minutes). */
  maxPendingInteractions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1000),
  /**
   * How long a deferred command or button click waits for its reply. Past it, Discord's "thinking…"
   * message is replaced by `unansweredInteractionText`, so that the user does not see a failed
   * interaction when nothing answers (Discord accepts edits for 15 minutes).
   */
  interactionReplyTimeoutMs: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(14 * 60 * 1000)),
    10 * 60 * 1000,
  ),
  /** What an interaction that got no reply in `interactionReplyTimeoutMs` finally says. */
  unansweredInteractionText: v.optional(
    v.pipe(v.string(), v.minLength(1), v.maxLength(DISCORD_MAX_TEXT)),
    "No answer came for this one.",
  ),
  /** Drop messages written by bots (the bot's own messages are always dropped). */
  ignoreBots: v.optional(v.boolean(), true),
});

/** Validated Discord settings. */
export type DiscordConfig = v.InferOutput<typeof DiscordConfigSchema>;

interface PendingInteraction {
  applicationId: string;
  token: string;
  expiresAt: number;
  /** Answers the interaction with `unansweredInteractionText` when no reply came. */
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The Discord channel plugin, built on discord.js: a gateway connection (resumed by discord.js after
 * a dropped socket, logged in again with backoff after a lost session), guild messages and DMs in
 * (with the guild id, for guild bindings), `channel.send` out with replies, buttons, embeds and file
 * uploads, Discord's rate limits waited out up to `maxRateLimitWaitMs`, and HTTP interactions verified
 * with Ed25519 (PING answered; commands and button clicks deferred and answered by the next send that
 * replies to them, or with `unansweredInteractionText` when none comes in `interactionReplyTimeoutMs`).
 *
 * Recipients are a channel id (guild channel, thread or DM channel) or `user:<id>` for a DM.
 */
export const discordChannel = defineChannel({
  name: "discord",
  capabilities: ["text", "markdown", "media", "buttons", "threads"],
  limits: { maxTextLength: DISCORD_MAX_TEXT },
  webhooks: true,
  config: DiscordConfigSchema,
  create() {
    let context: ChannelContext<DiscordConfig>;
    let client: Client | undefined;
    let stopped = false;
    let relogin: ReturnType<typeof setTimeout> | undefined;
    let reloginAttempt = 0;
    let reconnects = 0;
    let lastEventAt: number | undefined;
    const pending = new Map<string, PendingInteraction>();

    const toInbound = (message: Message): InboundMessageInput => {
      const author = message.author;
      const inbound: InboundMessageInput = {
        id: message.id,
        conversationId: message.channelId,
        peerId: message.channelId,
        sender: {
          id: author.id,
          name: author.globalName ?? author.username,
          username: author.username,
          isBot: author.bot,
        },
        text: message.content,
        timestamp: message.createdTimestamp,
        raw: message.toJSON(),
      };
      if (message.guildId !== null) inbound.guildId = message.guildId;
      if (message.channel?.isThread?.() === true) inbound.threadId = message.channelId;
      if (message.reference?.messageId !== undefined) inbound.replyTo = message.reference.messageId;
      if (message.attachments.size > 0) {
        inbound.attachments = [...message.attachments.values()].slice(0, 32).map((a) => {
          const attachment: Attachment = {
            kind: attachmentKind(a.contentType),
            url: a.url,
            filename: a.name,
          };
          if (a.contentType !== null) attachment.mimeType = a.contentType;
          if (typeof a.size === "number") attachment.sizeBytes = a.size;
          return attachment;
        });
      }
      return inbound;
    };

    /** Hands gateway messages over, again with backoff while the gateway cannot record them. */
    let retrier: InboundRetrier;

    const connect = async (): Promise<void> => {
      const config = context.config;
      const next = new Client({
        intents: [
          GatewayIntentBits.Guilds,
          GatewayIntentBits.GuildMessages,
          GatewayIntentBits.DirectMessages,
          GatewayIntentBits.MessageContent,
        ],
        // DMs arrive for channels discord.js has not cached.
        partials: [Partials.Channel],
        rest: {
          api: config.apiRoot,
          timeout: config.requestTimeoutMs,
          offset: DISCORD_RATE_LIMIT_OFFSET_MS,
          rejectOnRateLimit: (limit) => limit.retryAfter > config.maxRateLimitWaitMs,
        },
        waitGuildTimeout: Math.min(15_000, config.readyTimeoutMs),
      });
      client = next;
      next.on(Events.MessageCreate, (message) => {
        lastEventAt = Date.now();
        if (message.author.id === next.user?.id) return;
        if (message.author.bot && config.ignoreBots) return;
        // Discord's gateway pushes each message once and never again: one the gateway cannot
        // record yet (a full disk) is emitted again, with backoff, until it is taken or we stop.
        retrier.emit(toInbound(message));
      });
      next.on(Events.ShardReconnecting, () => {
        reconnects++;
        if (!stopped) context.setStatus("degraded", { details: { gateway: "reconnecting" } });
      });
      next.on(Events.ShardResume, () => {
        if (!stopped) context.setStatus("ready", { details: { gateway: "resumed" } });
      });
      next.on(Events.ShardReady, () => {
        if (!stopped && next.isReady()) context.setStatus("ready", { details: { gateway: "connected" } });
      });
      next.on(Events.ShardDisconnect, (event) => {
        if (stopped) return;
        // discord.js gives up on this session (an unrecoverable close code).
        const auth = event.code === 4004;
        const error = new ChannelError(
          auth ? "AUTH_FAILED" : "PLATFORM_UNAVAILABLE",
          `Discord closed the gateway connection with ${event.code}`,
          { platformCode: event.code },
        );
        context.setStatus("down", { error });
        if (!auth) scheduleRelogin();
      });
      next.on(Events.Error, (error) => context.logger.warn("discord client error", { error: error.message }));
      next.on(Events.ShardError, (error) =>
        context.logger.debug("discord gateway error", { error: error.message }),
      );

      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new ChannelError(
                "PLATFORM_UNAVAILABLE",
                `Discord's gateway was not ready within ${config.readyTimeoutMs} ms`,
              ),
            ),
          config.readyTimeoutMs,
        );
        next.once(Events.ClientReady, () => {
          clearTimeout(timer);
          resolve();
        });
        context.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(new ChannelError("NOT_READY", "the channel is stopping"));
        });
      });
      try {
        await Promise.all([next.login(config.botToken), ready]);
        reloginAttempt = 0;
      } catch (error) {
        client = undefined;
        await next.destroy().catch(() => {});
        throw toChannelError(error);
      }
    };

    const scheduleRelogin = () => {
      if (stopped || relogin !== undefined) return;
      const { reconnectBaseMs, reconnectMaxMs } = context.config;
      const delay = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** reloginAttempt);
      reloginAttempt++;
      relogin = setTimeout(async () => {
        relogin = undefined;
        const old = client;
        client = undefined;
        await old?.destroy().catch(() => {});
        if (stopped) return;
        try {
          await connect();
          context.setStatus("ready", { details: { gateway: "connected" } });
        } catch (error) {
          if (stopped) return;
          const failure = toChannelError(error);
          context.setStatus("down", { error: failure });
          if (failure.code !== "AUTH_FAILED") scheduleRelogin();
        }
      }, delay);
    };

    const resolveChannel = async (bot: Client, recipient: string): Promise<SendableChannels> => {
      const dm = /^user:(\d{17,20})$/.exec(recipient);
      if (dm !== null) return bot.users.createDM(dm[1]!);
      if (!/^\d{17,20}$/.test(recipient))
        throw new ChannelError(
          "RECIPIENT_NOT_FOUND",
          `"${recipient}" is not a Discord channel id; use a channel id or user:<user id>`,
        );
      const channel = await bot.channels.fetch(recipient);
      if (channel === null || !channel.isSendable())
        throw new ChannelError("RECIPIENT_NOT_FOUND", `Discord channel ${recipient} takes no messages`);
      return channel;
    };

    /** Takes an interaction out of the pending ones (it is answered, expired or crowded out). */
    const settle = (id: string): PendingInteraction | undefined => {
      const interaction = pending.get(id);
      if (interaction === undefined) return undefined;
      clearTimeout(interaction.timer);
      pending.delete(id);
      return interaction;
    };

    const prunePending = () => {
      const now = Date.now();
      for (const [id, interaction] of pending) if (interaction.expiresAt <= now) settle(id);
      while (pending.size >= context.config.maxPendingInteractions) {
        const oldest = pending.keys().next().value;
        if (oldest === undefined) break;
        settle(oldest);
      }
    };

    /** Replaces the "thinking…" message of an interaction nobody answered. */
    const answerUnanswered = async (id: string) => {
      const interaction = settle(id);
      const bot = client;
      if (interaction === undefined || bot === undefined || stopped) return;
      try {
        await bot.rest.patch(
          Routes.webhookMessage(interaction.applicationId, interaction.token, "@original"),
          {
            body: { content: context.config.unansweredInteractionText },
            auth: false,
          },
        );
      } catch (error) {
        context.logger.warn("could not close an unanswered interaction", {
          interaction: id,
          error: (error as Error).message,
        });
      }
    };

    return {
      async start(ctx) {
        context = ctx;
        retrier = new InboundRetrier(ctx);
        await connect();
      },

      async send(recipient, content, { replyTo, idempotencyKey }) {
        const bot = client;
        if (bot === undefined)
          throw new ChannelError("PLATFORM_UNAVAILABLE", "not connected to Discord; reconnecting");
        try {
          const interaction = replyTo === undefined ? undefined : settle(replyTo);
          if (interaction !== undefined && interaction.expiresAt > Date.now()) {
            // The first answer to a deferred command replaces Discord's "thinking…" message.
            const { body, files } = toRawBody(content);
            const edited = (await bot.rest.patch(
              Routes.webhookMessage(interaction.applicationId, interaction.token, "@original"),
              { body, files, auth: false },
            )) as { id: string };
            return { messageId: edited.id };
          }
          const channel = await resolveChannel(bot, recipient);
          const payload = toPayload(content, replyTo);
          if (idempotencyKey !== undefined) {
            // Discord returns the first message for a repeated nonce (for a few minutes) instead of posting again.
            payload.nonce = createHash("sha256").update(idempotencyKey).digest("base64url").slice(0, 25);
            payload.enforceNonce = true;
          }
          const sent = await channel.send(payload);
          return { messageId: sent.id };
        } catch (error) {
          throw toChannelError(error);
        }
      },

      async webhook(request: WebhookRequest): Promise<WebhookResponse> {
        const { publicKey, signatureToleranceSeconds } = context.config;
        if (publicKey === undefined)
          return {
            status: 404,
            body: {
              error: {
                code: "NOT_FOUND",
                message: "this Discord channel takes no interactions: set publicKey to receive them",
              },
            },
          };
        const check = verifyDiscordSignature({
          publicKey,
          body: request.body,
          signature: request.headers["x-signature-ed25519"],
          timestamp: request.headers["x-signature-timestamp"],
          toleranceSeconds: signatureToleranceSeconds,
        });
        if (!check.ok)
          return {
            status: 401,
            body: { error: { code: "UNAUTHORIZED", message: `invalid request signature: ${check.reason}` } },
          };
        let interaction: RawInteraction;
        try {
          interaction = JSON.parse(new TextDecoder().decode(request.body)) as RawInteraction;
        } catch {
          return {
            status: 400,
            body: { error: { code: "INVALID_PARAMS", message: "the body is not JSON" } },
          };
        }
        if (interaction?.type === InteractionType.Ping)
          return { status: 200, body: { type: InteractionResponse.Pong } };
        const user = interaction?.member?.user ?? interaction?.user;
        if (
          (interaction?.type !== InteractionType.ApplicationCommand &&
            interaction?.type !== InteractionType.MessageComponent) ||
          typeof interaction.id !== "string" ||
          typeof interaction.token !== "string" ||
          typeof interaction.channel_id !== "string" ||
          typeof user?.id !== "string"
        )
          return {
            status: 400,
            body: { error: { code: "INVALID_PARAMS", message: "not an interaction this channel handles" } },
          };
        prunePending();
        const id = interaction.id;
        const timer = setTimeout(() => void answerUnanswered(id), context.config.interactionReplyTimeoutMs);
        timer.unref();
        pending.set(id, {
          applicationId: interaction.application_id,
          token: interaction.token,
          expiresAt: Date.now() + INTERACTION_TOKEN_LIFETIME_MS,
          timer,
        });
        const inbound: InboundMessageInput = {
          id: interaction.id,
          conversationId: interaction.channel_id,
          peerId: interaction.channel_id,
          sender: {
            id: user.id,
            name: user.global_name ?? user.username ?? user.id,
            isBot: user.bot === true,
          },
          text: interactionText(interaction),
          raw: interaction,
        };
        if (user.username !== undefined) inbound.sender.username = user.username;
        if (interaction.guild_id !== undefined) inbound.guildId = interaction.guild_id;
        // Deferred only once the gateway has the command: if it crashes first, Discord tells the
        // user the interaction failed instead of showing "thinking…" for nothing.
        try {
          await context.emit(inbound);
        } catch (error) {
          // Not recorded: no deferral, so Discord tells the user the interaction failed (it never
          // redelivers one), and nothing is left waiting to answer it.
          settle(id);
          throw error;
        }
        return { status: 200, body: { type: InteractionResponse.DeferredChannelMessageWithSource } };
      },

      async stop() {
        stopped = true;
        if (relogin !== undefined) clearTimeout(relogin);
        relogin = undefined;
        for (const id of [...pending.keys()]) settle(id);
        await client?.destroy();
        client = undefined;
      },

      details: () => ({
        bot: client?.user?.username,
        guilds: client?.guilds.cache.size,
        gatewayPingMs: client?.ws.ping === -1 ? undefined : client?.ws.ping,
        reconnects,
        lastEventAt,
        interactions: context?.config.publicKey !== undefined,
      }),
    };
  },
});

interface RawInteraction {
  id: string;
  application_id: string;
  type: number;
  token: string;
  channel_id: string;
  guild_id?: string;
  data?: {
    name?: string;
    custom_id?: string;
    options?: Array<{ name: string; value?: unknown; options?: unknown[] }>;
  };
  member?: { user?: RawUser };
  user?: RawUser;
}

interface RawUser {
  id: string;
  username?: string;
  global_name?: string | null;
  bot?: boolean;
}

/** The text an interaction stands for: `/name value …` for a command, the button's data for a click. */
function interactionText(interaction: RawInteraction): string {
  const data = interaction.data ?? {};
  if (interaction.type === InteractionType.MessageComponent) return String(data.custom_id ?? "");
  const values = (data.options ?? []).map((o) => (o.value === undefined ? o.name : String(o.value)));
  return [`/${data.name ?? "command"}`, ...values].join(" ");
}

interface Parts {
  text: string;
  embeds: Array<{ image: { url: string } }>;
  files: Array<{ name: string; data: Buffer }>;
}

/** Splits content into Discord's parts: text, image embeds for image URLs, uploads for inline data. */
function toParts(content: MessageContent): Parts {
  const parts: Parts = { text: content.text ?? "", embeds: [], files: [] };
  for (const attachment of content.attachments ?? []) {
    if (attachment.data !== undefined)
      parts.files.push({
        data: Buffer.from(attachment.data, "base64"),
        name: attachment.filename ?? `${attachment.kind}${parts.files.length + 1}`,
      });
    else if (attachment.kind === "image" && parts.embeds.length < 10)
      parts.embeds.push({ image: { url: attachment.url! } });
    // Discord fetches and previews the link; the gateway downloads nothing on anyone's behalf.
    else parts.text = parts.text === "" ? attachment.url! : `${parts.text}\n${attachment.url}`;
  }
  parts.text = parts.text.slice(0, DISCORD_MAX_TEXT);
  return parts;
}

/** Mentions of users notify them; @everyone, @here and roles never ping from the gateway. */
const ALLOWED_MENTIONS = { parse: ["users"] as "users"[], repliedUser: true };

/** Builds discord.js send options from normalised content. */
function toPayload(content: MessageContent, replyTo: string | undefined): MessageCreateOptions {
  const { text, embeds, files } = toParts(content);
  const payload: MessageCreateOptions = { allowedMentions: ALLOWED_MENTIONS };
  if (text !== "") payload.content = text;
  if (embeds.length > 0) payload.embeds = embeds;
  if (files.length > 0) payload.files = files.map((f) => ({ attachment: f.data, name: f.name }));
  if (content.buttons !== undefined) payload.components = toComponents(content.buttons) as never;
  if (replyTo !== undefined) payload.reply = { messageReference: replyTo, failIfNotExists: false };
  return payload;
}

/** The same content as a raw API body (for REST calls discord.js has no builder for). */
function toRawBody(content: MessageContent): { body: Record<string, unknown>; files: Parts["files"] } {
  const { text, embeds, files } = toParts(content);
  const body: Record<string, unknown> = { content: text, allowed_mentions: { parse: ["users"] } };
  if (embeds.length > 0) body.embeds = embeds;
  if (content.buttons !== undefined) body.components = toComponents(content.buttons);
  if (files.length > 0) body.attachments = files.map((f, id) => ({ id, filename: f.name }));
  return { body, files };
}

/** Buttons as action rows: at most 5 rows of 5; link buttons for URLs, the rest carry their data. */
function toComponents(rows: readonly (readonly Button[])[]): unknown[] {
  return rows.slice(0, 5).map((row) => ({
    type: 1,
    components: row.slice(0, 5).map((button) =>
      button.url !== undefined
        ? { type: 2, style: 5, label: button.text.slice(0, 80), url: button.url }
        : {
            type: 2,
            style: 1,
            label: button.text.slice(0, 80),
            custom_id: (button.callbackData ?? button.text).slice(0, 100),
          },
    ),
  }));
}

function attachmentKind(contentType: string | null): Attachment["kind"] {
  if (contentType?.startsWith("image/")) return "image";
  if (contentType?.startsWith("audio/")) return "audio";
  if (contentType?.startsWith("video/")) return "video";
  return "file";
}

/** Maps discord.js's errors to the SDK's. */
function toChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  if (error instanceof RateLimitError)
    return new ChannelError("RATE_LIMITED", `Discord rate limit on ${error.route}`, {
      retryAfterMs: Math.max(0, error.retryAfter - DISCORD_RATE_LIMIT_OFFSET_MS),
      platformCode: 429,
      cause: error,
    });
  if (error instanceof DiscordAPIError) {
    const { status, code } = error;
    const options = { platformCode: code, cause: error };
    if (status === 401) return new ChannelError("AUTH_FAILED", error.message, options);
    if (status === 403 || status === 404)
      return new ChannelError("RECIPIENT_NOT_FOUND", error.message, options);
    if (status === 429)
      return new ChannelError("RATE_LIMITED", error.message, { ...options, retryAfterMs: 1000 });
    if (status >= 400 && status < 500) return new ChannelError("UNSUPPORTED_CONTENT", error.message, options);
    return new ChannelError("PLATFORM_UNAVAILABLE", error.message, options);
  }
  if (error instanceof HTTPError)
    return new ChannelError("PLATFORM_UNAVAILABLE", error.message, {
      platformCode: error.status,
      cause: error,
    });
  if (error instanceof DiscordjsError && error.code === "TokenInvalid")
    return new ChannelError("AUTH_FAILED", "Discord refused the bot token", { cause: error });
  if (
    error instanceof Error &&
    (error.name === "AbortError" || error.name === "TimeoutError" || isNetworkError(error))
  )
    return new ChannelError("PLATFORM_UNAVAILABLE", `Discord is unreachable: ${error.message}`, {
      cause: error,
    });
  return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

function isNetworkError(error: Error): boolean {
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return (
    error.message === "fetch failed" || (typeof code === "string" && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code))
  );
}
