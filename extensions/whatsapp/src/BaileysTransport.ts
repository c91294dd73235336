import { join } from "node:path";
import {
  type Attachment,
  ChannelError,
  emitUntilTaken,
  type InboundMessageInput,
  type MessageContent,
  type SendOptions,
  type SendResult,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import { type BaileysAuthHelpers, type FileAuthState, openFileAuthState } from "./FileAuthState";
import { InboundDedupe } from "./InboundDedupe";
import type { TransportContext, WhatsAppTransport } from "./Transport";

/** Baileys' `DisconnectReason` status codes this plugin treats specially. */
const LOGGED_OUT = 401;
const RESTART_REQUIRED = 515;
const TIMED_OUT = 408;
const LOGGED_OUT_NEXT_STEP =
  "restart the channel (config reload or gateway restart) and scan the new QR code under WhatsApp > Settings > Linked devices";
/** How many recent inbound messages are kept to quote them in replies. */
const QUOTE_CACHE_SIZE = 500;

/** A Baileys event emitter (`sock.ev`), the part used here. */
export interface BaileysEventEmitterLike {
  // biome-ignore lint/suspicious/noExplicitAny: Baileys' typed event map is not needed at this boundary
  on(event: string, listener: (data: any) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  off(event: string, listener: (data: any) => void): unknown;
}

/**
 * The part of a Baileys `WASocket` (`makeWASocket(...)`) the plugin uses. A real socket satisfies
 * it; tests hand in a fake (see `FakeBaileysSocket` in `/testing`).
 */
export interface BaileysSocketLike {
  ev: BaileysEventEmitterLike;
  readonly user?: { id: string; name?: string | undefined } | undefined;
  sendMessage(
    jid: string,
    content: object,
    options?: object,
  ): Promise<{ key?: { id?: string | null } } | undefined>;
  requestPairingCode(phoneNumber: string): Promise<string>;
  query(node: object, timeoutMs?: number): Promise<unknown>;
  end(error: Error | undefined): unknown;
}

/** What the plugin passes to the socket factory (a subset of Baileys' `UserFacingSocketConfig`). */
export interface BaileysSocketOptions {
  auth: FileAuthState["state"];
  logger: BaileysLogger;
  browser: [string, string, string];
  connectTimeoutMs: number;
  markOnlineOnConnect: boolean;
  syncFullHistory: boolean;
}

/** Makes a WhatsApp Web socket: Baileys' `makeWASocket`, or a fake in tests. */
export type BaileysSocketFactory = (options: BaileysSocketOptions) => BaileysSocketLike;

/** Downloads an inbound media message's bytes: Baileys' `downloadMediaMessage(message, "buffer", {})` by default. */
export type BaileysMediaDownloader = (message: WAMessageLike) => Promise<Buffer>;

/** The pino-like logger Baileys expects. */
export interface BaileysLogger {
  level: string;
  child(bindings: Record<string, unknown>): BaileysLogger;
  trace(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** A Baileys `WAMessage`, the fields read here. */
export interface WAMessageLike {
  key: {
    remoteJid?: string | null;
    fromMe?: boolean | null;
    id?: string | null;
    participant?: string | null;
  };
  message?: Record<string, unknown> | null;
  messageTimestamp?: number | { toNumber(): number } | null;
  pushName?: string | null;
}

/** A `connection.update` event, the fields read here. */
type ConnectionUpdate = { connection?: string; qr?: string; lastDisconnect?: { error?: unknown } };
/** A `messages.upsert` event. */
type MessagesUpsert = { messages?: WAMessageLike[]; type?: string };

/** Dependencies of the Baileys transport; the defaults come from the lazily imported `baileys`. */
export interface BaileysDependencies {
  makeSocket?: BaileysSocketFactory;
  downloadMedia?: BaileysMediaDownloader;
}

type BaileysModule = BaileysAuthHelpers & {
  default: unknown;
  makeWASocket?: unknown;
  downloadMediaMessage: (message: unknown, type: "buffer", options: object) => Promise<Buffer>;
  normalizeMessageContent: (content: unknown) => Record<string, unknown> | undefined;
  Browsers: { ubuntu(name: string): [string, string, string] };
};

const MEDIA_FIELDS: Record<string, Attachment["kind"]> = {
  imageMessage: "image",
  videoMessage: "video",
  audioMessage: "audio",
  documentMessage: "file",
  stickerMessage: "sticker",
};

/**
 * WhatsApp Web through Baileys: QR or pairing-code login shown in the channel status, credentials
 * in `authDir`, reconnects with backoff on every close except a logout, and a watchdog that pings a
 * quiet socket and replaces it when the ping goes unanswered.
 */
export class BaileysTransport implements WhatsAppTransport {
  readonly #ctx: TransportContext;
  readonly #deps: BaileysDependencies;
  readonly #dedupe: InboundDedupe;
  readonly #recent = new Map<string, WAMessageLike>();
  #baileys: BaileysModule | undefined;
  #auth: FileAuthState | undefined;
  #sock: BaileysSocketLike | undefined;
  #detach: (() => void) | undefined;
  #open = false;
  #stopped = false;
  #attempts = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #pinging = false;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #lastActivityAt = 0;
  #login: { qr?: string; pairingCode?: string; at: number } | undefined;
  #lastClose: { code: number | undefined; reason: string; at: number } | undefined;
  #reconnects = 0;
  #stalls = 0;
  #loggedOutError: ChannelError | undefined;
  #inbound: Promise<void> = Promise.resolve();
  #opened: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(ctx: TransportContext, deps: BaileysDependencies = {}) {
    this.#ctx = ctx;
    this.#deps = deps;
    this.#dedupe = new InboundDedupe(ctx.config.dedupeCacheSize);
  }

  get authDir(): string {
    return (
      this.#ctx.config.authDir ??
      join(process.env.OPENCLAW_STATE_DIR ?? ".openclaw-state", "whatsapp", this.#ctx.channel)
    );
  }

  async start(): Promise<void> {
    try {
      this.#baileys = (await import("baileys")) as unknown as BaileysModule;
    } catch (error) {
      throw new ChannelError(
        "INVALID_CONFIG",
        `the baileys transport needs the "baileys" package: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.#auth = await openFileAuthState(this.authDir, this.#baileys);
    // Resolves once WhatsApp Web is open: immediately with stored credentials, after the QR scan or
    // pairing code otherwise (meanwhile the status says `connecting` and shows the code).
    const opened = new Promise<void>((resolve, reject) => {
      this.#opened = { resolve, reject };
    });
    this.#connect();
    const onAbort = () => this.#opened?.reject(new ChannelError("NOT_READY", "the channel is stopping"));
    this.#ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await opened;
    } finally {
      this.#ctx.signal.removeEventListener("abort", onAbort);
      this.#opened = undefined;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#opened?.reject(new ChannelError("NOT_READY", "the channel is stopping"));
    clearTimeout(this.#reconnectTimer);
    this.#abandonSocket(undefined);
    await this.#auth?.flush();
  }

  webhook(): Promise<WebhookResponse> {
    return Promise.resolve({
      status: 404,
      body: {
        error: { code: "NOT_FOUND", message: "the baileys transport holds a socket; it takes no webhooks" },
      },
    });
  }

  details(): Record<string, unknown> {
    const nextStep =
      this.#loggedOutError !== undefined
        ? LOGGED_OUT_NEXT_STEP
        : this.#login?.pairingCode !== undefined
          ? `On the phone: WhatsApp > Settings > Linked devices > Link a device > Link with phone number instead, and enter ${this.#login.pairingCode}`
          : this.#login?.qr !== undefined
            ? "On the phone: WhatsApp > Settings > Linked devices > Link a device, and scan the QR code (details.qr; render it with any QR tool, e.g. `qrencode -t ansiutf8 '<qr>'`)"
            : undefined;
    return {
      transport: "baileys",
      authDir: this.authDir,
      connected: this.#open,
      account: this.#sock?.user?.id,
      qr: this.#login?.qr,
      pairingCode: this.#login?.pairingCode,
      loginCodeAt: this.#login?.at,
      nextStep,
      lastClose: this.#lastClose,
      reconnects: this.#reconnects,
      stalls: this.#stalls,
    };
  }

  // -------------------------------------------------------------- connection

  #connect(): void {
    if (this.#stopped) return;
    const baileys = this.#baileys!;
    const factory =
      this.#deps.makeSocket ??
      ((baileys.makeWASocket ??
        (baileys.default as { default?: unknown }).default ??
        baileys.default) as BaileysSocketFactory);
    let sock: BaileysSocketLike;
    try {
      sock = factory({
        auth: this.#auth!.state,
        logger: this.#baileysLogger(),
        browser: baileys.Browsers.ubuntu("OpenClaw"),
        connectTimeoutMs: this.#ctx.config.connectTimeoutMs,
        markOnlineOnConnect: false,
        syncFullHistory: false,
      });
    } catch (error) {
      this.#closed(undefined, `the socket could not be created: ${(error as Error).message}`);
      return;
    }
    this.#sock = sock;
    this.#lastActivityAt = Date.now();
    const onUpdate = (update: ConnectionUpdate) => void this.#onConnectionUpdate(sock, update);
    const onCreds = (update: Record<string, unknown>) => {
      this.#lastActivityAt = Date.now();
      Object.assign(this.#auth!.state.creds, update);
      this.#auth!.saveCreds().catch((error: unknown) =>
        this.#ctx.logger.error("cannot save WhatsApp Web credentials", { error: (error as Error).message }),
      );
    };
    // One upsert at a time, in order: a slow media download must not reorder the conversation.
    const onMessages = (upsert: MessagesUpsert) => {
      this.#inbound = this.#inbound
        .then(() => this.#onMessages(upsert))
        .catch((error: unknown) =>
          this.#ctx.logger.error("cannot handle WhatsApp Web messages", { error: (error as Error).message }),
        );
    };
    sock.ev.on("connection.update", onUpdate);
    sock.ev.on("creds.update", onCreds);
    sock.ev.on("messages.upsert", onMessages);
    this.#detach = () => {
      sock.ev.off("connection.update", onUpdate);
      sock.ev.off("creds.update", onCreds);
      sock.ev.off("messages.upsert", onMessages);
    };
    // A socket that neither opens nor asks for a login within connectTimeoutMs is replaced.
    clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => {
      if (this.#sock === sock && !this.#open && this.#login === undefined) {
        this.#abandonSocket(new Error("connect timeout"));
        this.#closed(
          TIMED_OUT,
          `WhatsApp Web did not connect within ${this.#ctx.config.connectTimeoutMs} ms`,
        );
      }
    }, this.#ctx.config.connectTimeoutMs);
  }

  async #onConnectionUpdate(sock: BaileysSocketLike, update: ConnectionUpdate): Promise<void> {
    if (sock !== this.#sock || this.#stopped) return;
    this.#lastActivityAt = Date.now();
    if (update.qr !== undefined) await this.#showLogin(sock, update.qr);
    if (update.connection === "open") {
      clearTimeout(this.#connectTimer);
      this.#open = true;
      this.#attempts = 0;
      this.#login = undefined;
      this.#startWatchdog(sock);
      this.#ctx.logger.info("WhatsApp Web connected", { account: sock.user?.id });
      this.#ctx.setStatus("ready", { details: this.details() });
      this.#opened?.resolve();
    } else if (update.connection === "close") {
      const error = update.lastDisconnect?.error as
        | { output?: { statusCode?: number }; message?: string }
        | undefined;
      this.#abandonSocket(undefined);
      this.#closed(error?.output?.statusCode, error?.message ?? "connection closed");
    }
  }

  async #showLogin(sock: BaileysSocketLike, qr: string): Promise<void> {
    clearTimeout(this.#connectTimer);
    const phone = this.#ctx.config.pairingPhoneNumber;
    if (phone !== undefined && this.#auth?.state.creds.registered !== true) {
      if (this.#login?.pairingCode !== undefined) return; // one code per socket; it stays valid while the QR rotates
      try {
        const code = await sock.requestPairingCode(phone);
        this.#login = { pairingCode: code, at: Date.now() };
      } catch (error) {
        this.#ctx.logger.warn("cannot get a pairing code; showing the QR code instead", {
          error: (error as Error).message,
        });
        this.#login = { qr, at: Date.now() };
      }
    } else this.#login = { qr, at: Date.now() };
    this.#ctx.logger.info("WhatsApp Web needs a login: see channel.status details", {
      method: this.#login.pairingCode === undefined ? "qr" : "pairing-code",
    });
    this.#ctx.setStatus("connecting", { details: this.details() });
  }

  /** Reacts to a closed (or abandoned) socket: reconnect with backoff, unless logged out. */
  #closed(code: number | undefined, reason: string): void {
    if (this.#stopped) return;
    this.#open = false;
    this.#lastClose = { code, reason, at: Date.now() };
    if (code === LOGGED_OUT) {
      void this.#loggedOut(reason);
      return;
    }
    const delay =
      code === RESTART_REQUIRED
        ? 0
        : (() => {
            const base = Math.min(
              this.#ctx.config.reconnectMaxMs,
              this.#ctx.config.reconnectInitialMs * 2 ** Math.min(this.#attempts, 30),
            );
            return Math.round(base / 2 + (Math.random() * base) / 2);
          })();
    if (code !== RESTART_REQUIRED) this.#attempts += 1;
    this.#reconnects += 1;
    this.#ctx.logger.warn("WhatsApp Web connection closed; reconnecting", { code, reason, delayMs: delay });
    const error = new ChannelError(
      "PLATFORM_UNAVAILABLE",
      `WhatsApp Web closed the connection (${code ?? "no code"}: ${reason})`,
      {
        ...(code === undefined ? {} : { platformCode: code }),
      },
    );
    this.#ctx.setStatus(this.#opened === undefined ? "degraded" : "connecting", {
      error,
      details: { ...this.details(), reconnectInMs: delay },
    });
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  async #loggedOut(reason: string): Promise<void> {
    this.#login = undefined;
    try {
      await this.#auth?.clear();
    } catch (error) {
      this.#ctx.logger.error("cannot delete the logged-out credentials", { error: (error as Error).message });
    }
    const error = new ChannelError(
      "AUTH_FAILED",
      `WhatsApp Web logged this device out (${reason}). Next step: restart the channel (e.g. reload the config or restart the gateway) to get a new QR code, then scan it on the phone under WhatsApp > Settings > Linked devices.`,
      { platformCode: LOGGED_OUT },
    );
    this.#loggedOutError = error;
    this.#ctx.logger.error("WhatsApp Web logged out; not reconnecting", {
      nextStep: "restart the channel and scan a new QR code",
    });
    this.#ctx.setStatus("down", { error, details: this.details() });
    this.#opened?.reject(error);
  }

  /** Stops listening to a socket and closes it (best effort: a dead socket may never answer). */
  #abandonSocket(error: Error | undefined): void {
    clearTimeout(this.#connectTimer);
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    clearTimeout(this.#pingTimer); // a ping pending on the old socket never settles now
    this.#pinging = false;
    this.#detach?.();
    this.#detach = undefined;
    const sock = this.#sock;
    this.#sock = undefined;
    this.#open = false;
    if (sock === undefined) return;
    try {
      const ended = sock.end(error);
      if (ended instanceof Promise) ended.catch(() => {});
    } catch {}
  }

  /** Pings a socket that has been quiet for a whole interval; an unanswered ping replaces it. */
  #startWatchdog(sock: BaileysSocketLike): void {
    clearInterval(this.#watchdog);
    const { watchdogIntervalMs, pingTimeoutMs } = this.#ctx.config;
    this.#watchdog = setInterval(
      () => {
        if (sock !== this.#sock || this.#pinging || Date.now() - this.#lastActivityAt < watchdogIntervalMs)
          return;
        this.#pinging = true;
        const timeout = new Promise<never>((_, reject) => {
          this.#pingTimer = setTimeout(
            () => reject(new Error(`no answer to a ping within ${pingTimeoutMs} ms`)),
            pingTimeoutMs,
          );
        });
        const ping = sock.query(
          {
            tag: "iq",
            attrs: { to: "@s.whatsapp.net", type: "get", xmlns: "w:p" },
            content: [{ tag: "ping", attrs: {} }],
          },
          pingTimeoutMs,
        );
        Promise.race([ping, timeout])
          .then(
            () => {
              if (sock === this.#sock) this.#lastActivityAt = Date.now();
            },
            (error: unknown) => {
              if (sock !== this.#sock || this.#stopped) return;
              this.#stalls += 1;
              this.#ctx.logger.warn("WhatsApp Web socket stalled; replacing it", {
                error: (error as Error).message,
              });
              this.#abandonSocket(new Error("stalled"));
              this.#closed(TIMED_OUT, `stalled: ${(error as Error).message}`);
            },
          )
          .finally(() => {
            if (sock !== this.#sock) return;
            clearTimeout(this.#pingTimer);
            this.#pinging = false;
          });
        ping.catch(() => {});
      },
      Math.max(10, Math.min(watchdogIntervalMs, pingTimeoutMs)),
    );
  }

  #baileysLogger(): BaileysLogger {
    const log = this.#ctx.logger;
    const text = (obj: unknown, msg?: string) => msg ?? (typeof obj === "string" ? obj : "baileys");
    const fields = (obj: unknown) =>
      typeof obj === "object" && obj !== null
        ? {
            detail: String(
              (obj as { err?: { message?: string } }).err?.message ?? (obj as { trace?: string }).trace ?? "",
            ),
          }
        : undefined;
    const logger: BaileysLogger = {
      level: "warn",
      child: () => logger,
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: (obj, msg) => log.warn(`baileys: ${text(obj, msg)}`, fields(obj)),
      error: (obj, msg) => log.error(`baileys: ${text(obj, msg)}`, fields(obj)),
    };
    return logger;
  }

  // ----------------------------------------------------------------- inbound

  async #onMessages(upsert: MessagesUpsert): Promise<void> {
    this.#lastActivityAt = Date.now();
    if (upsert.type !== "notify" || !Array.isArray(upsert.messages)) return;
    for (const message of upsert.messages) {
      const jid = message.key?.remoteJid;
      const id = message.key?.id;
      if (message.key?.fromMe === true || !jid || !id || jid === "status@broadcast") continue;
      try {
        await this.#dedupe.run(`${jid}:${id}`, async () => {
          const inbound = await this.#toInbound(message, jid, id);
          if (inbound === undefined) return;
          this.#remember(id, message);
          // Baileys has confirmed the message to WhatsApp already, which will not send it again:
          // one the gateway cannot record yet (a full disk) is emitted again, with backoff.
          await emitUntilTaken(this.#ctx, inbound);
        });
      } catch (error) {
        this.#ctx.logger.error("cannot handle a WhatsApp Web message", {
          id,
          error: (error as Error).message,
        });
      }
    }
  }

  async #toInbound(
    message: WAMessageLike,
    jid: string,
    id: string,
  ): Promise<InboundMessageInput | undefined> {
    const content = this.#baileys!.normalizeMessageContent(message.message) as
      | Record<string, Record<string, unknown> | string | undefined>
      | undefined;
    if (content === undefined || content === null) return undefined;
    const group = jid.endsWith("@g.us");
    const senderId = (group ? message.key.participant : jid) ?? jid;
    const ts = message.messageTimestamp;
    const seconds = typeof ts === "object" && ts !== null ? ts.toNumber() : Number(ts);
    const inbound: InboundMessageInput = {
      id,
      conversationId: jid,
      peerId: jid,
      sender: message.pushName ? { id: senderId, name: message.pushName } : { id: senderId },
      raw: message,
    };
    if (Number.isFinite(seconds) && seconds > 0) inbound.timestamp = seconds * 1000;
    if (group) inbound.guildId = jid;
    const reaction = content.reactionMessage as { text?: string; key?: { id?: string } } | undefined;
    if (reaction !== undefined) {
      if (!reaction.text) return undefined;
      inbound.text = reaction.text;
      if (reaction.key?.id) inbound.replyTo = reaction.key.id;
      return inbound;
    }
    const extended = content.extendedTextMessage as
      | { text?: string; contextInfo?: { stanzaId?: string } }
      | undefined;
    let text = typeof content.conversation === "string" ? content.conversation : extended?.text;
    let contextInfo = extended?.contextInfo;
    for (const [field, kind] of Object.entries(MEDIA_FIELDS)) {
      const media = content[field] as
        | {
            caption?: string;
            mimetype?: string;
            fileName?: string;
            fileLength?: unknown;
            contextInfo?: { stanzaId?: string };
          }
        | undefined;
      if (media === undefined || typeof media !== "object") continue;
      text ??= media.caption ?? undefined;
      contextInfo ??= media.contextInfo;
      const attachment = await this.#download(message, kind, media);
      if (attachment !== undefined) inbound.attachments = [attachment];
    }
    if (text === undefined && inbound.attachments === undefined) return undefined;
    if (text !== undefined && text !== null) inbound.text = text;
    if (contextInfo?.stanzaId) inbound.replyTo = contextInfo.stanzaId;
    return inbound;
  }

  async #download(
    message: WAMessageLike,
    kind: Attachment["kind"],
    media: { mimetype?: string; fileName?: string; fileLength?: unknown },
  ): Promise<Attachment | undefined> {
    const size = Number(media.fileLength ?? 0);
    if (size > this.#ctx.config.maxMediaBytes) {
      this.#ctx.logger.info("inbound WhatsApp Web media over maxMediaBytes not downloaded", { size });
      return undefined;
    }
    const download =
      this.#deps.downloadMedia ??
      ((m: WAMessageLike) => this.#baileys!.downloadMediaMessage(m, "buffer", {}));
    try {
      const bytes = await download(message);
      if (bytes.length > this.#ctx.config.maxMediaBytes) return undefined;
      const attachment: Attachment = { kind, data: bytes.toString("base64"), sizeBytes: bytes.length };
      if (media.mimetype) attachment.mimeType = media.mimetype;
      if (media.fileName) attachment.filename = media.fileName;
      return attachment;
    } catch (error) {
      this.#ctx.logger.warn("cannot download WhatsApp Web media", { error: (error as Error).message });
      return undefined;
    }
  }

  #remember(id: string, message: WAMessageLike): void {
    this.#recent.delete(id);
    this.#recent.set(id, message);
    if (this.#recent.size > QUOTE_CACHE_SIZE) this.#recent.delete(this.#recent.keys().next().value as string);
  }

  // ---------------------------------------------------------------- outbound

  async send(recipient: string, content: MessageContent, options: SendOptions): Promise<SendResult> {
    if (this.#loggedOutError !== undefined) throw this.#loggedOutError;
    const sock = this.#sock;
    if (sock === undefined || !this.#open)
      throw new ChannelError("PLATFORM_UNAVAILABLE", "WhatsApp Web is not connected right now", {
        retryAfterMs: this.#ctx.config.reconnectInitialMs,
      });
    const jid = recipient.includes("@") ? recipient : `${recipient.replace(/[\s+()-]/g, "")}@s.whatsapp.net`;
    if (!/^[\d-]{5,40}@(s\.whatsapp\.net|g\.us|lid)$/.test(jid))
      throw new ChannelError("RECIPIENT_NOT_FOUND", `"${recipient}" is not a WhatsApp number or JID`);
    let text = content.text;
    if (content.buttons !== undefined && content.buttons.length > 0) {
      // WhatsApp Web accounts cannot send interactive buttons: they become text lines.
      const lines = content.buttons
        .flat()
        .map((b) => (b.url === undefined ? `• ${b.text}` : `• ${b.text}: ${b.url}`));
      text = [text, lines.join("\n")].filter(Boolean).join("\n\n");
    }
    const messages: object[] = [];
    const attachments = content.attachments ?? [];
    const captionable =
      attachments[0] !== undefined && ["image", "video", "file"].includes(attachments[0].kind);
    if (text && !captionable) messages.push({ text });
    for (const [index, attachment] of attachments.entries())
      messages.push(
        toMediaContent(attachment, index === 0 && captionable && text ? text : attachment.caption),
      );
    const ids: string[] = [];
    for (const [index, message] of messages.entries()) {
      const quoted =
        index === 0 && options.replyTo !== undefined ? this.#quoted(jid, options.replyTo) : undefined;
      let sent: { key?: { id?: string | null } } | undefined;
      try {
        sent = await sock.sendMessage(jid, message, quoted === undefined ? {} : { quoted });
      } catch (error) {
        throw toSendError(error, this.#ctx.config.rateLimitRetryMs);
      }
      const id = sent?.key?.id;
      if (!id) throw new ChannelError("PLATFORM_UNAVAILABLE", "WhatsApp Web returned no message id");
      ids.push(id);
    }
    return ids.length > 1 ? { messageId: ids[0]!, messageIds: ids } : { messageId: ids[0]! };
  }

  #quoted(jid: string, id: string): WAMessageLike {
    return (
      this.#recent.get(id) ?? { key: { remoteJid: jid, id, fromMe: false }, message: { conversation: "" } }
    );
  }
}

function toMediaContent(attachment: Attachment, caption: string | undefined): object {
  if (attachment.kind === "location")
    return { text: caption === undefined ? (attachment.url ?? "") : `${caption}\n${attachment.url ?? ""}` };
  const source =
    attachment.url !== undefined ? { url: attachment.url } : Buffer.from(attachment.data ?? "", "base64");
  const extra: Record<string, unknown> = {};
  if (attachment.mimeType !== undefined) extra.mimetype = attachment.mimeType;
  if (caption !== undefined && attachment.kind !== "audio" && attachment.kind !== "sticker")
    extra.caption = caption;
  switch (attachment.kind) {
    case "image":
      return { image: source, ...extra };
    case "video":
      return { video: source, ...extra };
    case "audio":
      return { audio: source, mimetype: attachment.mimeType ?? "audio/ogg; codecs=opus" };
    case "sticker":
      return { sticker: source };
    default:
      return {
        document: source,
        mimetype: attachment.mimeType ?? "application/octet-stream",
        fileName: attachment.filename ?? "file",
        ...(caption === undefined ? {} : { caption }),
      };
  }
}

/** Maps a Baileys send failure (a Boom error) to a `ChannelError`. */
function toSendError(error: unknown, rateLimitRetryMs: number): ChannelError {
  if (error instanceof ChannelError) return error;
  const status = (error as { output?: { statusCode?: number } }).output?.statusCode;
  const message = `WhatsApp Web refused the message: ${(error as Error)?.message ?? String(error)}`;
  const options = { cause: error, ...(status === undefined ? {} : { platformCode: status }) };
  if (status === 429 || /rate-overlimit/i.test(message))
    return new ChannelError("RATE_LIMITED", message, { ...options, retryAfterMs: rateLimitRetryMs });
  if (status === LOGGED_OUT) return new ChannelError("AUTH_FAILED", message, options);
  if (status === 404 || /not-authorized|item-not-found/i.test(message))
    return new ChannelError("RECIPIENT_NOT_FOUND", message, options);
  return new ChannelError("PLATFORM_UNAVAILABLE", message, options);
}
