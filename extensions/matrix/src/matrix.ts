import { randomUUID } from "node:crypto";
import {
  type Attachment,
  type ChannelContext,
  ChannelError,
  defineChannel,
  type InboundMessageInput,
  InboundRetrier,
  type MessageContent,
  v,
} from "@openclaw/channel-sdk";
import {
  ClientEvent,
  ConnectionError,
  createClient,
  HttpApiEvent,
  type MatrixClient,
  MatrixError,
  type MatrixEvent,
  Method,
  type Room,
  RoomEvent,
  RoomMemberEvent,
  SyncState,
} from "matrix-js-sdk";
import { logger as sdkGlobalLogger } from "matrix-js-sdk/lib/logger.js";

/**
 * The longest text the plugin puts in one event. Matrix limits whole events to 65,536 bytes of JSON;
 * 16,000 characters of text stays under it even when every character takes several bytes.
 */
export const MATRIX_MAX_TEXT = 16_000;

/** Settings of a Matrix channel (`channels.<name>` in openclaw.json). */
export const MatrixConfigSchema = v.pipe(
  v.object({
    /** The homeserver's client-server API base URL, e.g. `https://matrix.example.org`. */
    homeserverUrl: v.pipe(v.string(), v.url()),
    /** The bot's full user id, e.g. `@openclaw:example.org`. */
    userId: v.pipe(v.string(), v.regex(/^@[^:\s]+:\S+$/, "must be a Matrix user id (@name:server)")),
    /** An access token of the bot's account (preferred). Write it as `${MATRIX_ACCESS_TOKEN}`. */
    accessToken: v.optional(v.pipe(v.string(), v.minLength(8))),
    /** The account's password, used to log in when no access token is given (a new device per start). */
    password: v.optional(v.pipe(v.string(), v.minLength(1))),
    /** The device id that goes with the access token, when known. */
    deviceId: v.optional(v.string()),
    /** Join rooms the bot is invited to. */
    autoJoin: v.optional(v.boolean(), true),
    /** Only accept invites from these user ids (all when absent). */
    allowInvitesFrom: v.optional(v.array(v.string())),
    /** Server-side timeout of one `/sync` long poll. */
    pollTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(120_000)), 30_000),
    /**
     * Watchdog of stalled syncs: when no `/sync` has finished for `pollTimeoutMs` + this long, the
     * sync loop is stopped and started again.
     */
    stallGraceMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600_000)), 30_000),
    /** Timeout of every other request to the homeserver. */
    requestTimeoutMs: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(120_000)),
      20_000,
    ),
    /** How long `initialize` waits for the first sync before it fails. */
    readyTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(300_000)), 30_000),
    /** The longest `retry_after_ms` a send waits out; longer waits fail with `RATE_LIMITED`. */
    maxRateLimitWaitMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(600_000)), 5000),
    /** Retries of a send after a network or server error (with backoff). */
    maxSendRetries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10)), 2),
  }),
  v.check(
    (c) => c.accessToken !== undefined || c.password !== undefined,
    "give accessToken (preferred) or password",
  ),
);

/** Validated Matrix settings. */
export type MatrixConfig = v.InferOutput<typeof MatrixConfigSchema>;

/**
 * The Matrix channel plugin, built on matrix-js-sdk: `/sync` long polling (the SDK reconnects with
 * backoff and reports `degraded` meanwhile), `m.room.message` events of joined rooms in, messages,
 * replies and uploads out, invites joined automatically. Rooms with end-to-end encryption are not
 * supported: their messages cannot be read and are reported in the log.
 *
 * Recipients are room ids (`!abc:server`) or room aliases (`#name:server`).
 */
