/**
 * @packageDocumentation
 * Test doubles for the WhatsApp plugin: a loopback fake of the WhatsApp Cloud API (Graph API)
 * that records every call and signs webhooks like Meta, and a fake Baileys socket for the
 * WhatsApp Web transport (Baileys cannot be pointed at a loopback server). Needs vitest (it builds
 * on `@openclaw/channel-sdk/testing`).
 */
import { createHash, createHmac } from "node:crypto";
import { EventEmitter } from "node:events";
import type { WebhookRequest } from "@openclaw/channel-sdk";
import { FakePlatform, type RecordedRequest, webhookRequest } from "@openclaw/channel-sdk/testing";
import type { BaileysSocketLike, BaileysSocketOptions, WAMessageLike } from "./BaileysTransport";

/** A Graph API error reply (`{ error: { message, type, code, ... } }`). */
export interface GraphErrorReply {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/** Builds Graph API error replies the way Meta words them. */
export const graphErrors = {
  windowClosed: (): GraphErrorReply => ({
    status: 400,
    body: {
      error: {
        message: "(#131047) Re-engagement message",
        type: "OAuthException",
        code: 131047,
        error_data: {
          messaging_product: "whatsapp",
          details:
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        },
        fbtrace_id: "AbCdEfGhIjK",
      },
    },
  }),
  rateLimited: (code: 130429 | 131056 | 80007, retryAfterSeconds?: number): GraphErrorReply => ({
    status: code === 80007 ? 400 : 429,
    ...(retryAfterSeconds === undefined ? {} : { headers: { "retry-after": String(retryAfterSeconds) } }),
    body: {
      error: {
        message:
          code === 130429
            ? "(#130429) Rate limit hit"
            : code === 131056
              ? "(#131056) (Business Account, Consumer Account) pair rate limit hit"
              : "(#80007) Rate limit issues",
        type: "OAuthException",
        code,
        fbtrace_id: "AbCdEfGhIjK",
      },
    },
  }),
  invalidToken: (): GraphErrorReply => ({
    status: 401,
    body: {
      error: {
        message: "Invalid OAuth access token - Cannot parse access token",
        type: "OAuthException",
        code: 190,
        fbtrace_id: "AbCdEfGhIjK",
      },
    },
  }),
};

interface FakeMedia {
  bytes: Buffer;
  mimeType: string;
}

/**
 * A loopback fake of the WhatsApp Cloud API: `GET /{version}/{phone-number-id}`,
 * `POST /{version}/{phone-number-id}/messages` (text, media, interactive, template; refuses
 * free-form messages to users whose 24-hour window is closed with error 131047),
 * `POST /{version}/{phone-number-id}/media` (multipart upload), `GET /{version}/{media-id}` and the
 * media download URL. Checks the bearer token, answers Graph's error shapes, records every call,
 * and builds webhooks signed with the app secret.
 */
export class FakeWhatsAppCloud {
  /** Message payloads received on `/messages`, in order. */
  readonly messages: Array<Record<string, unknown>> = [];
  /** Uploads received on `/media`: content type and size. */
  readonly uploads: Array<{ contentType: string; bytes: number }> = [];
  /** Recipients whose 24-hour window is closed: free-form messages to them fail with 131047. */
  readonly closedWindows = new Set<string>();
  readonly #media = new Map<string, FakeMedia>();
  readonly #sendFailures: GraphErrorReply[] = [];
  #nextId = 1;

  private constructor(
    readonly platform: FakePlatform,
    readonly options: { phoneNumberId: string; accessToken: string; appSecret: string },
  ) {}

