import { createHash } from "node:crypto";
import {
  type Attachment,
  ChannelError,
  constantTimeEqual,
  type InboundMessageInput,
  isHostUnavailable,
  type MessageContent,
  type SendOptions,
  type SendResult,
  verifyWhatsAppSignature,
  type WebhookRequest,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import type { WhatsAppTemplate } from "./config";
import { graphError, WINDOW_CLOSED_CODE } from "./graphErrors";
import { InboundDedupe } from "./InboundDedupe";
import type { TransportContext, WhatsAppTransport } from "./Transport";

/** WhatsApp's limits on interactive messages and captions. */
const MAX_REPLY_BUTTONS = 3;
const MAX_BUTTON_TITLE = 20;
const MAX_INTERACTIVE_BODY = 1024;
const MAX_CAPTION = 1024;

type Json = Record<string, unknown>;

/** A message of a Cloud API webhook (`entry[].changes[].value.messages[]`), the fields read here. */
interface CloudMessage {
  id: string;
  from: string;
  timestamp: string;
  type: string;
  context?: { id?: string; from?: string };
  text?: { body: string };
  reaction?: { message_id: string; emoji?: string };
  location?: { latitude: number; longitude: number; name?: string; address?: string };
  interactive?: {
    type: string;
    button_reply?: { id: string; title: string };
    list_reply?: { id: string; title: string };
  };
  button?: { payload?: string; text: string };
  [media: string]: unknown;
}

/** A delivery status of a Cloud API webhook (`entry[].changes[].value.statuses[]`). */
interface CloudStatus {
  id: string;
  status: string;
  timestamp?: string;
  recipient_id?: string;
  errors?: Array<{ code?: number; title?: string; message?: string }>;
}

const MEDIA_KINDS: Record<string, Attachment["kind"]> = {
  image: "image",
  video: "video",
  audio: "audio",
  voice: "audio",
  document: "file",
  sticker: "sticker",
};

/**
 * The WhatsApp Business Cloud API over plain `fetch`: signed webhooks in, Graph API calls out.
 */
export class CloudTransport implements WhatsAppTransport {
  readonly #ctx: TransportContext;
  readonly #dedupe: InboundDedupe;
  readonly #statusCounts: Record<string, number> = {};
  #lastStatus: Json | undefined;
  #phone: Json = {};

  constructor(ctx: TransportContext) {
    this.#ctx = ctx;
    this.#dedupe = new InboundDedupe(ctx.config.dedupeCacheSize);
  }

  async start(): Promise<void> {
    const phone = await this.#graph(
      "GET",
      `${this.#ctx.config.phoneNumberId}?fields=display_phone_number,verified_name,quality_rating`,
    );
    this.#phone = {
      displayPhoneNumber: phone.display_phone_number,
      verifiedName: phone.verified_name,
      qualityRating: phone.quality_rating,
    };
  }

  async stop(): Promise<void> {}

  details(): Record<string, unknown> {
    return {
      transport: "cloud",
      phoneNumberId: this.#ctx.config.phoneNumberId,
      ...this.#phone,
      statuses: { ...this.#statusCounts },
      ...(this.#lastStatus === undefined ? {} : { lastStatus: this.#lastStatus }),
    };
  }

  // ---------------------------------------------------------------- outbound

  async send(recipient: string, content: MessageContent, options: SendOptions): Promise<SendResult> {
    const to = recipient.replace(/[\s+()-]/g, "");
    if (!/^\d{5,20}$/.test(to))
      throw new ChannelError(
        "RECIPIENT_NOT_FOUND",
        `"${recipient}" is not a WhatsApp number (digits with country code)`,
      );
    const command = /^\/template\s+([A-Za-z0-9_-]{1,64})(?:\s+([\s\S]*))?$/.exec(content.text ?? "");
    if (command !== null && (content.attachments?.length ?? 0) === 0) {
      const params = command[2] === undefined ? [] : command[2].split("|").map((p) => p.trim());
      return this.#sendTemplate(to, command[1]!, params, options);
    }
    const payloads = await this.#payloads(content, options.signal);
    const ids: string[] = [];
    try {
      for (const [index, payload] of payloads.entries()) {
        if (index === 0 && options.replyTo !== undefined) payload.context = { message_id: options.replyTo };
        ids.push(await this.#post(to, payload, options.signal));
      }
    } catch (error) {
      if (!(error instanceof ChannelError) || error.platformCode !== WINDOW_CLOSED_CODE) throw error;
      const alias = this.#ctx.config.windowClosedTemplate;
      if (alias === undefined || ids.length > 0)
        throw new ChannelError(
          "UNSUPPORTED_CONTENT",
          `WhatsApp refused a free-form message to ${to}: the 24-hour customer service window is closed (error 131047). Only an approved message template can reach this user until they write again: configure one under "templates" and name it in "windowClosedTemplate", or send "/template <alias>".`,
          { platformCode: WINDOW_CLOSED_CODE, cause: error },
        );
      this.#ctx.logger.info("24-hour window closed; sending the configured template instead", {
        to,
        template: alias,
      });
      const wanted = this.#ctx.config.templates[alias]?.bodyParameters ?? 0;
      return this.#sendTemplate(
        to,
        alias,
        wanted === 0 || content.text === undefined ? [] : [content.text],
        options,
      );
    }
    return ids.length > 1 ? { messageId: ids[0]!, messageIds: ids } : { messageId: ids[0]! };
  }

  async #sendTemplate(
    to: string,
    alias: string,
    params: string[],
    options: SendOptions,
  ): Promise<SendResult> {
    const template: WhatsAppTemplate | undefined = this.#ctx.config.templates[alias];
    if (template === undefined)
      throw new ChannelError("UNSUPPORTED_CONTENT", `no template "${alias}" is configured under "templates"`);
    const wanted = template.bodyParameters;
    if (params.length !== wanted && !(wanted === 1 && params.length > 1))
      throw new ChannelError(
        "UNSUPPORTED_CONTENT",
        `template "${alias}" takes ${wanted} body parameter(s), got ${params.length} (separate them with "|")`,
      );
    // Template parameters may hold no newline, tab or more than four consecutive spaces.
    const clean = (text: string) =>
      text
        .replace(/\s*[\r\n\t]+\s*/g, " ")
        .replace(/ {4,}/g, "   ")
        .slice(0, 1024);
    const values = wanted === 1 ? [clean(params.join(" | "))] : params.map(clean);
    const payload: Json = {
      type: "template",
      template: {
        name: template.name,
        language: { code: template.language },
        ...(wanted === 0
          ? {}
          : { components: [{ type: "body", parameters: values.map((text) => ({ type: "text", text })) }] }),
      },
    };
    return { messageId: await this.#post(to, payload, options.signal) };
  }

  /** Turns content into Cloud API message payloads (without `to`), uploading inline media. */
  async #payloads(content: MessageContent, signal: AbortSignal | undefined): Promise<Json[]> {
    let text = content.text;
    const attachments = content.attachments ?? [];
    const payloads: Json[] = [];
    if (content.buttons !== undefined && content.buttons.length > 0) {
      const interactive = attachments.length === 0 ? toInteractive(text ?? "", content) : undefined;
      if (interactive !== undefined) return [interactive];
      const lines = content.buttons
        .flat()
        .map((b) => (b.url === undefined ? `• ${b.text}` : `• ${b.text}: ${b.url}`));
      text = [text, lines.join("\n")].filter((part) => part !== undefined && part !== "").join("\n\n");
    }
    const first = attachments[0];
    const captionFits =
      first !== undefined &&
      ["image", "video", "file"].includes(first.kind) &&
      first.caption === undefined &&
      (text?.length ?? 0) <= MAX_CAPTION;
    if (text !== undefined && text !== "" && !captionFits)
      payloads.push({ type: "text", text: { body: text, preview_url: /https?:\/\//.test(text) } });
    for (const [index, attachment] of attachments.entries()) {
      const caption = index === 0 && captionFits && text !== "" ? text : attachment.caption;
      payloads.push(await this.#mediaPayload(attachment, caption, signal));
    }
    return payloads;
  }

  async #mediaPayload(
    attachment: Attachment,
    caption: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Json> {
    if (attachment.kind === "location") {
      if (attachment.url === undefined)
        throw new ChannelError("UNSUPPORTED_CONTENT", "a location attachment needs a URL");
      return {
        type: "text",
        text: {
          body: caption === undefined ? attachment.url : `${caption}\n${attachment.url}`,
          preview_url: true,
        },
      };
    }
    const type = attachment.kind === "file" ? "document" : attachment.kind;
    const media: Json = {};
    if (attachment.url !== undefined) media.link = attachment.url;
    else media.id = await this.#upload(attachment, signal);
    if (caption !== undefined && ["image", "video", "document"].includes(type))
      media.caption = caption.slice(0, MAX_CAPTION);
    if (type === "document" && attachment.filename !== undefined) media.filename = attachment.filename;
    return { type, [type]: media };
  }

  /** Uploads inline (base64) media: `POST /{phone-number-id}/media`, multipart. */
  async #upload(attachment: Attachment, signal: AbortSignal | undefined): Promise<string> {
    const mimeType = attachment.mimeType ?? DEFAULT_MIME[attachment.kind] ?? "application/octet-stream";
    const form = new FormData();
    form.set("messaging_product", "whatsapp");
    form.set("type", mimeType);
    form.set(
      "file",
      new Blob([Buffer.from(attachment.data ?? "", "base64")], { type: mimeType }),
      attachment.filename ?? `${attachment.kind}`,
    );
    const body = await this.#graph("POST", `${this.#ctx.config.phoneNumberId}/media`, form, signal);
    if (typeof body.id !== "string")
      throw new ChannelError("PLATFORM_UNAVAILABLE", "the media upload returned no id");
    return body.id;
  }

  async #post(to: string, payload: Json, signal: AbortSignal | undefined): Promise<string> {
    const body = await this.#graph(
      "POST",
      `${this.#ctx.config.phoneNumberId}/messages`,
      { messaging_product: "whatsapp", recipient_type: "individual", to, ...payload },
      signal,
    );
    const id = (body.messages as Array<{ id?: string }> | undefined)?.[0]?.id;
    if (typeof id !== "string" || id === "")
      throw new ChannelError("PLATFORM_UNAVAILABLE", "WhatsApp accepted the message but returned no id");
    return id;
  }

  /** One Graph API call below the version (`v23.0/<path>`); throws typed errors. */
  async #graph(method: string, path: string, body?: Json | FormData, signal?: AbortSignal): Promise<Json> {
    const { graphApiUrl, graphApiVersion, accessToken, rateLimitRetryMs } = this.#ctx.config;
    const url = `${graphApiUrl.replace(/\/+$/, "")}/${graphApiVersion}/${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${accessToken}` };
    if (body !== undefined && !(body instanceof FormData)) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
        signal: this.#signal(signal),
      });
    } catch (error) {
      throw this.#networkError(error);
    }
    let parsed: unknown;
    try {
      parsed = await response.json();
    } catch (error) {
      if (!response.ok) parsed = undefined;
      else
        throw new ChannelError("PLATFORM_UNAVAILABLE", `WhatsApp answered ${response.status} without JSON`, {
          cause: error,
        });
    }
    if (!response.ok) throw graphError(response.status, response.headers, parsed, rateLimitRetryMs);
    return (parsed ?? {}) as Json;
  }

  #signal(extra: AbortSignal | undefined): AbortSignal {
    const signals = [this.#ctx.signal, AbortSignal.timeout(this.#ctx.config.requestTimeoutMs)];
    if (extra !== undefined) signals.push(extra);
    return AbortSignal.any(signals);
  }

  #networkError(error: unknown): ChannelError {
    if (this.#ctx.signal.aborted)
      return new ChannelError("NOT_READY", "the channel is stopping", { cause: error });
    const timedOut = (error as Error).name === "TimeoutError";
    return new ChannelError(
      "PLATFORM_UNAVAILABLE",
      timedOut
        ? `the Graph API did not answer within ${this.#ctx.config.requestTimeoutMs} ms`
        : `cannot reach the Graph API at ${this.#ctx.config.graphApiUrl}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  // ----------------------------------------------------------------- inbound

  async webhook(request: WebhookRequest): Promise<WebhookResponse> {
    if (request.method === "GET") return this.#verifyHandshake(request.query);
    const check = verifyWhatsAppSignature({
      appSecret: this.#ctx.config.appSecret!,
      body: request.body,
      signature: request.headers["x-hub-signature-256"],
    });
    if (!check.ok)
      return {
        status: 401,
        body: {
          error: { code: "UNAUTHORIZED", message: `X-Hub-Signature-256 check failed: ${check.reason}` },
        },
      };
    // Meta redelivers anything but a 200 for days: a signed body that cannot be read is answered
    // 200 and dropped (logged). Only what the gateway could not record, or media that could not be
    // fetched yet, is answered 503 to come again.
    let update: { object?: unknown; entry?: unknown };
    try {
      update = JSON.parse(new TextDecoder().decode(request.body)) as typeof update;
    } catch {
      return this.#drop("the body is not JSON");
    }
    if (update?.object !== "whatsapp_business_account" || !Array.isArray(update.entry))
      return this.#drop("not a WhatsApp Business Account webhook");
    try {
      for (const entry of update.entry as Array<{ changes?: unknown }>) {
        if (!Array.isArray(entry?.changes)) continue;
        for (const change of entry.changes as Array<{ field?: string; value?: Json }>) {
          if (change?.field === "messages" && change.value !== undefined)
            await this.#handleValue(change.value);
        }
      }
    } catch (error) {
      // A transient failure (media download): answer 503 so Meta redelivers; emitted messages are deduped.
      const failure =
        error instanceof ChannelError ? error : new ChannelError("INTERNAL", String(error), { cause: error });
      this.#ctx.logger.warn("whatsapp webhook not fully processed; Meta will redeliver", {
        error: failure.message,
      });
      return { status: 503, body: { error: { code: "CHANNEL_UNAVAILABLE", message: failure.message } } };
    }
    return { status: 200, body: { ok: true } };
  }

  /** Answers a signed webhook that cannot be read: 200 (final for Meta), logged. */
  #drop(reason: string, fields: Record<string, unknown> = {}): WebhookResponse {
    this.#ctx.logger.warn(`malformed WhatsApp webhook dropped: ${reason}`, fields);
    return { status: 200, body: { ok: true, dropped: reason } };
  }

  #verifyHandshake(query: Readonly<Record<string, string>>): WebhookResponse {
    const token = query["hub.verify_token"];
    if (
      query["hub.mode"] !== "subscribe" ||
      token === undefined ||
      !constantTimeEqual(token, this.#ctx.config.verifyToken!)
    )
      return {
        status: 403,
        body: {
          error: {
            code: "FORBIDDEN",
            message: "webhook verification refused: wrong hub.mode or hub.verify_token",
          },
        },
      };
    const challenge = query["hub.challenge"];
    if (challenge === undefined || challenge === "")
      return {
        status: 400,
        body: { error: { code: "INVALID_PARAMS", message: "hub.challenge is missing" } },
      };
    return { status: 200, headers: { "content-type": "text/plain" }, body: challenge };
  }

  async #handleValue(value: Json): Promise<void> {
    const metadata = value.metadata as { phone_number_id?: string } | undefined;
    if (
      metadata?.phone_number_id !== undefined &&
      metadata.phone_number_id !== this.#ctx.config.phoneNumberId
    ) {
      this.#ctx.logger.debug("webhook for another phone number ignored", {
        phoneNumberId: metadata.phone_number_id,
      });
      return;
    }
    const names = new Map<string, string>();
    for (const contact of this.#listOf<{ wa_id?: unknown; profile?: { name?: unknown } }>(
      value.contacts,
      "contacts",
    ))
      if (typeof contact?.wa_id === "string" && typeof contact.profile?.name === "string")
        names.set(contact.wa_id, contact.profile.name);
    for (const message of this.#listOf<CloudMessage>(value.messages, "messages")) {
      if (typeof message?.id !== "string" || typeof message.from !== "string") {
        this.#drop("a message without an id or sender");
        continue;
      }
      try {
        await this.#dedupe.run(message.id, async () => {
          const inbound = await this.#toInbound(message, names.get(message.from));
          if (inbound !== undefined) await this.#ctx.emit(inbound);
        });
      } catch (error) {
        // Not recorded, or media not fetched yet: the whole webhook comes again (503), and what
        // was emitted already is deduped. A message that cannot be read would fail for ever.
        if (isHostUnavailable(error) || (error instanceof ChannelError && error.retryable)) throw error;
        this.#drop("a message that cannot be read", { id: message.id, error: (error as Error).message });
      }
    }
    for (const status of this.#listOf<CloudStatus>(value.statuses, "statuses")) this.#recordStatus(status);
  }

  /** A list of a webhook's value: none when absent, and none (logged) when it is not a list. */
  #listOf<T>(list: unknown, field: string): T[] {
    if (list === undefined) return [];
    if (Array.isArray(list)) return list as T[];
    this.#drop(`${field} is not a list`);
    return [];
  }

  async #toInbound(
    message: CloudMessage,
    name: string | undefined,
  ): Promise<InboundMessageInput | undefined> {
    const seconds = Number(message.timestamp);
    const inbound: InboundMessageInput = {
      id: message.id,
      conversationId: message.from,
      peerId: message.from,
      accountId: this.#ctx.config.phoneNumberId!,
      sender: name === undefined ? { id: message.from } : { id: message.from, name },
      raw: message,
    };
    if (Number.isFinite(seconds) && seconds > 0) inbound.timestamp = seconds * 1000;
    if (message.context?.id !== undefined) inbound.replyTo = message.context.id;
    const kind = MEDIA_KINDS[message.type];
    switch (message.type) {
      case "text":
        inbound.text = message.text?.body ?? "";
        break;
      case "reaction": {
        const emoji = message.reaction?.emoji;
        if (emoji === undefined || emoji === "") {
          this.#ctx.logger.debug("reaction removed", { messageId: message.reaction?.message_id });
          return undefined;
        }
        inbound.text = emoji;
        if (message.reaction?.message_id !== undefined) inbound.replyTo = message.reaction.message_id;
        break;
      }
      case "interactive": {
        const reply = message.interactive?.button_reply ?? message.interactive?.list_reply;
        if (reply === undefined) return undefined;
        inbound.text = reply.title;
        break;
      }
      case "button":
        inbound.text = message.button?.text ?? "";
        break;
      case "location": {
        const location = message.location;
        if (location === undefined) return undefined;
        inbound.attachments = [
          { kind: "location", url: `https://maps.google.com/?q=${location.latitude},${location.longitude}` },
        ];
        const label = [location.name, location.address].filter(Boolean).join(", ");
        if (label !== "") inbound.text = label;
        break;
      }
      default: {
        if (kind === undefined) {
          this.#ctx.logger.info("unsupported WhatsApp message type skipped", {
            type: message.type,
            id: message.id,
          });
          return undefined;
        }
        const media = message[message.type] as
          | { id?: string; mime_type?: string; caption?: string; filename?: string; sha256?: string }
          | undefined;
        if (typeof media?.id !== "string") {
          this.#drop("a media message without a media id", { id: message.id, type: message.type });
          return undefined;
        }
        try {
          inbound.attachments = [await this.#download(kind, media as { id: string })];
        } catch (error) {
          // Transient failures propagate (503: Meta redelivers); media that cannot be fetched at all
          // (expired, deleted) must not block the message forever.
          if (!(error instanceof ChannelError) || error.retryable) throw error;
          this.#ctx.logger.warn("inbound WhatsApp media unavailable; emitting the message without it", {
            id: message.id,
            error: error.message,
          });
        }
        inbound.text =
          media.caption ?? (inbound.attachments === undefined ? `[${message.type} unavailable]` : undefined);
        if (inbound.text === undefined) delete inbound.text;
      }
    }
    return inbound;
  }

  /** Fetches inbound media: `GET /{media-id}` for its URL, then the URL itself (with the token). */
  async #download(
    kind: Attachment["kind"],
    media: { id: string; mime_type?: string; filename?: string; sha256?: string },
  ): Promise<Attachment> {
    const info = await this.#graph("GET", encodeURIComponent(media.id));
    const url = String(info.url ?? "");
    const size = Number(info.file_size);
    const attachment: Attachment = { kind, url };
    const mimeType = (info.mime_type as string | undefined) ?? media.mime_type;
    if (mimeType !== undefined) attachment.mimeType = mimeType;
    if (media.filename !== undefined) attachment.filename = media.filename;
    if (Number.isFinite(size)) attachment.sizeBytes = size;
    if (url === "") throw new ChannelError("PLATFORM_UNAVAILABLE", `media ${media.id} has no download URL`);
    const max = this.#ctx.config.maxMediaBytes;
    if (Number.isFinite(size) && size > max) return attachment; // linked, not inlined (the URL needs the token)
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${this.#ctx.config.accessToken}` },
        signal: this.#signal(undefined),
      });
    } catch (error) {
      throw this.#networkError(error);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ChannelError(
        "PLATFORM_UNAVAILABLE",
        `downloading media ${media.id} answered ${response.status}`,
        {
          platformCode: response.status,
        },
      );
    }
    const bytes = await readLimited(response, max);
    if (bytes === undefined) return attachment;
    const expected = (info.sha256 as string | undefined) ?? media.sha256;
    if (expected !== undefined && createHash("sha256").update(bytes).digest("hex") !== expected.toLowerCase())
      throw new ChannelError("PLATFORM_UNAVAILABLE", `media ${media.id} does not match its sha256`);
    attachment.data = bytes.toString("base64");
    attachment.sizeBytes = bytes.length;
    delete attachment.url; // the lookaside URL needs the access token and expires within minutes
    return attachment;
  }

  #recordStatus(status: CloudStatus): void {
    if (typeof status?.id !== "string" || typeof status.status !== "string") return;
    this.#statusCounts[status.status] = (this.#statusCounts[status.status] ?? 0) + 1;
    const error = status.errors?.[0];
    this.#lastStatus = {
      messageId: status.id,
      status: status.status,
      ...(status.recipient_id === undefined ? {} : { recipient: status.recipient_id }),
      at: Number(status.timestamp) * 1000 || Date.now(),
      ...(error === undefined ? {} : { error: { code: error.code, title: error.title ?? error.message } }),
    };
    if (status.status === "failed")
      this.#ctx.logger.warn("WhatsApp could not deliver a message", {
        messageId: status.id,
        code: error?.code,
        error: error?.title ?? error?.message,
        ...(error?.code === WINDOW_CLOSED_CODE
          ? { nextStep: "send an approved template (see windowClosedTemplate)" }
          : {}),
      });
    else
      this.#ctx.logger.info(`WhatsApp message ${status.status}`, {
        messageId: status.id,
        recipient: status.recipient_id,
      });
  }
}

