/**
 * @packageDocumentation
 * A loopback fake of Slack for testing apps and the gateway with Bolt, without Slack: the Web API
 * methods the plugin uses, a Socket Mode WebSocket with Slack's envelopes, acknowledgements and
 * redeliveries, and a signer for Events API requests. Needs vitest (it builds on
 * `@openclaw/channel-sdk/testing`).
 */
import { createHmac, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { WebhookRequest } from "@openclaw/channel-sdk";
import { FakePlatform, type FakeReply, type RecordedRequest } from "@openclaw/channel-sdk/testing";
import { type WebSocket, WebSocketServer } from "ws";

/** One Web API call the fake received, with its arguments (form fields, JSON values parsed). */
export interface SlackApiCall {
  method: string;
  args: Record<string, unknown>;
  /** The token from `Authorization: Bearer` (or the `token` argument). */
  token: string | undefined;
}

/** A Socket Mode envelope type. */
export type EnvelopeType = "events_api" | "slash_commands" | "interactive";

/** One envelope the fake sent over Socket Mode. */
export interface SentEnvelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
  retry_attempt: number;
  retry_reason: string;
}

/** An acknowledgement the app sent back. */
export interface ReceivedAck {
  envelope_id: string;
  payload?: unknown;
  /** Which delivery of the envelope it acknowledged (0 = the first). */
  attempt: number;
}

/** Options of {@link FakeSlack.start}. */
export interface FakeSlackOptions {
  /** The bot token (`xoxb-…`) the Web API accepts. @defaultValue {@link FAKE_SLACK_DEFAULTS}.botToken */
  botToken?: string;
  /** The app-level token (`xapp-…`) `apps.connections.open` accepts. @defaultValue {@link FAKE_SLACK_DEFAULTS}.appToken */
  appToken?: string;
  /** The signing secret Events API requests are signed with. @defaultValue {@link FAKE_SLACK_DEFAULTS}.signingSecret */
  signingSecret?: string;
  /** How long an envelope waits for its `{envelope_id}` ack before Slack redelivers it. @defaultValue 3000 */
  ackTimeoutMs?: number;
  /** Redeliveries of an unacknowledged envelope (Slack makes 3). @defaultValue 3 */
  maxRetries?: number;
  /** Interval of the WebSocket pings the fake sends (Slack pings its clients). @defaultValue 5000 */
  pingIntervalMs?: number;
}

/** Defaults of {@link FakeSlackOptions}. */
export const FAKE_SLACK_DEFAULTS = {
  botToken: "xoxb-1000000001-2000000002-FakeBotToken0123456789",
  appToken: "xapp-1-A0FAKEAPP-3000000003-fakeapptoken0123456789abcdef",
  signingSecret: "fake-signing-secret-0123456789abcdef",
  ackTimeoutMs: 3000,
  maxRetries: 3,
  pingIntervalMs: 5000,
} as const;

/** The fake workspace: its team, the bot, and the people and conversations in it. */
export const FAKE_SLACK_WORKSPACE = {
  teamId: "T0FAKE001",
  team: "OpenClaw Test",
  appId: "A0FAKEAPP",
  botUserId: "U0BOT0001",
  botId: "B0BOT0001",
  botName: "openclaw",
  users: {
    U0ANA0001: { name: "ana", real_name: "Ana Lima" },
    U0BEN0002: { name: "ben", real_name: "Ben Okafor" },
  },
  conversations: {
    C0GENERAL: { name: "general", is_channel: true, is_im: false },
    D0ANA0001: { name: "", is_channel: false, is_im: true, user: "U0ANA0001" },
  },
} as const;