export const matrixChannel = defineChannel({
  name: "matrix",
  capabilities: ["text", "media", "threads"],
  limits: { maxTextLength: MATRIX_MAX_TEXT },
  config: MatrixConfigSchema,
  create() {
    let context: ChannelContext<MatrixConfig>;
    let client: MatrixClient | undefined;
    let prepared = false;
    let lastSyncAt: number | undefined;
    let lastSyncState: string | undefined;
    let lastSyncActivityAt = 0;
    let watchdog: ReturnType<typeof setInterval> | undefined;
    let restarts = 0;
    const warnedEncrypted = new Set<string>();
    const aliases = new Map<string, string>();

    const toInbound = (event: MatrixEvent, room: Room | undefined): InboundMessageInput | undefined => {
      const content = event.getContent<Record<string, unknown>>();
      const eventId = event.getId();
      const sender = event.getSender();
      const roomId = event.getRoomId();
      if (eventId === undefined || sender === undefined || roomId === undefined) return undefined;
      const member = room?.getMember(sender);
      const relates = content["m.relates_to"] as
        | { rel_type?: string; event_id?: string; "m.in_reply_to"?: { event_id?: string } }
        | undefined;
      const inbound: InboundMessageInput = {
        id: eventId,
        conversationId: roomId,
        peerId: roomId,
        sender: { id: sender, name: member?.name ?? sender, username: sender },
        text: typeof content.body === "string" ? content.body : "",
        timestamp: event.getTs(),
        raw: event.getEffectiveEvent(),
      };
      const replyTo = relates?.["m.in_reply_to"]?.event_id;
      if (typeof replyTo === "string") inbound.replyTo = replyTo;
      if (relates?.rel_type === "m.thread" && typeof relates.event_id === "string")
        inbound.threadId = relates.event_id;
      const media = mediaKind(content.msgtype);
      if (media !== undefined && typeof content.url === "string") {
        const attachment: Attachment = {
          kind: media,
          url:
            client?.mxcUrlToHttp(content.url, undefined, undefined, undefined, false, true, true) ??
            content.url,
        };
        const info = content.info as { mimetype?: string; size?: number } | undefined;
        if (typeof content.body === "string") attachment.filename = content.body;
        if (typeof info?.mimetype === "string") attachment.mimeType = info.mimetype;
        if (typeof info?.size === "number") attachment.sizeBytes = info.size;
        inbound.attachments = [attachment];
        inbound.text = "";
      }
      return inbound;
    };

    const roomFor = async (bot: MatrixClient, recipient: string): Promise<string> => {
      if (/^![^:\s]+:\S+$/.test(recipient)) return recipient;
      if (!/^#[^:\s]+:\S+$/.test(recipient))
        throw new ChannelError(
          "RECIPIENT_NOT_FOUND",
          `"${recipient}" is not a Matrix room; use a room id (!id:server) or an alias (#name:server)`,
        );
      const known = aliases.get(recipient);
      if (known !== undefined) return known;
      const { room_id } = await bot.getRoomIdForAlias(recipient);
      if (aliases.size >= 1000) aliases.clear();
      aliases.set(recipient, room_id);
      return room_id;
    };

    return {
      async start(ctx) {
        context = ctx;
        const config = ctx.config;
        let accessToken = config.accessToken;
        let deviceId = config.deviceId;
        if (accessToken === undefined) {
          const login = createClient({
            baseUrl: config.homeserverUrl,
            localTimeoutMs: config.requestTimeoutMs,
          });
          try {
            const response = await login.loginRequest({
              type: "m.login.password",
              identifier: { type: "m.id.user", user: config.userId },
              password: config.password!,
              initial_device_display_name: "OpenClaw Gateway",
            });
            accessToken = response.access_token;
            deviceId = response.device_id;
          } catch (error) {
            throw toChannelError(error);
          } finally {
            login.stopClient();
          }
        }
        const bot = createClient({
          baseUrl: config.homeserverUrl,
          accessToken,
          userId: config.userId,
          ...(deviceId === undefined ? {} : { deviceId }),
          localTimeoutMs: config.requestTimeoutMs,
          logger: sdkLogger(ctx),
        });
        client = bot;
        const retrier = new InboundRetrier(ctx);

        bot.on(RoomEvent.Timeline, (event, room, toStartOfTimeline, _removed, data) => {
          if (!prepared || toStartOfTimeline === true || data?.liveEvent === false) return;
          if (event.getSender() === config.userId) return;
          if (event.getType() === "m.room.encrypted") {
            const roomId = event.getRoomId() ?? "";
            if (!warnedEncrypted.has(roomId)) {
              warnedEncrypted.add(roomId);
              ctx.logger.warn("matrix room is end-to-end encrypted; its messages cannot be read", { roomId });
            }
            return;
          }
          if (event.getType() !== "m.room.message" || event.isRedacted()) return;
          const inbound = toInbound(event, room);
          // The sync loop moves its token on without waiting for us, and the homeserver sends an
          // event once: one the gateway cannot record yet is emitted again, with backoff.
          if (inbound !== undefined) retrier.emit(inbound);
        });
        bot.on(RoomMemberEvent.Membership, (_event, member) => {
          if (!config.autoJoin || member.userId !== config.userId || member.membership !== "invite") return;
          const inviter = member.events.member?.getSender();
          if (config.allowInvitesFrom !== undefined && !config.allowInvitesFrom.includes(inviter ?? ""))
            return;
          bot.joinRoom(member.roomId).catch((error: unknown) =>
            ctx.logger.warn("joining an invited matrix room failed", {
              roomId: member.roomId,
              error: (error as Error).message,
            }),
          );
        });
        bot.on(HttpApiEvent.SessionLoggedOut, (error) => {
          ctx.setStatus("down", {
            error: new ChannelError("AUTH_FAILED", `the homeserver ended the session: ${error.message}`, {
              platformCode: error.errcode ?? 401,
            }),
          });
        });

        const ready = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(
                new ChannelError(
                  "PLATFORM_UNAVAILABLE",
                  `the first Matrix sync did not finish within ${config.readyTimeoutMs} ms`,
                ),
              ),
            config.readyTimeoutMs,
          );
          bot.on(ClientEvent.Sync, (state, _previous, data) => {
            lastSyncState = state;
            lastSyncActivityAt = Date.now();
            if (state === SyncState.Prepared || state === SyncState.Syncing) {
              lastSyncAt = Date.now();
              if (!prepared) {
                prepared = true;
                clearTimeout(timer);
                resolve();
              } else ctx.setStatus("ready");
            } else if (state === SyncState.Reconnecting || state === SyncState.Error) {
              const error = data?.error;
              if (error instanceof MatrixError && (error.httpStatus === 401 || error.httpStatus === 403)) {
                clearTimeout(timer);
                reject(toChannelError(error));
              } else if (prepared)
                ctx.setStatus("degraded", { error: toChannelError(error ?? "sync failed") });
            }
          });
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(new ChannelError("NOT_READY", "the channel is stopping"));
          });
        });
        const startOptions = {
          initialSyncLimit: 1,
          pollTimeout: config.pollTimeoutMs,
          disablePresence: true,
          lazyLoadMembers: false,
        };
        await bot.startClient(startOptions);
        await ready;
        // The watchdog: a sync loop that has gone quiet (a long poll the server never answers) is restarted.
        lastSyncActivityAt = Date.now();
        const stallAfterMs = config.pollTimeoutMs + config.stallGraceMs;
        watchdog = setInterval(
          () => {
            if (client !== bot || Date.now() - lastSyncActivityAt <= stallAfterMs) return;
            lastSyncActivityAt = Date.now();
            restarts++;
            ctx.logger.warn("matrix sync stalled; restarting it", { stallAfterMs });
            ctx.setStatus("degraded", {
              error: new ChannelError(
                "PLATFORM_UNAVAILABLE",
                `no sync finished for ${stallAfterMs} ms; restarting`,
              ),
            });
            bot.stopClient();
            bot
              .startClient(startOptions)
              .catch((error: unknown) =>
                ctx.logger.warn("restarting the matrix sync failed", { error: (error as Error).message }),
              );
          },
          Math.max(50, Math.min(5000, Math.floor(config.stallGraceMs / 2))),
        );
        watchdog.unref();
      },

      async send(recipient, content, { replyTo, idempotencyKey }) {
        const bot = client;
        if (bot === undefined) throw new ChannelError("NOT_READY", "not connected to the homeserver");
        try {
          const roomId = await roomFor(bot, recipient);
          // One transaction id per event, stable across attempts: the homeserver posts a repeat once.
          const base = idempotencyKey ?? randomUUID();
          let first: string | undefined;
          for (const [index, event] of (await toEvents(bot, content, replyTo)).entries()) {
            const txnId = `oc.${base}${index === 0 ? "" : `.${index}`}`;
            const sent = await putEvent(bot, context, roomId, event, txnId);
            first ??= sent.event_id;
          }
          return { messageId: first! };
        } catch (error) {
          throw toChannelError(error);
        }
      },

      stop() {
        clearInterval(watchdog);
        client?.stopClient();
        client?.removeAllListeners();
        client = undefined;
      },

      details: () => ({
        userId: context?.config.userId,
        rooms: client?.getRooms().filter((r) => r.getMyMembership() === "join").length,
        sync: lastSyncState,
        lastSyncAt,
        syncRestarts: restarts,
      }),
    };
  },
});