const DEFAULT_MIME: Partial<Record<Attachment["kind"], string>> = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/ogg",
  sticker: "image/webp",
};

/** Builds an interactive message from buttons, when WhatsApp can show them; `undefined` otherwise. */
function toInteractive(text: string, content: MessageContent): Json | undefined {
  const buttons = content.buttons?.flat() ?? [];
  if (text === "" || text.length > MAX_INTERACTIVE_BODY) return undefined;
  if (buttons.length === 1 && buttons[0]!.url !== undefined && buttons[0]!.text.length <= MAX_BUTTON_TITLE)
    return {
      type: "interactive",
      interactive: {
        type: "cta_url",
        body: { text },
        action: { name: "cta_url", parameters: { display_text: buttons[0]!.text, url: buttons[0]!.url } },
      },
    };
  if (
    buttons.length === 0 ||
    buttons.length > MAX_REPLY_BUTTONS ||
    buttons.some((b) => b.url !== undefined || b.text.length > MAX_BUTTON_TITLE)
  )
    return undefined;
  return {
    type: "interactive",
    interactive: {
      type: "button",
      body: { text },
      action: {
        buttons: buttons.map((b) => ({
          type: "reply",
          reply: { id: b.callbackData ?? b.text, title: b.text },
        })),
      },
    },
  };
}

/** Reads a body up to `max` bytes; `undefined` (and the rest discarded) when it is larger. */
async function readLimited(response: Response, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (reader === undefined) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}
