/**
 * @packageDocumentation
 * A loopback fake of Discord (REST API and the WebSocket gateway) for testing bots and the gateway
 * with discord.js, without Discord. Needs vitest (it builds on `@openclaw/channel-sdk/testing`).
 */
import { generateKeyPairSync, sign } from "node:crypto";
import type { AddressInfo } from "node:net";
import { FakePlatform, type RecordedRequest, webhookRequest } from "@openclaw/channel-sdk/testing";
import { type WebSocket, WebSocketServer } from "ws";

/** A gateway payload, as Discord sends and receives them. */
export interface GatewayPayload {
  op: number;
  d?: unknown;
  s?: number | null;
  t?: string | null;
}

/** One REST call the fake received. */
export interface RestCall {
  method: string;
  /** The route below `/api/v10`, e.g. `/channels/100/messages`. */
  route: string;
  /** The JSON body, or the `payload_json` part of a multipart body. */
  body: Record<string, unknown>;
  /** Names of the files uploaded with a multipart body. */
  files: string[];
  /** What the fake answered. */
  status: number;
  /** A repeat of an enforced nonce: answered with the first message, nothing posted. */
  duplicate?: boolean;
}

/** A user of the fake platform. */
export interface FakeDiscordUser {
  id: string;
  username: string;
  global_name?: string;
  bot?: boolean;
}

/** Options of {@link FakeDiscord.start}. */
export interface FakeDiscordOptions {
  /** The bot token the fake accepts (`Authorization: Bot <token>` and IDENTIFY). */
  token: string;
  /** Heartbeat interval sent in HELLO. @defaultValue 45000 */
  heartbeatIntervalMs?: number;
  /**
   * The per-channel message bucket: at most `limit` creates per `windowMs`, advertised with the
   * `X-RateLimit-*` headers; a client that sends more gets a 429, as from Discord.
   * @defaultValue `{ limit: 5, windowMs: 5000 }`
   */
  messageBucket?: { limit: number; windowMs: number };
}

interface Session {
  id: string;
  seq: number;
  /** Dispatches sent (or due) in this session, for RESUME replays. */
  log: GatewayPayload[];
  socket: WebSocket | undefined;
}

/** The guild the fake serves, with one text channel. */
export const FAKE_GUILD_ID = "1100000000000000001";
/** The guild's text channel. */
export const FAKE_CHANNEL_ID = "1100000000000000002";
/** The user who writes in the fake (and whose DM channel is {@link FAKE_DM_CHANNEL_ID}). */
export const FAKE_USER: FakeDiscordUser = { id: "1100000000000000003", username: "ana", global_name: "Ana" };
/** The DM channel between the bot and {@link FAKE_USER}. */
export const FAKE_DM_CHANNEL_ID = "1100000000000000004";
/** The bot's own user id. */
export const FAKE_BOT_ID = "1100000000000000005";
/** The bot's application id. */
export const FAKE_APPLICATION_ID = "1100000000000000006";

const API_PREFIX = "/api/v10";

/**
 * A loopback fake of Discord, enough for discord.js: `GET /gateway/bot`, a gateway WebSocket with
 * HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats and ACKs, RESUME with replay of missed events,
 * channel fetches, message creates (JSON or multipart), DM channel creation and interaction
 * follow-ups. It checks the token, advertises and enforces per-channel rate limits with Discord's
 * headers, answers Discord's error shapes, and records every REST call and gateway payload.
 * Interactions are signed with an Ed25519 key of its own ({@link FakeDiscord.publicKey}).
 */
export class FakeDiscord {
  /** Every REST call, in order. */
  readonly calls: RestCall[] = [];
  /** Every payload clients sent on the gateway, in order. */
  readonly received: GatewayPayload[] = [];
  /** Number of gateway connections accepted so far. */
  connections = 0;
  /** When false, heartbeats are recorded but not acknowledged (a zombie connection). */
  ackHeartbeats = true;
  readonly #sessions = new Map<string, Session>();
  readonly #failures: Array<{ status: number; headers?: Record<string, string>; body: unknown }> = [];
  readonly #buckets = new Map<string, { remaining: number; resetAt: number }>();
  readonly #privateKey;
  readonly #publicKey: string;
  readonly #channels = new Map<string, Record<string, unknown>>();
  readonly #nonces = new Map<string, Record<string, unknown>>();
  /** Interaction token → the channel it came from. */
  readonly #interactions = new Map<string, string>();
  #nextId = 1_200_000_000_000_000_000n;
  #current: Session | undefined;
  readonly #wss: WebSocketServer;