interface PendingEnvelope {
  envelope: SentEnvelope;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Connection {
  socket: WebSocket;
  stalled: boolean;
  pinger: ReturnType<typeof setInterval>;
}

/**
 * A loopback fake of Slack, enough for Bolt and the plugin: Web API methods (`auth.test`,
 * `chat.postMessage`, `chat.update`, `chat.delete`, `conversations.info`, `users.info`,
 * `files.getUploadURLExternal`, the upload URL, `files.completeUploadExternal`,
 * `apps.connections.open`) with Slack's `{ok:false,error}` shape and 429s with `Retry-After`; a Socket
 * Mode WebSocket that says `hello`, pings, sends envelopes and redelivers those not acknowledged in
 * time with `retry_attempt`; `disconnect` with `refresh_requested`; and a stall switch. Every call,
 * envelope and ack is recorded.
 *
 * @example
 * ```ts
 * const slack = await FakeSlack.start();
 * // point the plugin at slack.apiUrl with slack.botToken and slack.appToken, then:
 * slack.injectMessage("hello");
 * await slack.close();
 * ```
 */
export class FakeSlack {
  /** Every Web API call, in order. */
  readonly calls: SlackApiCall[] = [];
  /** Every envelope sent over Socket Mode (redeliveries included), in order. */
  readonly envelopes: SentEnvelope[] = [];
  /** Every ack received, in order. */
  readonly acks: ReceivedAck[] = [];
  /** Bytes received at upload URLs, by file id. */
  readonly uploads = new Map<string, number>();
  /** What the app posted to `response_url`s of commands and clicks, in order. */
  readonly responses: Array<{ path: string; body: Record<string, unknown> }> = [];
  /** WebSocket connections opened so far. */
  connectionCount = 0;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly #options: Required<FakeSlackOptions>;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #pending = new Map<string, PendingEnvelope>();
  /** Envelopes waiting for a healthy connection. */
  readonly #queue: SentEnvelope[] = [];
  readonly #failures: Array<{ method: string | undefined; reply: FakeReply }> = [];
  #wsUrl = "";
  #nextTs = 1_764_000_000_000_100;
  #nextId = 1;
  #holdHello = false;
  #closed = false;

  private constructor(
    readonly platform: FakePlatform,
    wss: WebSocketServer,
    options: Required<FakeSlackOptions>,
  ) {
    this.#wss = wss;
    this.#options = options;
    this.botToken = options.botToken;
    this.appToken = options.appToken;
    this.signingSecret = options.signingSecret;
  }

