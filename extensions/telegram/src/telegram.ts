import {
  type ChannelContext,
  ChannelError,
  defineChannel,
  emitUntilTaken,
  type InboundMessageInput,
  isHostUnavailable,
  type MessageContent,
  markdownToPlainText,
  v,
  verifyTelegramSecretToken,
  type WebhookRequest,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import { Bot, GrammyError, HttpError, InputFile } from "grammy";
import type { Message, Update } from "grammy/types";

/** Telegram's limit on one message's text. */
export const TELEGRAM_MAX_TEXT = 4096;

/** Settings of a Telegram channel (`channels.<name>` in openclaw.json). */
export const TelegramConfigSchema = v.pipe(
  v.object({
    /** The bot token from @BotFather. Write it as `${TELEGRAM_BOT_TOKEN}`. */
    botToken: v.pipe(
      v.string(),
      v.regex(/^\d+:[A-Za-z0-9_-]{20,}$/, "must be a Telegram bot token (<id>:<secret>)"),
    ),
    /** `polling` (getUpdates) or `webhook` (Telegram POSTs to the gateway). */
    mode: v.optional(v.picklist(["polling", "webhook"]), "polling"),
    /** Public URL of the gateway's webhook for this channel, e.g. `https://gw.example.com/webhook/telegram`. */
    webhookUrl: v.optional(v.pipe(v.string(), v.url())),
    /** Secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (1-256 of A-Z, a-z, 0-9, _ and -). */
    webhookSecret: v.optional(
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,256}$/, "must be 16-256 of A-Z, a-z, 0-9, _ and -")),
    ),
    /** The Bot API server. */
    apiRoot: v.optional(v.pipe(v.string(), v.url()), "https://api.telegram.org"),
    /** Long-polling timeout of one getUpdates call, in seconds. */
    pollingTimeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(50)), 30),
    /**
     * Watchdog of stalled polls (and of every other request): a Bot API call that has not answered
     * `pollingTimeoutSeconds` + this many seconds is cancelled, and polling starts again.
     */
    stallGraceSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600)), 15),
  }),
  v.check(
    (c) => c.mode === "polling" || (c.webhookUrl !== undefined && c.webhookSecret !== undefined),
    "webhook mode needs webhookUrl and webhookSecret",
  ),
);

/** Validated Telegram settings. */
export type TelegramConfig = v.InferOutput<typeof TelegramConfigSchema>;

/**
 * The Telegram channel plugin, built on grammY: long polling or webhooks (checked against
 * `X-Telegram-Bot-Api-Secret-Token`), Markdown with a plain-text fallback when Telegram cannot parse
 * it, photos and documents (by URL or uploaded as multipart), inline buttons, replies, long messages
 * split at 4096 characters, and Telegram's `retry_after` reported as `RATE_LIMITED`.
 */