  private constructor(
    readonly platform: FakePlatform,
    wss: WebSocketServer,
    readonly options: Required<FakeDiscordOptions>,
  ) {
    this.#wss = wss;
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    this.#privateKey = privateKey;
    this.#publicKey = (publicKey.export({ format: "der", type: "spki" }) as Buffer)
      .subarray(-32)
      .toString("hex");
    this.#channels.set(FAKE_CHANNEL_ID, {
      id: FAKE_CHANNEL_ID,
      type: 0,
      guild_id: FAKE_GUILD_ID,
      name: "general",
      position: 0,
      permission_overwrites: [],
      nsfw: false,
      parent_id: null,
    });
    this.#channels.set(FAKE_DM_CHANNEL_ID, {
      id: FAKE_DM_CHANNEL_ID,
      type: 1,
      recipients: [FAKE_USER],
      last_message_id: null,
    });
  }

  /**
   * Starts the fake's REST server and gateway on 127.0.0.1 (ephemeral ports).
   *
   * @param options - Token, heartbeat interval, message bucket.
   * @returns The running fake.
   */
  static async start(options: FakeDiscordOptions): Promise<FakeDiscord> {
    const platform = await FakePlatform.start();
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    const fake = new FakeDiscord(platform, wss, {
      heartbeatIntervalMs: 45_000,
      messageBucket: { limit: 5, windowMs: 5000 },
      ...options,
    });
    for (const method of ["GET", "POST", "PATCH", "PUT", "DELETE"])
      platform.route(`${method} ${API_PREFIX}/*`, (request) => fake.#rest(request));
    wss.on("connection", (socket) => fake.#connect(socket));
    return fake;
  }

  /** The REST base discord.js is given as `rest.api`, e.g. `http://127.0.0.1:40123/api`. */
  get apiRoot(): string {
    return `${this.platform.url}/api`;
  }

  /** The gateway's URL, as `GET /gateway/bot` reports it. */
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as AddressInfo).port}`;
  }

  /** The public key (64 hex characters) interactions are signed with. */
  get publicKey(): string {
    return this.#publicKey;
  }

  /** The REST calls that created messages, in order. */
  messages(): RestCall[] {
    return this.calls.filter(
      (c) =>
        c.method === "POST" &&
        /^\/channels\/\d+\/messages$/.test(c.route) &&
        c.status === 200 &&
        c.duplicate !== true,
    );
  }

  /** The REST calls that edited an interaction's original response, in order. */
  followUps(): RestCall[] {
    return this.calls.filter(
      (c) => c.method === "PATCH" && c.route.startsWith("/webhooks/") && c.status === 200,
    );
  }

  /** Texts of the messages created, in order. */
  sentTexts(): string[] {
    return this.messages().map((c) => String(c.body.content ?? ""));
  }

  /** The session of the current (or last) gateway connection. */
  get sessionId(): string | undefined {
    return this.#current?.id;
  }

  /** Makes the next message creates fail with these replies. */
  failNextSend(...replies: Array<{ status: number; headers?: Record<string, string>; body: unknown }>): void {
    this.#failures.push(...replies);
  }

  /**
   * A user writes a message, delivered as a `MESSAGE_CREATE` dispatch. When no client is connected
   * it is kept in the session and replayed on RESUME, as Discord does.
   *
   * @param text - The message's content.
   * @param options.channelId - Defaults to the guild channel; use {@link FAKE_DM_CHANNEL_ID} for a DM.
   * @returns The message object dispatched.
   */
  inject(
    text: string,
    options: { channelId?: string; author?: FakeDiscordUser; replyTo?: string } = {},
  ): Record<string, unknown> {
    const channelId = options.channelId ?? FAKE_CHANNEL_ID;
    const channel = this.#channels.get(channelId);
    const author = options.author ?? FAKE_USER;
    const message = this.#messageObject(channelId, author, text, {
      reference:
        options.replyTo === undefined ? undefined : { message_id: options.replyTo, channel_id: channelId },
    });
    // Discord sends the channel's type with every MESSAGE_CREATE (discord.js needs it for uncached DMs).
    message.channel_type = channel?.type ?? 0;
    if (channel?.guild_id !== undefined)
      message.member = { roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false };
    this.#dispatch("MESSAGE_CREATE", message);
    return message;
  }

  /**
   * Builds a signed interaction request (slash command or button), as Discord POSTs it.
   *
   * @param interaction - `type` 1 (PING), 2 (APPLICATION_COMMAND) or 3 (MESSAGE_COMPONENT) and its data.
   * @param signWith - Sign with another key's signature (for forgeries): `"bad"` flips the signature.
   * @returns The request for a plugin's `handleWebhook`, and the raw body and headers for HTTP.
   */
  interaction(
    interaction: { type: number; data?: Record<string, unknown>; channelId?: string; user?: FakeDiscordUser },
    signWith: "good" | "bad" = "good",
  ): {
    request: ReturnType<typeof webhookRequest>;
    body: string;
    headers: Record<string, string>;
    id: string;
  } {
    const channelId = interaction.channelId ?? FAKE_CHANNEL_ID;
    const guild = this.#channels.get(channelId)?.guild_id as string | undefined;
    const user = { discriminator: "0", avatar: null, ...(interaction.user ?? FAKE_USER) };
    const id = this.#snowflake();
    const payload: Record<string, unknown> = {
      id,
      application_id: FAKE_APPLICATION_ID,
      type: interaction.type,
      token: `interaction-token-${id}`,
      version: 1,
      channel_id: channelId,
      ...(interaction.data === undefined ? {} : { data: interaction.data }),
      ...(guild === undefined ? { user } : { guild_id: guild, member: { user, roles: [] } }),
    };
    this.#interactions.set(String(payload.token), channelId);
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    let signature = sign(null, Buffer.from(timestamp + body), this.#privateKey).toString("hex");
    if (signWith === "bad") signature = `${signature.slice(0, -2)}${signature.endsWith("00") ? "11" : "00"}`;
    const headers = { "x-signature-ed25519": signature, "x-signature-timestamp": timestamp };
    return { request: webhookRequest({ body, headers }), body, headers, id };
  }

  /**
   * Drops every gateway connection the way a network failure or a Discord restart does: the
   * session stays resumable, events injected meanwhile are replayed on RESUME.
   *
   * @param code - The close code; 4000 (unknown error) makes clients resume, 1006-like drops use `terminate`.
   */
  dropConnections(code?: number): void {
    for (const client of this.#wss.clients) {
      if (code === undefined) client.terminate();
      else client.close(code, "fake discord dropped the connection");
    }
  }

  /** Sends op 7 RECONNECT to every connected client. */
  requestReconnect(): void {
    for (const client of this.#wss.clients) client.send(JSON.stringify({ op: 7, d: null }));
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.platform.close();
  }

  // --- gateway -------------------------------------------------------------------------------

  #connect(socket: WebSocket): void {
    this.connections++;
    let session: Session | undefined;
    const send = (payload: GatewayPayload) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
    };
    send({ op: 10, d: { heartbeat_interval: this.options.heartbeatIntervalMs }, s: null, t: null });
    socket.on("message", (data) => {
      let payload: GatewayPayload;
      try {
        payload = JSON.parse(String(data)) as GatewayPayload;
      } catch {
        socket.close(4002, "Error while decoding payload.");
        return;
      }
      this.received.push(payload);
      const d = (payload.d ?? {}) as Record<string, unknown>;
      switch (payload.op) {
        case 1:
          if (this.ackHeartbeats) send({ op: 11, s: null, t: null });
          return;
        case 2: {
          if (session !== undefined) return socket.close(4005, "Already authenticated.");
          if (d.token !== this.options.token) return socket.close(4004, "Authentication failed.");
          session = { id: `session-${this.#sessions.size + 1}`, seq: 0, log: [], socket };
          this.#sessions.set(session.id, session);
          this.#current = session;
          this.#send(session, "READY", {
            v: 10,
            user: { id: FAKE_BOT_ID, username: "openclaw", discriminator: "0", bot: true, avatar: null },
            guilds: [{ id: FAKE_GUILD_ID, unavailable: true }],
            session_id: session.id,
            resume_gateway_url: this.gatewayUrl,
            shard: [0, 1],
            application: { id: FAKE_APPLICATION_ID, flags: 0 },
          });
          this.#send(session, "GUILD_CREATE", this.#guild());
          return;
        }
        case 6: {
          const resumed = this.#sessions.get(String(d.session_id));
          if (d.token !== this.options.token) return socket.close(4004, "Authentication failed.");
          if (resumed === undefined) {
            send({ op: 9, d: false, s: null, t: null });
            return;
          }
          session = resumed;
          session.socket = socket;
          this.#current = session;
          const since = Number(d.seq ?? 0);
          for (const missed of session.log.filter((p) => (p.s ?? 0) > since)) send(missed);
          this.#send(session, "RESUMED", {});
          return;
        }
        default:
          if (session === undefined) socket.close(4003, "Not authenticated.");
      }
    });
    socket.on("close", () => {
      if (session?.socket === socket) session.socket = undefined;
    });
  }

  #dispatch(event: string, data: unknown): void {
    const session = this.#current;
    if (session === undefined) return;
    this.#send(session, event, data);
  }

  #send(session: Session, event: string, data: unknown): void {
    const payload: GatewayPayload = { op: 0, s: ++session.seq, t: event, d: data };
    session.log.push(payload);
    if (session.log.length > 1000) session.log.shift();
    const socket = session.socket;
    if (socket !== undefined && socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
  }

  #guild(): Record<string, unknown> {
    return {
      id: FAKE_GUILD_ID,
      name: "OpenClaw Test Guild",
      icon: null,
      owner_id: FAKE_USER.id,
      roles: [
        {
          id: FAKE_GUILD_ID,
          name: "@everyone",
          permissions: "1071698660929",
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      features: [],
      member_count: 2,
      large: false,
      unavailable: false,
      joined_at: new Date(0).toISOString(),
      members: [],
      channels: [this.#channels.get(FAKE_CHANNEL_ID)],
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      preferred_locale: "en-US",
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      premium_tier: 0,
      nsfw_level: 0,
      system_channel_flags: 0,
    };
  }

  // --- REST ----------------------------------------------------------------------------------

  #rest(request: RecordedRequest) {
    const route = request.path.slice(API_PREFIX.length);
    const { body, files } = readBody(request);
    const call: RestCall = { method: request.method, route, body, files, status: 200 };
    this.calls.push(call);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      return { status, headers, body: payload };
    };
    const webhook = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(?:@|%40)original$/.exec(route);
    if (webhook !== null) {
      // Interaction follow-ups authenticate with the interaction token, not the bot token.
      const channelId = this.#interactions.get(webhook[2]!);
      if (channelId === undefined || webhook[1] !== FAKE_APPLICATION_ID)
        return reply(404, { message: "Unknown Webhook", code: 10015 });
      if (request.method !== "PATCH") return reply(405, { message: "405: Method Not Allowed", code: 0 });
      return reply(200, this.#message(channelId, body, true));
    }
    if (request.headers.authorization !== `Bot ${this.options.token}`)
      return reply(401, { message: "401: Unauthorized", code: 0 });
    if (request.method === "GET" && route === "/gateway/bot")
      return reply(200, {
        url: this.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
      });
    if (request.method === "GET" && route === "/users/@me")
      return reply(200, {
        id: FAKE_BOT_ID,
        username: "openclaw",
        discriminator: "0",
        bot: true,
        avatar: null,
      });
    if (request.method === "POST" && route === "/users/@me/channels") {
      const recipient = String(body.recipient_id ?? "");
      if (recipient !== FAKE_USER.id)
        return reply(400, {
          message: "Invalid Form Body",
          code: 50035,
          errors: { recipient_id: { _errors: [{ code: "NUMBER_TYPE_COERCE", message: "Unknown user" }] } },
        });
      return reply(200, this.#channels.get(FAKE_DM_CHANNEL_ID));
    }
    const channel = /^\/channels\/(\d+)(\/messages)?$/.exec(route);
    if (channel !== null) {
      const found = this.#channels.get(channel[1]!);
      if (found === undefined) return reply(404, { message: "Unknown Channel", code: 10003 });
      if (channel[2] === undefined && request.method === "GET") return reply(200, found);
      if (channel[2] !== undefined && request.method === "POST") {
        const failure = this.#failures.shift();
        if (failure !== undefined) return reply(failure.status, failure.body, failure.headers);
        const limit = this.#take(channel[1]!);
        if (!limit.ok) return reply(429, limit.body, limit.headers);
        if (typeof body.content === "string" && body.content.length > 2000)
          return reply(
            400,
            {
              message: "Invalid Form Body",
              code: 50035,
              errors: {
                content: {
                  _errors: [{ code: "BASE_TYPE_MAX_LENGTH", message: "Must be 2000 or fewer in length." }],
                },
              },
            },
            limit.headers,
          );
        if (body.content === undefined && files.length === 0 && body.embeds === undefined)
          return reply(400, { message: "Cannot send an empty message", code: 50006 }, limit.headers);
        // Discord returns the first message for a repeated, enforced nonce instead of posting again.
        const nonce =
          body.enforce_nonce === true && body.nonce !== undefined
            ? `${channel[1]}/${String(body.nonce)}`
            : undefined;
        const earlier = nonce === undefined ? undefined : this.#nonces.get(nonce);
        if (earlier !== undefined) {
          call.status = 200;
          call.duplicate = true;
          return { status: 200, headers: limit.headers, body: earlier };
        }
        const created = this.#message(channel[1]!, body, false, files);
        if (nonce !== undefined) this.#nonces.set(nonce, created);
        return reply(200, created, limit.headers);
      }
    }
    return reply(404, { message: "404: Not Found", code: 0 });
  }

  #message(
    channelId: string,
    body: Record<string, unknown>,
    webhook: boolean,
    files: string[] = [],
  ): Record<string, unknown> {
    const message = this.#messageObject(
      channelId,
      { id: FAKE_BOT_ID, username: "openclaw", bot: true },
      String(body.content ?? ""),
      {
        reference: body.message_reference,
        embeds: body.embeds,
        attachments: files.map((filename, index) => ({
          id: String(index),
          filename,
          size: 0,
          url: `https://cdn.fake/${filename}`,
          proxy_url: `https://cdn.fake/${filename}`,
        })),
      },
    );
    message.components = body.components ?? [];
    if (webhook) message.webhook_id = FAKE_APPLICATION_ID;
    return message;
  }

  /** A message object as Discord serves it: in its channel (and guild), a reply when it references one. */
  #messageObject(
    channelId: string,
    author: FakeDiscordUser,
    content: string,
    extra: { reference?: unknown; embeds?: unknown; attachments?: unknown[] },
  ): Record<string, unknown> {
    const message: Record<string, unknown> = {
      id: this.#snowflake(),
      channel_id: channelId,
      author: { discriminator: "0", avatar: null, ...author },
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: extra.attachments ?? [],
      embeds: extra.embeds ?? [],
      pinned: false,
      type: extra.reference === undefined ? 0 : 19,
    };
    if (extra.reference !== undefined) message.message_reference = extra.reference;
    const guild = this.#channels.get(channelId)?.guild_id;
    if (guild !== undefined) message.guild_id = guild;
    return message;
  }

  /** Takes one request from a channel's message bucket; answers with Discord's headers. */
  #take(
    channelId: string,
  ):
    | { ok: true; headers: Record<string, string> }
    | { ok: false; headers: Record<string, string>; body: unknown } {
    const { limit, windowMs } = this.options.messageBucket;
    const now = Date.now();
    let bucket = this.#buckets.get(channelId);
    if (bucket === undefined || now >= bucket.resetAt) {
      bucket = { remaining: limit, resetAt: now + windowMs };
      this.#buckets.set(channelId, bucket);
    }
    const resetAfter = Math.max(0, bucket.resetAt - now) / 1000;
    const headers = (remaining: number) => ({
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-reset": (bucket!.resetAt / 1000).toFixed(3),
      "x-ratelimit-reset-after": resetAfter.toFixed(3),
      "x-ratelimit-bucket": `fake-messages-${channelId}`,
    });
    if (bucket.remaining <= 0)
      return {
        ok: false,
        headers: { ...headers(0), "retry-after": String(Math.ceil(resetAfter)), "x-ratelimit-scope": "user" },
        body: { message: "You are being rate limited.", retry_after: resetAfter, global: false },
      };
    bucket.remaining--;
    return { ok: true, headers: headers(bucket.remaining) };
  }

  #snowflake(): string {
    return String(this.#nextId++);
  }
}

/** Reads a REST body: JSON, or multipart with a `payload_json` part and `files[n]` parts. */
function readBody(request: RecordedRequest): { body: Record<string, unknown>; files: string[] } {
  const type = request.headers["content-type"] ?? "";
  if (!type.startsWith("multipart/form-data"))
    return { body: (request.json as Record<string, unknown> | undefined) ?? {}, files: [] };
  const boundary = /boundary=([^;]+)/i.exec(type)?.[1];
  let body: Record<string, unknown> = {};
  const files: string[] = [];
  if (boundary === undefined) return { body, files };
  for (const part of request.body.split(`--${boundary}`)) {
    const disposition = /name="([^"]+)"(?:;\s*filename="([^"]*)")?/i.exec(part);
    if (disposition === null) continue;
    if (disposition[2] !== undefined) files.push(disposition[2]);
    else if (disposition[1] === "payload_json") {
      const start = part.indexOf("\r\n\r\n");
      body = JSON.parse(part.slice(start + 4).replace(/\r\n$/, "")) as Record<string, unknown>;
    }
  }
  return { body, files };
}