/**
 * Sends one `m.room.message` with `PUT /rooms/{roomId}/send/{type}/{txnId}` through the SDK's
 * authenticated HTTP client (not its local-echo queue, which refuses a transaction id twice in one
 * session). Waits out rate limits up to `maxRateLimitWaitMs` and retries network and server errors
 * `maxSendRetries` times with backoff, always with the same transaction id.
 */
async function putEvent(
  bot: MatrixClient,
  ctx: ChannelContext<MatrixConfig>,
  roomId: string,
  content: Record<string, unknown>,
  txnId: string,
): Promise<{ event_id: string }> {
  const path = `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`;
  const { maxRateLimitWaitMs, maxSendRetries } = ctx.config;
  for (let attempt = 0; ; attempt++) {
    try {
      return await bot.http.authedRequest<{ event_id: string }>(Method.Put, path, undefined, content);
    } catch (error) {
      let waitMs: number | undefined;
      if (
        error instanceof MatrixError &&
        (error.errcode === "M_LIMIT_EXCEEDED" || error.httpStatus === 429)
      ) {
        const retryAfter = retryAfterMs(error);
        if (retryAfter <= maxRateLimitWaitMs && attempt < maxSendRetries + 3) waitMs = retryAfter;
      } else if (
        (error instanceof ConnectionError ||
          (error instanceof MatrixError && (error.httpStatus ?? 0) >= 500)) &&
        attempt < maxSendRetries
      )
        waitMs = Math.min(5000, 250 * 2 ** attempt);
      if (waitMs === undefined || ctx.signal.aborted) throw error;
      await sleep(waitMs, ctx.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `m.room.message` contents for one send: uploads first (one event each), the text last. */
async function toEvents(
  bot: MatrixClient,
  content: MessageContent,
  replyTo: string | undefined,
): Promise<Array<Record<string, unknown>>> {
  let text = content.text ?? "";
  const events: Array<Record<string, unknown>> = [];
  for (const attachment of content.attachments ?? []) {
    if (attachment.data === undefined) {
      // The gateway fetches nothing on anyone's behalf: links stay links.
      text = text === "" ? attachment.url! : `${text}\n${attachment.url}`;
      continue;
    }
    const bytes = Buffer.from(attachment.data, "base64");
    const name = attachment.filename ?? `${attachment.kind}`;
    const type = attachment.mimeType ?? "application/octet-stream";
    const { content_uri } = await bot.uploadContent(bytes, { name, type, includeFilename: true });
    events.push({
      msgtype:
        { image: "m.image", audio: "m.audio", video: "m.video" }[attachment.kind as string] ?? "m.file",
      body: attachment.caption ?? name,
      url: content_uri,
      info: { mimetype: type, size: bytes.length },
    });
  }
  if (text !== "") events.push({ msgtype: "m.text", body: text });
  if (replyTo !== undefined && events.length > 0)
    events[0]!["m.relates_to"] = { "m.in_reply_to": { event_id: replyTo } };
  return events;
}

function mediaKind(msgtype: unknown): Attachment["kind"] | undefined {
  switch (msgtype) {
    case "m.image":
      return "image";
    case "m.audio":
      return "audio";
    case "m.video":
      return "video";
    case "m.file":
      return "file";
    default:
      return undefined;
  }
}

function retryAfterMs(error: MatrixError): number {
  try {
    return error.getRetryAfterMs() ?? 1000;
  } catch {
    return 1000;
  }
}

/** Where the SDK's process-wide log goes: the logger of the channel that started last. */
let sdkLogSink: ChannelContext<MatrixConfig>["logger"] | undefined;
let sdkLogRouted = false;

/**
 * The SDK's log, at debug level (errors at warn) in the channel's logger, instead of the console:
 * the gateway logs JSON lines. matrix-js-sdk logs through one process-wide logger, so the SDK's
 * module-level lines go to the channel that started last.
 */
function sdkLogger(ctx: ChannelContext<MatrixConfig>) {
  sdkLogSink = ctx.logger;
  const write =
    (level: "debug" | "warn", to: () => ChannelContext<MatrixConfig>["logger"] | undefined) =>
    (...parts: unknown[]) =>
      to()?.[level](
        `matrix-js-sdk: ${parts.map((p) => (p instanceof Error ? p.message : String(p))).join(" ")}`,
      );
  if (!sdkLogRouted) {
    sdkLogRouted = true;
    const global = sdkGlobalLogger as unknown as {
      methodFactory: (method: string) => (...parts: unknown[]) => void;
      setLevel(level: string): void;
    };
    global.methodFactory = (method) => write(method === "error" ? "warn" : "debug", () => sdkLogSink);
    global.setLevel("debug");
  }
  const logger = {
    trace: write("debug", () => ctx.logger),
    debug: write("debug", () => ctx.logger),
    info: write("debug", () => ctx.logger),
    warn: write("debug", () => ctx.logger),
    error: write("warn", () => ctx.logger),
    getChild: () => logger,
  };
  return logger;
}

/** Maps matrix-js-sdk's errors to the SDK's. */
function toChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  if (error instanceof MatrixError) {
    const status = error.httpStatus ?? 0;
    const options = { platformCode: error.errcode ?? status, cause: error };
    if (error.errcode === "M_LIMIT_EXCEEDED" || status === 429)
      return new ChannelError("RATE_LIMITED", error.message, {
        ...options,
        retryAfterMs: retryAfterMs(error),
      });
    if (status === 401 || error.errcode === "M_UNKNOWN_TOKEN" || error.errcode === "M_MISSING_TOKEN")
      return new ChannelError("AUTH_FAILED", error.message, options);
    if (error.errcode === "M_FORBIDDEN" && status === 403 && /password|login/i.test(error.message))
      return new ChannelError("AUTH_FAILED", error.message, options);
    if (status === 403 || status === 404)
      return new ChannelError("RECIPIENT_NOT_FOUND", error.message, options);
    if (status >= 400 && status < 500) return new ChannelError("UNSUPPORTED_CONTENT", error.message, options);
    return new ChannelError("PLATFORM_UNAVAILABLE", error.message, options);
  }
  if (error instanceof ConnectionError)
    return new ChannelError("PLATFORM_UNAVAILABLE", `the homeserver is unreachable: ${error.message}`, {
      cause: error,
    });
  return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