export const telegramChannel = defineChannel({
  name: "telegram",
  capabilities: ["text", "markdown", "media", "buttons"],
  limits: { maxTextLength: TELEGRAM_MAX_TEXT },
  webhooks: true,
  // In a cluster: polling runs on one instance at a time; webhooks may reach any instance.
  placement: (config) => (config.mode === "webhook" ? "everywhere" : "leased"),
  config: TelegramConfigSchema,
  create() {
    let context: ChannelContext<TelegramConfig>;
    let bot: Bot;
    let polling: Promise<void> | undefined;
    let lastPollAt: number | undefined;
    /** Polling: the update being handed to the gateway, not to be confirmed by a stop meanwhile. */
    let unconfirmed: number | undefined;

    const toInbound = (message: Message, update: Update): InboundMessageInput | undefined => {
      const text = message.text ?? message.caption;
      if (message.from === undefined || text === undefined) return undefined;
      // Typed by the Bot API, but a webhook body is whatever was posted: check what is read.
      if (
        typeof text !== "string" ||
        typeof message.message_id !== "number" ||
        typeof message.date !== "number" ||
        typeof message.chat?.id !== "number" ||
        typeof message.from?.id !== "number"
      )
        throw new TypeError("a message without a readable chat, sender, id, date or text");
      const chatId = String(message.chat.id);
      const name = [message.from.first_name, message.from.last_name].filter(Boolean).join(" ");
      const inbound: InboundMessageInput = {
        id: `${chatId}:${message.message_id}`,
        conversationId: chatId,
        peerId: chatId,
        sender: {
          id: String(message.from.id),
          name,
          isBot: message.from.is_bot,
          ...(message.from.username === undefined ? {} : { username: message.from.username }),
        },
        text,
        timestamp: message.date * 1000,
        raw: update,
      };
      if (message.reply_to_message !== undefined)
        inbound.replyTo = `${chatId}:${message.reply_to_message.message_id}`;
      if (message.message_thread_id !== undefined) inbound.threadId = String(message.message_thread_id);
      return inbound;
    };

    return {
      async start(ctx) {
        context = ctx;
        const {
          botToken,
          apiRoot,
          mode,
          webhookUrl,
          webhookSecret,
          pollingTimeoutSeconds,
          stallGraceSeconds,
        } = ctx.config;
        bot = new Bot(botToken, {
          client: { apiRoot, timeoutSeconds: pollingTimeoutSeconds + stallGraceSeconds },
        });
        // Awaited: grammY answers the webhook, or confirms the update offset, only after the
        // gateway has recorded the message, so Telegram redelivers what a crash interrupted. A
        // webhook the gateway cannot record is answered 503 (Telegram redelivers it); a polled
        // update is emitted again with backoff, holding the offset (and the updates after it).
        bot.on("message", async (c) => {
          const inbound = toInbound(c.message, c.update);
          if (inbound === undefined) return;
          if (mode === "webhook") return context.emit(inbound);
          // Stopping: the rest of the batch stays unconfirmed, for the next poll.
          if (ctx.signal.aborted) throw new ChannelError("NOT_READY", "the channel is stopping");
          unconfirmed = c.update.update_id;
          await emitUntilTaken(context, inbound);
          unconfirmed = undefined;
        });
        bot.catch((error) =>
          context.logger.error("telegram update handler failed", { error: error.message }),
        );
        // Health follows every Bot API call: a failing poll degrades the channel, the next success restores it.
        bot.api.config.use(async (prev, method, payload, signal) => {
          try {
            const result = await prev(method, payload, signal);
            if (method === "getUpdates") {
              lastPollAt = Date.now();
              if (result.ok && !ctx.signal.aborted) ctx.setStatus("ready");
            }
            return result;
          } catch (error) {
            if (method === "getUpdates" && !ctx.signal.aborted) ctx.setStatus("degraded", { error });
            throw error;
          }
        });
        try {
          await bot.init(ctx.signal as unknown as Parameters<Bot["init"]>[0]);
          if (mode === "webhook") {
            await bot.api.setWebhook(webhookUrl!, {
              secret_token: webhookSecret!,
              allowed_updates: ["message"],
            });
          } else {
            polling = bot
              .start({ timeout: pollingTimeoutSeconds, allowed_updates: ["message"] })
              .catch((error: unknown) => {
                if (!ctx.signal.aborted) ctx.setStatus("down", { error });
              });
          }
        } catch (error) {
          throw toChannelError(error);
        }
      },

      async send(recipient, content, { replyTo }) {
        const reply =
          replyTo === undefined
            ? {}
            : {
                reply_parameters: {
                  message_id: Number(replyTo.split(":").at(-1)),
                  allow_sending_without_reply: true,
                },
              };
        const markup =
          content.buttons === undefined
            ? {}
            : {
                reply_markup: {
                  inline_keyboard: content.buttons.map((row) =>
                    row.map((b) =>
                      b.url !== undefined
                        ? { text: b.text, url: b.url }
                        : { text: b.text, callback_data: b.callbackData ?? b.text },
                    ),
                  ),
                },
              };
        try {
          const attachment = content.attachments?.[0];
          let sent: Message;
          if (attachment !== undefined) {
            const file =
              attachment.url ??
              new InputFile(Buffer.from(attachment.data ?? "", "base64"), attachment.filename);
            const caption = content.text === undefined ? {} : { caption: content.text };
            sent =
              attachment.kind === "image"
                ? await bot.api.sendPhoto(recipient, file, { ...caption, ...reply, ...markup })
                : await bot.api.sendDocument(recipient, file, { ...caption, ...reply, ...markup });
          } else {
            sent = await sendText(bot, recipient, content, { ...reply, ...markup });
          }
          return { messageId: `${sent.chat.id}:${sent.message_id}` };
        } catch (error) {
          throw toChannelError(error);
        }
      },

      async webhook(request: WebhookRequest): Promise<WebhookResponse> {
        const expected = context.config.webhookSecret;
        if (expected === undefined)
          return {
            status: 404,
            body: {
              error: { code: "NOT_FOUND", message: "this Telegram channel polls; it takes no webhooks" },
            },
          };
        const check = verifyTelegramSecretToken({
          expected,
          received: request.headers["x-telegram-bot-api-secret-token"],
        });
        if (!check.ok)
          return {
            status: 401,
            body: { error: { code: "UNAUTHORIZED", message: `secret token check failed: ${check.reason}` } },
          };
        // Telegram redelivers anything but a 2xx: a signed update that cannot be read is
        // answered 200 and dropped (logged), or it would come back again and again.
        const drop = (reason: string, fields: Record<string, unknown> = {}): WebhookResponse => {
          context.logger.warn(`malformed Telegram update dropped: ${reason}`, fields);
          return { status: 200, body: { ok: true, dropped: reason } };
        };
        let update: Update;
        try {
          update = JSON.parse(new TextDecoder().decode(request.body)) as Update;
        } catch {
          return drop("the body is not JSON");
        }
        if (typeof update !== "object" || update === null || typeof update.update_id !== "number")
          return drop("not a Telegram update");
        try {
          await bot.handleUpdate(update);
        } catch (error) {
          // Not recorded (a full disk): a 503, and Telegram redelivers it.
          if (isHostUnavailable(error)) throw error;
          const cause = (error as { error?: unknown }).error ?? error;
          return drop("it could not be handled", {
            updateId: update.update_id,
            error: cause instanceof Error ? cause.message : String(cause),
          });
        }
        return { status: 200, body: { ok: true } };
      },

      async stop() {
        if (polling === undefined) return;
        // bot.stop() confirms every update up to the one tried last: not one the gateway has not
        // taken yet (grammY keeps that id in a field of its own), so Telegram sends it again.
        if (unconfirmed !== undefined)
          (bot as unknown as { lastTriedUpdateId: number }).lastTriedUpdateId = unconfirmed - 1;
        // bot.stop() confirms the offset with one last getUpdates; do not wait forever for a dead server.
        await Promise.race([
          bot.stop().catch(() => {}),
          new Promise((resolve) => setTimeout(resolve, 2000).unref()),
        ]);
        await Promise.race([polling, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      },

      details: () => ({
        bot: bot?.isInited() ? bot.botInfo.username : undefined,
        mode: context?.config.mode,
        lastPollAt,
      }),
    };
  },
});

/** Sends text, as Markdown when asked; when Telegram cannot parse the Markdown, as plain text. */
async function sendText(bot: Bot, chat: string, content: MessageContent, extra: object): Promise<Message> {
  const text = content.text ?? "";
  if (content.format === "markdown") {
    try {
      return await bot.api.sendMessage(chat, text, { ...extra, parse_mode: "Markdown" });
    } catch (error) {
      if (
        !(
          error instanceof GrammyError &&
          error.error_code === 400 &&
          /can't parse entities/i.test(error.description)
        )
      )
        throw error;
      return bot.api.sendMessage(chat, markdownToPlainText(text), extra);
    }
  }
  return bot.api.sendMessage(chat, text, extra);
}

/** Maps grammY's errors to the SDK's. */
function toChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  if (error instanceof GrammyError) {
    const code = error.error_code;
    if (code === 429)
      return new ChannelError("RATE_LIMITED", error.description, {
        retryAfterMs: (error.parameters.retry_after ?? 1) * 1000,
        platformCode: 429,
        cause: error,
      });
    if (code === 401 || code === 404)
      return new ChannelError("AUTH_FAILED", error.description, { platformCode: code, cause: error });
    if (code === 403 || /chat not found|user not found/i.test(error.description))
      return new ChannelError("RECIPIENT_NOT_FOUND", error.description, { platformCode: code, cause: error });
    if (code === 400)
      return new ChannelError("UNSUPPORTED_CONTENT", error.description, { platformCode: code, cause: error });
    return new ChannelError("PLATFORM_UNAVAILABLE", error.description, { platformCode: code, cause: error });
  }
  if (error instanceof HttpError)
    return new ChannelError("PLATFORM_UNAVAILABLE", error.message, { cause: error });
  return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