  /** Starts the fake on 127.0.0.1 and an ephemeral port. */
  static async start(options: {
    phoneNumberId: string;
    accessToken: string;
    appSecret: string;
  }): Promise<FakeWhatsAppCloud> {
    const platform = await FakePlatform.start();
    const fake = new FakeWhatsAppCloud(platform, options);
    platform.route("GET /*", (request) => fake.#handle(request));
    platform.route("POST /*", (request) => fake.#handle(request));
    return fake;
  }

  /** The value for `graphApiUrl`. */
  get url(): string {
    return this.platform.url;
  }

  /** Every request the fake received. */
  get requests(): RecordedRequest[] {
    return this.platform.requests;
  }

  /** Texts of sent messages (text bodies, interactive bodies, captions), in order. */
  sentTexts(): string[] {
    return this.messages.flatMap((m) => {
      const type = String(m.type);
      const part = m[type] as { body?: unknown; caption?: unknown } | undefined;
      if (type === "text") return [String(part?.body)];
      if (type === "interactive") return [String((part?.body as { text?: string } | undefined)?.text)];
      return part?.caption === undefined ? [] : [String(part.caption)];
    });
  }

  /** Makes the next `/messages` calls fail with these replies. */
  failNextSend(...replies: GraphErrorReply[]): void {
    this.#sendFailures.push(...replies);
  }

  /** Stores media users can send (UTF-8 bytes: the fake serves text): returns its id (as in a webhook's `image.id`). */
  addMedia(bytes: Buffer, mimeType: string): { id: string; sha256: string } {
    const id = `${100000 + this.#nextId++}`;
    this.#media.set(id, { bytes, mimeType });
    return { id, sha256: createHash("sha256").update(bytes).digest("hex") };
  }

  /**
   * A Cloud API webhook body carrying messages and statuses, as Meta sends it.
   *
   * @param value - `messages`, `statuses`, `contacts` (metadata is filled in).
   */
  webhookBody(value: {
    messages?: unknown[];
    statuses?: unknown[];
    contacts?: unknown[];
  }): Record<string, unknown> {
    return {
      object: "whatsapp_business_account",
      entry: [
        {
          id: "102290129340398",
          changes: [
            {
              field: "messages",
              value: {
                messaging_product: "whatsapp",
                metadata: {
                  display_phone_number: "15550783881",
                  phone_number_id: this.options.phoneNumberId,
                },
                ...value,
              },
            },
          ],
        },
      ],
    };
  }

  /** A user's text message (webhook body), with a fresh `wamid`. */
  textFrom(
    text: string,
    from = "16505551234",
    name = "Ana",
    context?: string,
  ): { id: string; body: Record<string, unknown> } {
    const id = `wamid.HBgL${this.#nextId++}MTY1MDU1NTEyMzQVAgASGBQzQTdFRkU0QjE5`;
    const message: Record<string, unknown> = {
      from,
      id,
      timestamp: "1764000000",
      type: "text",
      text: { body: text },
    };
    if (context !== undefined) message.context = { from: "15550783881", id: context };
    return {
      id,
      body: this.webhookBody({ contacts: [{ profile: { name }, wa_id: from }], messages: [message] }),
    };
  }

  /**
   * Signs a webhook body with the app secret (`X-Hub-Signature-256`), as a `WebhookRequest`.
   *
   * @param body - The payload.
   * @param secret - Another secret, to forge.
   */
  signed(body: unknown, secret = this.options.appSecret): WebhookRequest {
    const text = JSON.stringify(body);
    return webhookRequest({
      body: text,
      headers: { "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}` },
    });
  }

  /** POSTs a signed webhook to a URL (the gateway's `/webhook/<channel>`), like Meta does. */
  async deliver(url: string, body: unknown): Promise<Response> {
    const request = this.signed(body);
    return fetch(url, { method: "POST", headers: { ...request.headers }, body: Buffer.from(request.body) });
  }

  async close(): Promise<void> {
    await this.platform.close();
  }

  async #handle(request: RecordedRequest) {
    const version = /^\/v\d+\.\d+\//.exec(request.path);
    const rest = version === null ? request.path : request.path.slice(version[0].length);
    if (request.headers.authorization !== `Bearer ${this.options.accessToken}`)
      return graphErrors.invalidToken();
    if (request.method === "GET" && request.path.startsWith("/media-download/")) {
      const media = this.#media.get(request.path.slice("/media-download/".length));
      return media === undefined
        ? { status: 404, body: "Not Found" }
        : { headers: { "content-type": media.mimeType }, body: media.bytes.toString("utf8") };
    }
    const { phoneNumberId } = this.options;
    if (version === null) return { status: 404, body: { error: { message: "Unknown path", code: 100 } } };
    if (request.method === "GET" && rest === phoneNumberId)
      return {
        body: {
          verified_name: "OpenClaw Test",
          display_phone_number: "+1 555-078-3881",
          quality_rating: "GREEN",
          id: phoneNumberId,
        },
      };
    if (request.method === "GET" && this.#media.has(rest)) {
      const media = this.#media.get(rest)!;
      return {
        body: {
          url: `${this.url}/media-download/${rest}`,
          mime_type: media.mimeType,
          sha256: createHash("sha256").update(media.bytes).digest("hex"),
          file_size: media.bytes.length,
          id: rest,
          messaging_product: "whatsapp",
        },
      };
    }
    if (request.method === "POST" && rest === `${phoneNumberId}/media`) {
      const contentType = request.headers["content-type"] ?? "";
      if (!contentType.startsWith("multipart/form-data"))
        return { status: 400, body: { error: { message: "(#100) Param file must be a file", code: 100 } } };
      this.uploads.push({ contentType, bytes: request.body.length });
      return { body: { id: `${200000 + this.#nextId++}` } };
    }
    if (request.method === "POST" && rest === `${phoneNumberId}/messages`) {
      const failure = this.#sendFailures.shift();
      if (failure !== undefined) return failure;
      const payload = (request.json ?? {}) as Record<string, unknown>;
      const to = String(payload.to ?? "");
      if (payload.messaging_product !== "whatsapp" || to === "" || typeof payload.type !== "string")
        return {
          status: 400,
          body: { error: { message: "(#100) Invalid parameter", type: "OAuthException", code: 100 } },
        };
      if (payload.type !== "template" && this.closedWindows.has(to)) return graphErrors.windowClosed();
      this.messages.push(payload);
      return {
        body: {
          messaging_product: "whatsapp",
          contacts: [{ input: to, wa_id: to }],
          messages: [{ id: `wamid.OUT${this.#nextId++}` }],
        },
      };
    }
    return {
      status: 400,
      body: {
        error: {
          message: `Unsupported ${request.method} request. Object with ID '${rest}' does not exist`,
          type: "GraphMethodException",
          code: 100,
          error_subcode: 33,
        },
      },
    };
  }
}

// ------------------------------------------------------------------ Baileys

/** A Baileys-like disconnect error (a Boom with `output.statusCode`). */
export function disconnectError(statusCode: number, message = "Connection Failure"): Error {
  return Object.assign(new Error(message), {
    isBoom: true,
    output: { statusCode, payload: { statusCode, error: "Error", message } },
  });
}

/**
 * A fake Baileys `WASocket`: an EventEmitter `ev` like Baileys', methods the tests call to make it
 * emit `connection.update` (QR, open, close with a `DisconnectReason` code), `messages.upsert` and
 * `creds.update`, and records of `sendMessage`, `requestPairingCode`, `query` (pings) and `end`.
 */
export class FakeBaileysSocket implements BaileysSocketLike {
  readonly ev = new EventEmitter();
  readonly sent: Array<{ jid: string; content: Record<string, unknown>; options?: object }> = [];
  readonly pings: object[] = [];
  readonly pairingRequests: string[] = [];
  ended: { error: Error | undefined } | undefined;
  /** When true, pings are never answered (a socket that died silently). */
  silent = false;
  user: { id: string; name?: string } | undefined;
  readonly #sendFailures: Error[] = [];
  #nextId = 1;

  constructor(readonly options: BaileysSocketOptions) {}

  /** Emits `connection.update` with a QR code. */
  showQr(qr = "2@fakeQrRef,fakeNoiseKey,fakeIdentityKey,fakeAdvSecret"): void {
    this.ev.emit("connection.update", { qr });
  }

  /** Emits `creds.update` (as after a successful login) and `connection.update` open. */
  open(user = { id: "15550001111:7@s.whatsapp.net", name: "OpenClaw" }): void {
    this.user = user;
    this.ev.emit("creds.update", { me: user, registered: true });
    this.ev.emit("connection.update", { connection: "open" });
  }

  /** Emits `connection.update` close with a `DisconnectReason` status code. */
  close(statusCode: number, message = "Connection Failure"): void {
    this.ev.emit("connection.update", {
      connection: "close",
      lastDisconnect: { error: disconnectError(statusCode, message), date: new Date() },
    });
  }

  /** A user writes: emits `messages.upsert` (type `notify`). */
  receive(
    text: string,
    options: { from?: string; name?: string; id?: string; message?: Record<string, unknown> } = {},
  ): WAMessageLike {
    const message: WAMessageLike = {
      key: {
        remoteJid: options.from ?? "16505551234@s.whatsapp.net",
        fromMe: false,
        id: options.id ?? `3A${Date.now()}${this.#nextId++}`,
      },
      message: options.message ?? { conversation: text },
      messageTimestamp: 1_764_000_000,
      pushName: options.name ?? "Ana",
    };
    this.ev.emit("messages.upsert", { type: "notify", messages: [message] });
    return message;
  }

  /** Makes the next `sendMessage` calls throw these errors. */
  failNextSend(...errors: Error[]): void {
    this.#sendFailures.push(...errors);
  }

  async sendMessage(jid: string, content: object, options?: object): Promise<{ key: { id: string } }> {
    const failure = this.#sendFailures.shift();
    if (failure !== undefined) throw failure;
    this.sent.push(
      options === undefined
        ? { jid, content: content as Record<string, unknown> }
        : { jid, content: content as Record<string, unknown>, options },
    );
    return { key: { id: `3EB0${String(this.#nextId++).padStart(8, "0")}` } };
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    this.pairingRequests.push(phoneNumber);
    return "ABCD1234";
  }

  query(node: object): Promise<unknown> {
    this.pings.push(node);
    if (this.silent) return new Promise(() => {});
    return Promise.resolve({ tag: "iq", attrs: { type: "result" } });
  }

  end(error: Error | undefined): void {
    this.ended = { error };
  }
}

/**
 * Stands in for `makeWASocket`: each call makes a {@link FakeBaileysSocket}. With `autoOpen`
 * (default) every socket opens on the next tick (one without registered credentials shows a QR
 * code first, as if it were scanned at once); set it to `false` to drive every socket by hand.
 */
export class FakeBaileys {
  readonly sockets: FakeBaileysSocket[] = [];
  autoOpen = true;

  /** The factory to inject as `baileys.makeSocket`. */
  readonly makeSocket = (options: BaileysSocketOptions): FakeBaileysSocket => {
    const socket = new FakeBaileysSocket(options);
    this.sockets.push(socket);
    if (this.autoOpen)
      setImmediate(() => {
        if (options.auth.creds.registered !== true) socket.showQr();
        socket.open();
      });
    return socket;
  };

  /** The newest socket. */
  get current(): FakeBaileysSocket | undefined {
    return this.sockets.at(-1);
  }

  /** Texts of every message sent on every socket, in order. */
  sentTexts(): string[] {
    return this.sockets.flatMap((s) =>
      s.sent.map((m) => String(m.content.text ?? m.content.caption ?? "")).filter((t) => t !== ""),
    );
  }
}