  /**
   * Starts the fake on 127.0.0.1 (the Web API and the Socket Mode server on ephemeral ports).
   *
   * @param options - Tokens, secret and Socket Mode timings.
   * @returns The running fake.
   */
  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const full = { ...FAKE_SLACK_DEFAULTS, ...options };
    const platform = await FakePlatform.start();
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", () => resolve());
      wss.once("error", reject);
    });
    const fake = new FakeSlack(platform, wss, full);
    fake.#wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/link/`;
    wss.on("connection", (socket) => fake.#onConnection(socket));
    platform.route("POST /api/*", (request) => fake.#handleApi(request));
    platform.route("POST /upload/*", (request) => fake.#handleUpload(request));
    for (const prefix of ["/commands/", "/actions/"])
      platform.route(`POST ${prefix}*`, (request) => {
        fake.responses.push({ path: request.path, body: (request.json as Record<string, unknown>) ?? {} });
        return { body: { ok: true } };
      });
    return fake;
  }

  /** The Web API base URL to give Bolt as `slackApiUrl`, e.g. `http://127.0.0.1:40123/api/`. */
  get apiUrl(): string {
    return `${this.platform.url}/api/`;
  }

  /** Texts posted with `chat.postMessage`, in order. */
  sentTexts(): string[] {
    return this.calls.filter((c) => c.method === "chat.postMessage").map((c) => String(c.args.text ?? ""));
  }

  /** The arguments of every `chat.postMessage`, in order. */
  posted(): Array<Record<string, unknown>> {
    return this.calls.filter((c) => c.method === "chat.postMessage").map((c) => c.args);
  }

  /**
   * Makes the next Web API calls fail with these replies, in order.
   *
   * @param method - Only calls of this method (e.g. `chat.postMessage`); `undefined` for any.
   * @param replies - E.g. `{ status: 429, headers: { "retry-after": "2" }, body: { ok: false, error: "ratelimited" } }`.
   */
  failNext(method: string | undefined, ...replies: FakeReply[]): void {
    for (const reply of replies) this.#failures.push({ method, reply });
  }

  /**
   * Makes the next call of `method` answer 429 with `Retry-After`, as Slack's rate limiter does.
   *
   * @param method - The Web API method.
   * @param retryAfterSeconds - The `Retry-After` value.
   */
  rateLimitNext(method: string, retryAfterSeconds: number): void {
    this.failNext(method, {
      status: 429,
      headers: { "retry-after": String(retryAfterSeconds) },
      body: { ok: false, error: "ratelimited" },
    });
  }

  /** While true, new connections get no `hello` (a handshake that never completes). */
  set holdHello(value: boolean) {
    this.#holdHello = value;
  }

  /** Open Socket Mode connections. */
  get openConnections(): number {
    return [...this.#connections].filter((c) => c.socket.readyState === c.socket.OPEN).length;
  }

  /** Envelopes sent but not yet acknowledged. */
  get unacknowledged(): number {
    return this.#pending.size;
  }

  /**
   * A Slack user writes a message. Over Socket Mode it is delivered as an `events_api` envelope;
   * the returned body is also what the Events API would POST (sign it with {@link signedRequest}).
   *
   * @param text - The message text.
   * @param options - Channel, user, thread, files, channel type; `deliver: false` only builds it.
   * @returns The `event_callback` body.
   */
  injectMessage(
    text: string,
    options: {
      channel?: string;
      user?: string;
      threadTs?: string;
      channelType?: string;
      files?: Array<Record<string, unknown>>;
      subtype?: string;
      botId?: string;
      deliver?: boolean;
    } = {},
  ): Record<string, unknown> {
    const ts = this.nextTs();
    const event: Record<string, unknown> = {
      type: "message",
      channel: options.channel ?? "C0GENERAL",
      user: options.user ?? "U0ANA0001",
      text,
      ts,
      event_ts: ts,
      team: FAKE_SLACK_WORKSPACE.teamId,
      channel_type: options.channelType ?? (options.channel?.startsWith("D") ? "im" : "channel"),
      client_msg_id: randomUUID(),
    };
    if (options.threadTs !== undefined) event.thread_ts = options.threadTs;
    if (options.files !== undefined) {
      event.files = options.files;
      event.subtype = "file_share";
    }
    if (options.subtype !== undefined) event.subtype = options.subtype;
    if (options.botId !== undefined) {
      event.bot_id = options.botId;
      delete event.client_msg_id;
    }
    return this.injectEvent(event, options.deliver);
  }

  /**
   * Slack delivers any event (`app_mention`, `message` with a subtype, …) wrapped in an
   * `event_callback` with a fresh `event_id`.
   *
   * @param event - The inner event.
   * @param deliver - Send it over Socket Mode (default) or only build it.
   * @returns The `event_callback` body.
   */
  injectEvent(event: Record<string, unknown>, deliver = true): Record<string, unknown> {
    const body = {
      token: "verification-token-unused",
      team_id: FAKE_SLACK_WORKSPACE.teamId,
      api_app_id: FAKE_SLACK_WORKSPACE.appId,
      event,
      type: "event_callback",
      event_id: `Ev${String(this.#nextId++).padStart(9, "0")}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [
        {
          enterprise_id: null,
          team_id: FAKE_SLACK_WORKSPACE.teamId,
          user_id: FAKE_SLACK_WORKSPACE.botUserId,
          is_bot: true,
          is_enterprise_install: false,
        },
      ],
      is_ext_shared_channel: false,
    };
    if (deliver) this.deliver("events_api", body);
    return body;
  }

  /**
   * A user runs a slash command (form fields, as Slack sends them).
   *
   * @param command - E.g. `/ask`.
   * @param text - The text after the command.
   * @param deliver - Send it over Socket Mode (default) or only build it.
   * @returns The command's fields.
   */
  injectCommand(command: string, text: string, deliver = true): Record<string, string> {
    const body = {
      token: "verification-token-unused",
      team_id: FAKE_SLACK_WORKSPACE.teamId,
      team_domain: "openclaw-test",
      channel_id: "C0GENERAL",
      channel_name: "general",
      user_id: "U0ANA0001",
      user_name: "ana",
      command,
      text,
      api_app_id: FAKE_SLACK_WORKSPACE.appId,
      is_enterprise_install: "false",
      response_url: `${this.platform.url}/commands/${this.#nextId}`,
      trigger_id: `${this.#nextId++}.1000000001.fake0trigger`,
    };
    if (deliver) this.deliver("slash_commands", body);
    return body;
  }

  /**
   * A user clicks a button the bot posted (`block_actions`).
   *
   * @param value - The button's value.
   * @param options - The message the button is on; `deliver: false` only builds it.
   * @returns The interaction payload.
   */
  injectButtonClick(
    value: string,
    options: { messageTs?: string; threadTs?: string; deliver?: boolean } = {},
  ): Record<string, unknown> {
    const message: Record<string, unknown> = { type: "message", ts: options.messageTs ?? this.nextTs() };
    if (options.threadTs !== undefined) message.thread_ts = options.threadTs;
    const payload = {
      type: "block_actions",
      user: { id: "U0ANA0001", username: "ana", name: "ana", team_id: FAKE_SLACK_WORKSPACE.teamId },
      api_app_id: FAKE_SLACK_WORKSPACE.appId,
      token: "verification-token-unused",
      container: { type: "message", message_ts: message.ts, channel_id: "C0GENERAL", is_ephemeral: false },
      trigger_id: `${this.#nextId++}.1000000001.fake0trigger`,
      team: { id: FAKE_SLACK_WORKSPACE.teamId, domain: "openclaw-test" },
      channel: { id: "C0GENERAL", name: "general" },
      message,
      response_url: `${this.platform.url}/actions/${this.#nextId}`,
      actions: [
        {
          action_id: "oc_0_0",
          block_id: "oc_actions_0",
          text: { type: "plain_text", text: value },
          value,
          type: "button",
          action_ts: `${Date.now() / 1000}`,
        },
      ],
    };
    if (options.deliver !== false) this.deliver("interactive", payload);
    return payload;
  }

  /**
   * Sends an envelope over Socket Mode (to the newest healthy connection, or once one opens) and
   * redelivers it with `retry_attempt` + 1 when no ack comes within `ackTimeoutMs`, up to `maxRetries`.
   *
   * @param type - The envelope type.
   * @param payload - Its payload.
   * @returns The envelope.
   */
  deliver(type: EnvelopeType, payload: Record<string, unknown>): SentEnvelope {
    const envelope: SentEnvelope = {
      envelope_id: randomUUID(),
      type,
      payload,
      accepts_response_payload: type !== "events_api",
      retry_attempt: 0,
      retry_reason: "",
    };
    this.#send(envelope);
    return envelope;
  }

  /**
   * Slack asks the app to reconnect: sends `disconnect` with `refresh_requested` on every open
   * connection, then drops them.
   */
  requestRefresh(): void {
    for (const connection of this.#connections) {
      const socket = connection.socket;
      if (socket.readyState !== socket.OPEN) continue;
      socket.send(
        JSON.stringify({
          type: "disconnect",
          reason: "refresh_requested",
          debug_info: { host: "applink-fake" },
        }),
      );
      setTimeout(() => socket.terminate(), 100).unref();
    }
  }

  /**
   * The open connections go silent: no pings, no envelopes, while the sockets stay open (and still
   * answer the client's pings). New connections are healthy; envelopes wait for one.
   */
  stall(): void {
    for (const connection of this.#connections) {
      connection.stalled = true;
      clearInterval(connection.pinger);
    }
  }

  /**
   * Signs an Events API request as Slack does (`v0` HMAC-SHA256 over `v0:<timestamp>:<body>`).
   *
   * @param body - An object (sent as JSON), or form fields (`form: true`; interactivity puts its JSON in `payload`).
   * @param options - Timestamp (Unix seconds), another secret, a retry number, form encoding.
   * @returns The request as the gateway hands it to the plugin.
   */
  signedRequest(
    body: Record<string, unknown>,
    options: {
      timestamp?: number;
      secret?: string;
      retryNum?: number;
      form?: boolean;
      signature?: string;
    } = {},
  ): WebhookRequest {
    const text = options.form
      ? new URLSearchParams(
          Object.entries(body).map(([k, value]) => [
            k,
            typeof value === "string" ? value : JSON.stringify(value),
          ]),
        ).toString()
      : JSON.stringify(body);
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const signature =
      options.signature ??
      `v0=${createHmac("sha256", options.secret ?? this.signingSecret)
        .update(`v0:${timestamp}:${text}`)
        .digest("hex")}`;
    const headers: Record<string, string> = {
      "content-type": options.form ? "application/x-www-form-urlencoded" : "application/json",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": signature,
    };
    if (options.retryNum !== undefined) {
      headers["x-slack-retry-num"] = String(options.retryNum);
      headers["x-slack-retry-reason"] = "http_timeout";
    }
    return { method: "POST", path: "/", headers, query: {}, body: new TextEncoder().encode(text) };
  }

  /** A fresh message timestamp (`seconds.micros`), increasing. */
  nextTs(): string {
    const value = this.#nextTs++;
    return `${Math.floor(value / 1_000_000)}.${String(value % 1_000_000).padStart(6, "0")}`;
  }

  /** Stops both servers and every timer. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
    for (const connection of this.#connections) {
      clearInterval(connection.pinger);
      connection.socket.terminate();
    }
    this.#connections.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.platform.close();
  }

  #onConnection(socket: WebSocket): void {
    this.connectionCount++;
    const connection: Connection = {
      socket,
      stalled: false,
      pinger: setInterval(() => {
        if (socket.readyState === socket.OPEN) socket.ping();
      }, this.#options.pingIntervalMs),
    };
    connection.pinger.unref();
    this.#connections.add(connection);
    socket.on("close", () => {
      clearInterval(connection.pinger);
      this.#connections.delete(connection);
    });
    socket.on("error", () => {});
    socket.on("message", (data) => {
      let ack: { envelope_id?: unknown; payload?: unknown };
      try {
        ack = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (typeof ack.envelope_id !== "string") return;
      const pending = this.#pending.get(ack.envelope_id);
      this.acks.push({
        envelope_id: ack.envelope_id,
        ...(ack.payload === undefined ? {} : { payload: ack.payload }),
        attempt: pending?.envelope.retry_attempt ?? -1,
      });
      if (pending !== undefined) {
        clearTimeout(pending.timer);
        this.#pending.delete(ack.envelope_id);
      }
    });
    if (this.#holdHello) return;
    socket.send(
      JSON.stringify({
        type: "hello",
        num_connections: this.#connections.size,
        debug_info: { host: "applink-fake", approximate_connection_time: 18060 },
        connection_info: { app_id: FAKE_SLACK_WORKSPACE.appId },
      }),
    );
    const queued = this.#queue.splice(0);
    for (const envelope of queued) this.#send(envelope);
  }

  #send(envelope: SentEnvelope): void {
    if (this.#closed) return;
    const connection = [...this.#connections]
      .reverse()
      .find((c) => !c.stalled && c.socket.readyState === c.socket.OPEN);
    if (connection === undefined) {
      this.#queue.push(envelope);
      return;
    }
    this.envelopes.push(envelope);
    connection.socket.send(JSON.stringify(envelope));
    const pending: PendingEnvelope = { envelope, timer: undefined };
    this.#pending.set(envelope.envelope_id, pending);
    pending.timer = setTimeout(() => {
      this.#pending.delete(envelope.envelope_id);
      if (envelope.retry_attempt >= this.#options.maxRetries) return;
      this.#send({ ...envelope, retry_attempt: envelope.retry_attempt + 1, retry_reason: "timeout" });
    }, this.#options.ackTimeoutMs);
    pending.timer.unref();
  }

  #handleUpload(request: RecordedRequest): FakeReply {
    const fileId = request.path.slice("/upload/".length);
    this.uploads.set(fileId, Buffer.byteLength(request.body));
    return { status: 200, body: `OK - ${Buffer.byteLength(request.body)}` };
  }

  #handleApi(request: RecordedRequest): FakeReply {
    const method = request.path.slice("/api/".length);
    const args = parseArgs(request);
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : (args.token as string | undefined);
    this.calls.push({ method, args, token });
    const failure = this.#failures.findIndex((f) => f.method === undefined || f.method === method);
    if (failure !== -1) return this.#failures.splice(failure, 1)[0]!.reply;
    const ok = (body: Record<string, unknown> = {}): FakeReply => ({ body: { ok: true, ...body } });
    const error = (code: string): FakeReply => ({ body: { ok: false, error: code } });
    if (method === "apps.connections.open") {
      if (token === undefined) return error("not_authed");
      if (token !== this.appToken) return error("invalid_auth");
      return ok({ url: `${this.#wsUrl}?ticket=${randomUUID()}&app_id=${FAKE_SLACK_WORKSPACE.appId}` });
    }
    if (token === undefined) return error("not_authed");
    if (token !== this.botToken) return error("invalid_auth");
    const W = FAKE_SLACK_WORKSPACE;
    const conversations = W.conversations as Record<string, { name: string; is_im: boolean; user?: string }>;
    const users = W.users as Record<string, { name: string; real_name: string }>;
    const channelOf = (id: unknown): string | undefined => {
      if (typeof id !== "string") return undefined;
      if (conversations[id] !== undefined) return id;
      // A user id opens (or reuses) the DM with that user.
      if (users[id] !== undefined)
        return Object.entries(conversations).find(([, c]) => c.user === id)?.[0] ?? `D${id.slice(1)}`;
      return undefined;
    };
    switch (method) {
      case "auth.test":
        return ok({
          url: "https://openclaw-test.slack.com/",
          team: W.team,
          user: W.botName,
          team_id: W.teamId,
          user_id: W.botUserId,
          bot_id: W.botId,
          is_enterprise_install: false,
        });
      case "chat.postMessage": {
        const channel = channelOf(args.channel);
        if (channel === undefined) return error("channel_not_found");
        const blocks = args.blocks as unknown[] | undefined;
        if ((typeof args.text !== "string" || args.text === "") && (blocks?.length ?? 0) === 0)
          return error("no_text");
        if (typeof args.text === "string" && args.text.length > 40_000) return error("msg_too_long");
        if (blocks !== undefined && !validBlocks(blocks)) return error("invalid_blocks");
        const ts = this.nextTs();
        const message: Record<string, unknown> = {
          type: "message",
          user: W.botUserId,
          bot_id: W.botId,
          text: args.text ?? "",
          ts,
        };
        if (args.thread_ts !== undefined) message.thread_ts = args.thread_ts;
        if (blocks !== undefined) message.blocks = blocks;
        return ok({ channel, ts, message });
      }
      case "chat.update":
      case "chat.delete": {
        const channel = channelOf(args.channel);
        if (channel === undefined) return error("channel_not_found");
        if (typeof args.ts !== "string") return error("message_not_found");
        return ok(
          method === "chat.update" ? { channel, ts: args.ts, text: args.text } : { channel, ts: args.ts },
        );
      }
      case "conversations.info": {
        const id = String(args.channel ?? "");
        const c = conversations[id];
        if (c === undefined) return error("channel_not_found");
        return ok({ channel: { id, ...c } });
      }
      case "users.info": {
        const id = String(args.user ?? "");
        const u = users[id];
        if (u === undefined) return error("user_not_found");
        return ok({
          user: {
            id,
            team_id: W.teamId,
            name: u.name,
            real_name: u.real_name,
            is_bot: false,
            profile: { real_name: u.real_name, display_name: u.name },
          },
        });
      }
      case "files.getUploadURLExternal": {
        if (typeof args.filename !== "string" || args.filename === "") return error("invalid_arguments");
        if (!(Number(args.length) > 0)) return error("invalid_arguments");
        const fileId = `F${String(this.#nextId++).padStart(9, "0")}`;
        return ok({ upload_url: `${this.platform.url}/upload/${fileId}`, file_id: fileId });
      }
      case "files.completeUploadExternal": {
        const files = args.files as Array<{ id: string; title?: string }> | undefined;
        if (!Array.isArray(files) || files.length === 0) return error("invalid_arguments");
        if (files.some((f) => !this.uploads.has(f.id))) return error("file_not_found");
        if (args.channel_id !== undefined && channelOf(args.channel_id) === undefined)
          return error("channel_not_found");
        return ok({ files: files.map((f) => ({ id: f.id, title: f.title ?? "" })) });
      }
      default:
        return error("unknown_method");
    }
  }
}

/** Reads Web API arguments: form fields (JSON values such as `blocks` parsed) or a JSON body. */
function parseArgs(request: RecordedRequest): Record<string, unknown> {
  const type = request.headers["content-type"] ?? "";
  if (type.startsWith("application/json")) return (request.json as Record<string, unknown>) ?? {};
  if (type.startsWith("multipart/form-data")) return {};
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(request.body)) {
    if (/^[[{]/.test(value)) {
      try {
        args[key] = JSON.parse(value);
        continue;
      } catch {}
    }
    args[key] = value;
  }
  return args;
}

/** Slack's block rules the plugin relies on: known types, text limits, at most 50 blocks. */
function validBlocks(blocks: unknown[]): boolean {
  if (blocks.length > 50) return false;
  return blocks.every((block) => {
    const b = block as { type?: string; text?: unknown; elements?: unknown[]; image_url?: unknown };
    switch (b.type) {
      case "markdown":
        return typeof b.text === "string" && b.text.length <= 12_000;
      case "section": {
        const text = (b.text as { text?: unknown } | undefined)?.text;
        return typeof text === "string" && text.length <= 3000;
      }
      case "actions":
        return Array.isArray(b.elements) && b.elements.length > 0 && b.elements.length <= 25;
      case "image":
        return typeof b.image_url === "string";
      default:
        return false;
    }
  });
}
