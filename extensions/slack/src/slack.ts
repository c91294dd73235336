import {
  type Attachment,
  type ChannelContext,
  ChannelError,
  defineChannel,
  type InboundMessageInput,
  isHostUnavailable,
  v,
  verifySlackSignature,
  type WebhookRequest,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import { App, type Logger, LogLevel, webApi } from "@slack/bolt";
import {
  parseMessageId,
  SLACK_MAX_TEXT,
  type SlackMessageRef,
  toMessageId,
  toPostArguments,
  unescapeSlackText,
} from "./content";
import { toSlackChannelError } from "./errors";
import { RedeliveryGuard } from "./RedeliveryGuard";
import { SlackReceiver } from "./SlackReceiver";

/** Defaults of the Slack channel's settings. */
export const SLACK_DEFAULTS = {
  mode: "socket",
  apiUrl: "https://slack.com/api/",
  requestTimeoutMs: 15_000,
  readyTimeoutMs: 30_000,
  clientPingTimeoutMs: 5000,
  serverPingTimeoutMs: 30_000,
  stallGraceMs: 60_000,
  reconnectBaseMs: 1000,
  reconnectMaxMs: 60_000,
  signatureToleranceSeconds: 300,
  maxDedupeEntries: 10_000,
  dedupeTtlMs: 3_600_000,
  threadReplies: "inThreads",
  ignoreBots: true,
  emitEdits: true,
  resolveUserNames: true,
  maxCachedUsers: 1000,
  userCacheTtlMs: 3_600_000,
  maxPendingResponses: 1000,
} as const;

/** How long Slack accepts posts to a slash command's or a click's `response_url`. */
export const SLACK_RESPONSE_URL_LIFETIME_MS = 30 * 60 * 1000;

const ms = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/** Settings of a Slack channel (`channels.<name>` in openclaw.json). */
export const SlackConfigSchema = v.pipe(
  v.object({
    /** The bot token (`xoxb-…`, OAuth & Permissions). Write it as `${SLACK_BOT_TOKEN}`. */
    botToken: v.pipe(v.string(), v.regex(/^xoxb-[A-Za-z0-9-]{10,}$/, "must be a Slack bot token (xoxb-…)")),
    /** `socket` (Socket Mode: no public URL) or `events` (Slack POSTs to `/webhook/<channel>`). */
    mode: v.optional(v.picklist(["socket", "events"]), SLACK_DEFAULTS.mode),
    /** The app-level token (`xapp-…` with `connections:write`); needed in Socket Mode. */
    appToken: v.optional(
      v.pipe(v.string(), v.regex(/^xapp-[A-Za-z0-9-]{10,}$/, "must be a Slack app-level token (xapp-…)")),
    ),
    /** The app's signing secret (Basic Information); needed for the Events API. */
    signingSecret: v.optional(v.pipe(v.string(), v.minLength(16))),
    /** The Web API base URL (also used for `apps.connections.open`). */
    apiUrl: v.optional(v.pipe(v.string(), v.url()), SLACK_DEFAULTS.apiUrl),
    /** Timeout of one Web API call. */
    requestTimeoutMs: v.optional(ms(100, 120_000), SLACK_DEFAULTS.requestTimeoutMs),
    /** How long one Socket Mode connection attempt may take, up to Slack's `hello`. */
    readyTimeoutMs: v.optional(ms(100, 300_000), SLACK_DEFAULTS.readyTimeoutMs),
    /** Bolt's client ping: Slack must answer a ping within this long, or the socket is replaced. */
    clientPingTimeoutMs: v.optional(ms(100, 120_000), SLACK_DEFAULTS.clientPingTimeoutMs),
    /** Bolt's server-ping watch: once Slack has pinged, the next ping must come within this long. */
    serverPingTimeoutMs: v.optional(ms(100, 600_000), SLACK_DEFAULTS.serverPingTimeoutMs),
    /**
     * Watchdog of stalled sockets: a Socket Mode connection that has received nothing (no ping,
     * envelope or hello) for this long is dropped and opened again.
     */
    stallGraceMs: v.optional(ms(100, 3_600_000), SLACK_DEFAULTS.stallGraceMs),
    /** First delay before a failed reconnect is tried again; doubles each try. */
    reconnectBaseMs: v.optional(ms(10, 600_000), SLACK_DEFAULTS.reconnectBaseMs),
    /** Longest delay between two reconnect attempts. */
    reconnectMaxMs: v.optional(ms(10, 3_600_000), SLACK_DEFAULTS.reconnectMaxMs),
    /** Accepted age (either way) of an Events API request's `X-Slack-Request-Timestamp`, in seconds. */
    signatureToleranceSeconds: v.optional(ms(1, 3600), SLACK_DEFAULTS.signatureToleranceSeconds),
    /** Most delivery and message ids remembered to drop Slack's redeliveries. */
    maxDedupeEntries: v.optional(ms(10, 1_000_000), SLACK_DEFAULTS.maxDedupeEntries),
    /** How long a handled delivery is remembered (Slack retries within minutes). */
    dedupeTtlMs: v.optional(ms(1000, 86_400_000), SLACK_DEFAULTS.dedupeTtlMs),
    /**
     * Where replies go: `inThreads` keeps replies to a thread's messages in that thread and answers
     * top-level messages at the top level; `always` answers every message in its thread.
     */
    threadReplies: v.optional(v.picklist(["inThreads", "always"]), SLACK_DEFAULTS.threadReplies),
    /** Drop messages of other bots (the app's own messages are always dropped). */
    ignoreBots: v.optional(v.boolean(), SLACK_DEFAULTS.ignoreBots),
    /** Emit edited messages (`message_changed`) as new messages that reply to the original. */
    emitEdits: v.optional(v.boolean(), SLACK_DEFAULTS.emitEdits),
    /** Look senders' names up with `users.info` (cached). */
    resolveUserNames: v.optional(v.boolean(), SLACK_DEFAULTS.resolveUserNames),
    /** Most user names cached. */
    maxCachedUsers: v.optional(ms(1, 1_000_000), SLACK_DEFAULTS.maxCachedUsers),
    /** How long a cached user name is used. */
    userCacheTtlMs: v.optional(ms(1000, 86_400_000), SLACK_DEFAULTS.userCacheTtlMs),
    /**
     * Most slash commands and button clicks whose `response_url` is kept for the reply (each is
     * usable for 30 minutes); the oldest are forgotten first.
     */
    maxPendingResponses: v.optional(ms(1, 100_000), SLACK_DEFAULTS.maxPendingResponses),
  }),
  v.check((c) => c.mode !== "socket" || c.appToken !== undefined, "socket mode needs appToken (xapp-…)"),
  v.check((c) => c.mode !== "events" || c.signingSecret !== undefined, "events mode needs signingSecret"),
);

/** Validated Slack settings. */
export type SlackConfig = v.InferOutput<typeof SlackConfigSchema>;

/** A Slack message event, as far as the plugin reads it. */
interface SlackMessage {
  type?: string;
  subtype?: string;
  channel?: string;
  channel_type?: string;
  user?: string;
  bot_id?: string;
  username?: string;
  text?: string;
  ts?: string;
  thread_ts?: string;
  event_ts?: string;
  team?: string;
  files?: Array<{
    id?: string;
    name?: string;
    title?: string;
    mimetype?: string;
    size?: number;
    url_private?: string;
    permalink?: string;
  }>;
  message?: SlackMessage;
  previous_message?: SlackMessage;
}

/**
 * The Slack channel plugin, built on Bolt: Socket Mode (default; reconnects with backoff and a
 * watchdog for silent sockets) or the Events API at `/webhook/<channel>` (signature and timestamp
 * checked, `url_verification` answered, slash commands and interactivity as forms). Messages in
 * channels, DMs and threads, mentions, files, edits and button clicks in; `chat.postMessage` out with
 * Markdown blocks, buttons and thread replies, and files through Slack's external upload. Every
 * delivery is acknowledged only after the gateway recorded it, and redeliveries are dropped.
 *
 * Recipients are conversation ids (`C…`, `G…`, `D…`) or user ids (`U…`, for a DM).
 */
export const slackChannel = defineChannel({
  name: "slack",
  capabilities: ["text", "markdown", "media", "buttons", "threads"],
  limits: { maxTextLength: SLACK_MAX_TEXT },
  webhooks: true,
  // In a cluster: a Socket Mode connection runs on one instance at a time; the Events API anywhere.
  placement: (config) => (config.mode === "events" ? "everywhere" : "leased"),
  config: SlackConfigSchema,
  create() {
    let context: ChannelContext<SlackConfig>;
    let app: App | undefined;
    let receiver: SlackReceiver | undefined;
    let bot: { userId?: string; botId?: string; team?: string; teamId?: string } = {};
    let messages: RedeliveryGuard;
    const names = new Map<string, { name?: string; username?: string; expiresAt: number }>();
    /** `response_url`s of commands and clicks, by inbound id: the reply to them goes there. */
    const responses = new Map<string, { url: string; expiresAt: number }>();

    const keepResponseUrl = (id: string, url: unknown) => {
      if (typeof url !== "string" || !/^https?:\/\//.test(url)) return;
      const now = Date.now();
      for (const [key, entry] of responses) {
        if (responses.size < context.config.maxPendingResponses && entry.expiresAt > now) break;
        responses.delete(key);
      }
      responses.set(id, { url, expiresAt: now + SLACK_RESPONSE_URL_LIFETIME_MS });
    };

    /** Answers a command or click through its `response_url`; `false` when it is gone (then post normally). */
    const respond = async (url: string, args: { text: string; blocks?: unknown[] }, signal?: AbortSignal) => {
      const timeout = AbortSignal.timeout(context.config.requestTimeoutMs);
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...args, response_type: "in_channel", replace_original: false }),
          signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
        });
      } catch (error) {
        throw new ChannelError(
          "PLATFORM_UNAVAILABLE",
          `Slack's response_url is unreachable: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      await response.body?.cancel().catch(() => {});
      if (response.ok) return true;
      if (response.status === 404 || response.status === 410) return false;
      if (response.status === 429)
        throw new ChannelError("RATE_LIMITED", "Slack rate limit on response_url", {
          retryAfterMs: Number(response.headers.get("retry-after") ?? "1") * 1000,
          platformCode: 429,
        });
      throw new ChannelError("PLATFORM_UNAVAILABLE", `Slack's response_url answered ${response.status}`, {
        platformCode: response.status,
      });
    };

    const senderOf = async (user: string): Promise<InboundMessageInput["sender"]> => {
      const sender: InboundMessageInput["sender"] = { id: user };
      if (!context.config.resolveUserNames || app === undefined) return sender;
      let cached = names.get(user);
      if (cached === undefined || cached.expiresAt <= Date.now()) {
        try {
          const result = await app.client.users.info({ user });
          const profile = result.user?.profile;
          cached = { expiresAt: Date.now() + context.config.userCacheTtlMs };
          const name = profile?.real_name || result.user?.real_name || profile?.display_name;
          if (name) cached.name = name;
          if (result.user?.name) cached.username = result.user.name;
          names.delete(user);
          names.set(user, cached);
          while (names.size > context.config.maxCachedUsers) names.delete(names.keys().next().value!);
        } catch (error) {
          // A name is nice to have: the message goes through without it.
          context.logger.debug("users.info failed", { user, error: (error as Error).message });
          return sender;
        }
      }
      if (cached.name !== undefined) sender.name = cached.name;
      if (cached.username !== undefined) sender.username = cached.username;
      return sender;
    };

    const isOwn = (m: SlackMessage) =>
      (m.user !== undefined && m.user === bot.userId) || (m.bot_id !== undefined && m.bot_id === bot.botId);

    /** Emits one message once (a mention arrives as `message` and `app_mention` with the same ts). */
    const emitOnce = async (inbound: InboundMessageInput) => {
      await messages.run(`message:${inbound.id}`, () => context.emit(inbound));
    };

    const fromMessage = async (event: SlackMessage, teamId: string | undefined): Promise<void> => {
      checkMessage(event);
      let m = event;
      let edited = false;
      if (event.subtype === "message_changed") {
        if (!context.config.emitEdits || event.message === undefined) return;
        // Unfurls and thread updates change the message without changing its text.
        if (event.message.text === event.previous_message?.text) return;
        m = { ...event.message };
        const channel = event.channel ?? event.message.channel;
        if (channel !== undefined) m.channel = channel;
        edited = true;
      } else if (event.subtype === "message_deleted") {
        context.logger.debug("a Slack message was deleted", { channel: event.channel });
        return;
      } else if (
        event.subtype !== undefined &&
        !["file_share", "thread_broadcast", "me_message", "bot_message"].includes(event.subtype)
      ) {
        return;
      }
      if (isOwn(m)) return;
      const isBot = m.bot_id !== undefined || m.subtype === "bot_message";
      if (isBot && context.config.ignoreBots) return;
      if (m.channel === undefined || m.ts === undefined) return;
      const ref: SlackMessageRef = { channel: m.channel, ts: m.ts };
      if (m.thread_ts !== undefined) ref.threadTs = m.thread_ts;
      const original = toMessageId(ref);
      const id = edited ? `${original}:edit:${event.event_ts ?? event.ts ?? ""}` : original;
      const sender = m.user !== undefined ? await senderOf(m.user) : { id: m.bot_id ?? "unknown" };
      if (isBot) {
        sender.isBot = true;
        if (m.username !== undefined) sender.name ??= m.username;
      }
      const inbound: InboundMessageInput = {
        id,
        conversationId: m.channel,
        peerId: m.channel,
        sender,
        text: stripOwnMention(unescapeSlackText(m.text ?? ""), bot.userId),
        timestamp: Math.round(Number(edited ? (event.event_ts ?? m.ts) : m.ts) * 1000),
        raw: event,
      };
      const team = teamId ?? m.team;
      if (team !== undefined) inbound.guildId = team;
      if (ref.threadTs !== undefined && ref.threadTs !== ref.ts) inbound.threadId = ref.threadTs;
      if (edited) inbound.replyTo = original;
      const files = (m.files ?? []).filter((f) => f.url_private !== undefined).slice(0, 32);
      if (files.length > 0)
        inbound.attachments = files.map((f) => {
          const attachment: Attachment = { kind: kindOf(f.mimetype), url: f.url_private! };
          if (f.name !== undefined) attachment.filename = f.name;
          if (f.mimetype !== undefined) attachment.mimeType = f.mimetype;
          if (typeof f.size === "number") attachment.sizeBytes = f.size;
          return attachment;
        });
      await emitOnce(inbound);
    };

    const registerListeners = (bolt: App) => {
      bolt.event("message", async ({ event, body }) => {
        await fromMessage(event as SlackMessage, (body as { team_id?: string }).team_id);
      });
      bolt.event("app_mention", async ({ event, body }) => {
        await fromMessage(event as SlackMessage, (body as { team_id?: string }).team_id);
      });
      bolt.command(/.*/, async ({ command, ack }) => {
        keepResponseUrl(`command:${command.trigger_id}`, command.response_url);
        await emitOnce({
          id: `command:${command.trigger_id}`,
          conversationId: command.channel_id,
          peerId: command.channel_id,
          guildId: command.team_id,
          sender: { ...(await senderOf(command.user_id)), username: command.user_name },
          text: `${command.command} ${command.text}`.trim(),
          raw: command,
        });
        await ack();
      });
      bolt.action(/.*/, async ({ body, action, ack }) => {
        const b = body as {
          trigger_id?: string;
          response_url?: string;
          user?: { id: string; username?: string };
          channel?: { id: string };
          team?: { id: string } | null;
          message?: { ts?: string; thread_ts?: string };
        };
        const a = action as { value?: string; action_ts?: string; text?: { text?: string } };
        // The receiver answers Slack only after this listener returns, so after the emit.
        await ack();
        if (b.user === undefined || b.channel === undefined) return;
        const inbound: InboundMessageInput = {
          id: `action:${b.trigger_id ?? a.action_ts ?? Date.now()}`,
          conversationId: b.channel.id,
          peerId: b.channel.id,
          sender: await senderOf(b.user.id),
          text: a.value ?? a.text?.text ?? "",
          raw: body,
        };
        if (b.team?.id !== undefined) inbound.guildId = b.team.id;
        keepResponseUrl(inbound.id, b.response_url);
        if (b.message?.ts !== undefined) {
          const ref: SlackMessageRef = { channel: b.channel.id, ts: b.message.ts };
          if (b.message.thread_ts !== undefined) ref.threadTs = b.message.thread_ts;
          inbound.replyTo = toMessageId(ref);
          if (ref.threadTs !== undefined && ref.threadTs !== ref.ts) inbound.threadId = ref.threadTs;
        }
        await emitOnce(inbound);
      });
    };

    return {
      async start(ctx) {
        context = ctx;
        const config = ctx.config;
        const dedupe = { maxEntries: config.maxDedupeEntries, ttlMs: config.dedupeTtlMs };
        messages = new RedeliveryGuard(dedupe);
        const logger = boltLogger(ctx);
        const clientOptions = {
          slackApiUrl: config.apiUrl,
          timeout: config.requestTimeoutMs,
          // The gateway's delivery queue decides about retries, honouring Slack's Retry-After.
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
        };
        receiver = new SlackReceiver({
          logger,
          deliveries: new RedeliveryGuard(dedupe),
          ...(config.mode === "socket"
            ? {
                socket: {
                  appToken: config.appToken!,
                  clientOptions: { slackApiUrl: config.apiUrl, timeout: config.requestTimeoutMs },
                  readyTimeoutMs: config.readyTimeoutMs,
                  clientPingTimeoutMs: config.clientPingTimeoutMs,
                  serverPingTimeoutMs: config.serverPingTimeoutMs,
                  stallGraceMs: config.stallGraceMs,
                  reconnectBaseMs: config.reconnectBaseMs,
                  reconnectMaxMs: config.reconnectMaxMs,
                },
              }
            : {}),
          onState: (state, error) => {
            if (!ctx.signal.aborted) ctx.setStatus(state, error === undefined ? undefined : { error });
          },
        });
        try {
          // auth.test checks the bot token and tells the bot's ids, which Bolt then needs not ask for.
          const auth = await new webApi.WebClient(config.botToken, { ...clientOptions, logger }).auth.test();
          bot = {
            ...(auth.user_id === undefined ? {} : { userId: auth.user_id }),
            ...(auth.bot_id === undefined ? {} : { botId: auth.bot_id }),
            ...(auth.team === undefined ? {} : { team: auth.team }),
            ...(auth.team_id === undefined ? {} : { teamId: auth.team_id }),
          };
          app = new App({
            token: config.botToken,
            ...(bot.botId === undefined ? {} : { botId: bot.botId }),
            ...(bot.userId === undefined ? {} : { botUserId: bot.userId }),
            receiver,
            logger,
            clientOptions,
            convoStore: false,
          });
          // Bolt's default error handler logs and rethrows, so a failed listener leaves the delivery
          // unacknowledged and Slack redelivers it.
          registerListeners(app);
          await receiver.start();
        } catch (error) {
          throw toSlackChannelError(error);
        }
      },

      async send(recipient, content, { replyTo, signal }) {
        const client = app?.client;
        if (client === undefined) throw new ChannelError("NOT_READY", "the Slack app is not started");
        const ref = replyTo === undefined ? undefined : parseMessageId(replyTo);
        const threadTs = ref?.threadTs ?? (context.config.threadReplies === "always" ? ref?.ts : undefined);
        try {
          const uploads = (content.attachments ?? []).filter((a) => a.data !== undefined);
          const rest = {
            ...content,
            attachments: (content.attachments ?? []).filter((a) => a.data === undefined),
          };
          const args = toPostArguments(rest);
          const hasMessage =
            (content.text !== undefined && content.text !== "") ||
            rest.attachments.length > 0 ||
            content.buttons !== undefined;
          let messageId: string | undefined;
          // The first answer to a slash command or a click goes through its response_url, which
          // works even where the bot is not a member.
          const pending = replyTo === undefined ? undefined : responses.get(replyTo);
          if (pending !== undefined && uploads.length === 0) {
            responses.delete(replyTo!);
            if (pending.expiresAt > Date.now()) {
              const body =
                args.blocks === undefined ? { text: args.text } : { text: args.text, blocks: args.blocks };
              if (await respond(pending.url, body, signal)) return { messageId: `${replyTo}:response` };
            }
          }
          // A plain caption rides on the upload; anything richer is a message of its own.
          const captionOnUpload =
            uploads.length > 0 && args.blocks === undefined && rest.attachments.length === 0;
          if (hasMessage && !captionOnUpload) {
            const posted = await client.chat.postMessage({
              channel: recipient,
              text: args.text,
              ...(args.blocks === undefined ? {} : { blocks: args.blocks as never }),
              ...(threadTs === undefined ? {} : { thread_ts: threadTs }),
            });
            const postedRef: SlackMessageRef = { channel: posted.channel ?? recipient, ts: posted.ts ?? "" };
            if (threadTs !== undefined) postedRef.threadTs = threadTs;
            messageId = toMessageId(postedRef);
          }
          if (uploads.length > 0) {
            const channelId =
              messageId === undefined ? recipient : (parseMessageId(messageId)?.channel ?? recipient);
            const result = (await client.filesUploadV2({
              channel_id: channelId,
              ...(threadTs === undefined ? {} : { thread_ts: threadTs }),
              ...(captionOnUpload && args.text !== "" ? { initial_comment: args.text } : {}),
              file_uploads: uploads.map((a, index) => ({
                file: Buffer.from(a.data!, "base64"),
                filename: a.filename ?? `${a.kind}-${index + 1}`,
              })),
            } as never)) as { files?: Array<{ files?: Array<{ id?: string }> }> };
            const fileId = result.files?.[0]?.files?.[0]?.id;
            messageId ??= `file:${fileId ?? "unknown"}`;
          }
          if (messageId === undefined) throw new ChannelError("UNSUPPORTED_CONTENT", "nothing to send");
          return { messageId };
        } catch (error) {
          throw toSlackChannelError(error);
        }
      },

      async webhook(request: WebhookRequest): Promise<WebhookResponse> {
        const config = context.config;
        if (config.mode !== "events" || config.signingSecret === undefined)
          return {
            status: 404,
            body: {
              error: {
                code: "NOT_FOUND",
                message: "this Slack channel uses Socket Mode; it takes no webhooks",
              },
            },
          };
        const check = verifySlackSignature({
          signingSecret: config.signingSecret,
          body: request.body,
          timestamp: request.headers["x-slack-request-timestamp"],
          signature: request.headers["x-slack-signature"],
          toleranceSeconds: config.signatureToleranceSeconds,
        });
        if (!check.ok)
          return {
            status: 401,
            body: { error: { code: "UNAUTHORIZED", message: `invalid request signature: ${check.reason}` } },
          };
        const body = parseBody(request);
        // Slack checks a slash command's certificate with a signed `ssl_check=1` form.
        if (body?.ssl_check === "1") return { status: 200 };
        if (body === undefined) {
          context.logger.warn(
            "malformed Slack request dropped: not an Events API, command or interaction body",
          );
          return {
            status: 400,
            headers: { "x-slack-no-retry": "1" },
            body: {
              error: {
                code: "INVALID_PARAMS",
                message: "not a Slack Events API, command or interaction body",
              },
            },
          };
        }
        if (body.type === "url_verification" && typeof body.challenge === "string")
          return { status: 200, body: { challenge: body.challenge } };
        if (body.type === "app_rate_limited") return { status: 200 };
        // Slack retries anything but a 2xx unless told not to: a signed request that cannot be
        // read is answered 400 with X-Slack-No-Retry, and dropped (logged).
        const drop = (reason: string): WebhookResponse => {
          context.logger.warn(`malformed Slack request dropped: ${reason}`, {
            type: body.type,
            eventId: body.event_id,
          });
          return {
            status: 400,
            headers: { "x-slack-no-retry": "1" },
            body: { error: { code: "INVALID_PARAMS", message: `malformed Slack request: ${reason}` } },
          };
        };
        if (
          body.type === "event_callback" &&
          !(isObject(body.event) && typeof (body.event as { type?: unknown }).type === "string")
        )
          return drop("an event_callback without an event");
        const retry = request.headers["x-slack-retry-num"];
        const retryNum = retry !== undefined && /^\d{1,3}$/.test(retry) ? Number(retry) : undefined;
        try {
          const response = await receiver!.dispatch(body, retryNum, request.headers["x-slack-retry-reason"]);
          return response === undefined ? { status: 200 } : { status: 200, body: response };
        } catch (error) {
          // The gateway could not record it, or Slack's API failed: not acknowledged, Slack
          // retries, and the retry finds what was recorded. Anything else cannot get better.
          if (!isHostUnavailable(error) && !(error instanceof ChannelError && error.retryable))
            return drop((error as Error).message);
          context.logger.warn("a Slack event failed; Slack will retry it", {
            error: (error as Error).message,
          });
          return {
            status: 503,
            body: { error: { code: "UNAVAILABLE", message: "the event could not be handled; retry it" } },
          };
        }
      },

      async stop() {
        await receiver?.stop();
        receiver = undefined;
        names.clear();
        responses.clear();
      },

      details: () => ({
        mode: context?.config.mode,
        bot: bot.userId,
        team: bot.team,
        connected: receiver?.stats.connected,
        reconnects: receiver?.stats.reconnects,
        stallsDetected: receiver?.stats.stallsDetected,
        lastFrameAt: receiver?.stats.lastFrameAt,
        redeliveriesDropped: receiver?.stats.redeliveriesDropped,
      }),
    };
  },
});

/** Reads an Events API body (JSON), a slash command (form fields) or an interaction (form `payload`). */
function parseBody(request: WebhookRequest): Record<string, unknown> | undefined {
  const text = new TextDecoder().decode(request.body);
  const type = request.headers["content-type"] ?? "";
  try {
    if (type.startsWith("application/x-www-form-urlencoded")) {
      const form = new URLSearchParams(text);
      const payload = form.get("payload");
      if (payload !== null) {
        const parsed = JSON.parse(payload) as unknown;
        return isObject(parsed) && typeof parsed.type === "string" ? parsed : undefined;
      }
      const fields = Object.fromEntries(form);
      return typeof fields.command === "string" || fields.ssl_check === "1" ? fields : undefined;
    }
    const parsed = JSON.parse(text) as unknown;
    return isObject(parsed) && typeof parsed.type === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const MESSAGE_STRING_FIELDS = [
  "subtype",
  "channel",
  "user",
  "bot_id",
  "username",
  "text",
  "ts",
  "thread_ts",
  "event_ts",
  "team",
] as const;

/**
 * Checks the fields of a message event the plugin reads (a signed body is still whatever was
 * posted). @throws TypeError naming the first field of the wrong type.
 */
function checkMessage(event: unknown, depth = 0): asserts event is SlackMessage {
  if (!isObject(event)) throw new TypeError("a message event that is not an object");
  for (const field of MESSAGE_STRING_FIELDS)
    if (event[field] !== undefined && typeof event[field] !== "string")
      throw new TypeError(`a message event whose ${field} is not a string`);
  const files = event.files;
  if (files !== undefined && !(Array.isArray(files) && files.every(isObject)))
    throw new TypeError("a message event whose files are not a list of objects");
  if (depth === 0)
    for (const nested of ["message", "previous_message"] as const)
      if (event[nested] !== undefined) checkMessage(event[nested], 1);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Drops a leading mention of the bot (`<@U123> hello` → `hello`). */
function stripOwnMention(text: string, botUserId: string | undefined): string {
  if (botUserId === undefined) return text;
  const prefix = `<@${botUserId}>`;
  return text.startsWith(prefix) ? text.slice(prefix.length).trimStart() : text;
}

function kindOf(mimeType: string | undefined): Attachment["kind"] {
  if (mimeType?.startsWith("image/")) return "image";
  if (mimeType?.startsWith("audio/")) return "audio";
  if (mimeType?.startsWith("video/")) return "video";
  return "file";
}

/** Bolt's and the Socket Mode client's logs, into the channel's logger (never tokens: Bolt redacts). */
function boltLogger(ctx: ChannelContext<SlackConfig>): Logger {
  let level: LogLevel = LogLevel.INFO;
  let name = "slack";
  const line = (parts: unknown[]) =>
    `${name}: ${parts.map((p) => (p instanceof Error ? p.message : typeof p === "string" ? p : JSON.stringify(p))).join(" ")}`;
  return {
    debug: (...parts: unknown[]) => {
      if (level === LogLevel.DEBUG) ctx.logger.debug(line(parts));
    },
    info: (...parts: unknown[]) => {
      if (level !== LogLevel.WARN && level !== LogLevel.ERROR) ctx.logger.info(line(parts));
    },
    // Socket Mode reports every dropped socket as an error; the plugin reconnects and reports health.
    warn: (...parts: unknown[]) => ctx.logger.warn(line(parts)),
    error: (...parts: unknown[]) => ctx.logger.warn(line(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: (next: string) => {
      name = next;
    },
  };
}
