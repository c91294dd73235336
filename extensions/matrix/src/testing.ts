/**
 * @packageDocumentation
 * A loopback fake Matrix homeserver for testing bots and the gateway with matrix-js-sdk, without a
 * homeserver. Needs vitest (it builds on `@openclaw/channel-sdk/testing`).
 */
import type { IncomingMessage } from "node:http";
import { FakePlatform, type FakeReply, type RecordedRequest } from "@openclaw/channel-sdk/testing";

/** The fake's server name. */
export const FAKE_SERVER = "fake.local";
/** The bot's user id. */
export const FAKE_BOT_USER = `@openclaw:${FAKE_SERVER}`;
/** The user who writes to the bot. */
export const FAKE_USER = `@ana:${FAKE_SERVER}`;
/** A room the bot and {@link FAKE_USER} are in. */
export const FAKE_ROOM = `!general:${FAKE_SERVER}`;

/** A client-server API event, as the homeserver stores and serves it. */
export interface MatrixEvent {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
  state_key?: string;
  unsigned?: Record<string, unknown>;
}

/** One event a client sent with `PUT /rooms/{roomId}/send/{type}/{txnId}`. */
export interface SentEvent {
  roomId: string;
  type: string;
  txnId: string;
  content: Record<string, unknown>;
  eventId: string;
}

/** Options of {@link FakeMatrix.start}. */
export interface FakeMatrixOptions {
  /** The bot's access token. */
  accessToken: string;
  /** The bot's password, for `m.login.password`. @defaultValue `"correct horse battery staple"` */
  password?: string;
}

interface Room {
  id: string;
  members: Map<string, "join" | "invite" | "leave">;
  /** Stream position → event. */
  events: Array<{ pos: number; event: MatrixEvent }>;
}

interface HeldSync {
  release: () => void;
}

/**
 * A loopback fake Matrix homeserver, enough for matrix-js-sdk: `/versions`, `m.login.password`,
 * `whoami`, capabilities, filters, push rules, `/sync` long polling with `since` tokens (held until an
 * event arrives or `timeout` passes), room sends (idempotent per transaction id), joins of invited
 * rooms, media uploads and alias lookups. It checks access tokens, answers the spec's error shapes
 * (`M_UNKNOWN_TOKEN`, `M_FORBIDDEN`, `M_LIMIT_EXCEEDED` with `retry_after_ms`, …) and records every
 * request. There is no federation and no end-to-end encryption.
 */
export class FakeMatrix {
  /** Events clients sent, in order. */
  readonly sent: SentEvent[] = [];
  /** `/sync` requests: their `since` token (undefined for an initial sync). */
  readonly syncs: Array<{ since: string | undefined; timeout: number }> = [];
  /** When true, `/sync` requests are held and never answered (a stalled long poll). */
  stallSyncs = false;
  /** When set, every room send fails with this reply (until cleared). */
  failAllSends: FakeReply | undefined;
  /** When true, every connection is cut before an answer, as when the homeserver is unreachable. */
  unreachable = false;
  readonly #rooms = new Map<string, Room>();
  readonly #held = new Set<HeldSync>();
  readonly #txns = new Map<string, string>();
  readonly #sendFailures: FakeReply[] = [];
  readonly #tokens = new Set<string>();
  readonly #aliases = new Map<string, string>([[`#general:${FAKE_SERVER}`, FAKE_ROOM]]);
  #pos = 0;
  #nextEvent = 1;
  #nextMedia = 1;

  private constructor(
    readonly platform: FakePlatform,
    readonly options: Required<FakeMatrixOptions>,
  ) {
    this.#tokens.add(options.accessToken);
    const room: Room = { id: FAKE_ROOM, members: new Map(), events: [] };
    this.#rooms.set(FAKE_ROOM, room);
    this.#append(room, {
      type: "m.room.create",
      sender: FAKE_USER,
      state_key: "",
      content: { creator: FAKE_USER, room_version: "10" },
    });
    this.#append(room, {
      type: "m.room.name",
      sender: FAKE_USER,
      state_key: "",
      content: { name: "General" },
    });
    for (const user of [FAKE_USER, FAKE_BOT_USER]) this.#member(room, user, "join", user);
  }

  /**
   * Starts the fake homeserver on 127.0.0.1 (an ephemeral port).
   *
   * @param options - The bot's access token and password.
   * @returns The running fake.
   */
  static async start(options: FakeMatrixOptions): Promise<FakeMatrix> {
    const platform = await FakePlatform.start();
    const fake = new FakeMatrix(platform, { password: "correct horse battery staple", ...options });
    for (const method of ["GET", "POST", "PUT", "DELETE"])
      platform.route(`${method} /_matrix/*`, (request, raw) => fake.#handle(request, raw));
    return fake;
  }

  /** The homeserver's base URL. */
  get baseUrl(): string {
    return this.platform.url;
  }

  /** Texts (`body`) of the `m.room.message` events clients sent, in order. */
  sentTexts(): string[] {
    return this.sent.filter((e) => e.type === "m.room.message").map((e) => String(e.content.body ?? ""));
  }

  /** Makes the next room sends fail with these replies. */
  failNextSend(...replies: FakeReply[]): void {
    this.#sendFailures.push(...replies);
  }

  /** Revokes an access token: requests with it get `M_UNKNOWN_TOKEN`. */
  revoke(token: string): void {
    this.#tokens.delete(token);
  }

  /**
   * A user writes in a room: the event is delivered to a waiting `/sync`, or the next one.
   *
   * @param text - The message's body.
   * @param options.room - Defaults to {@link FAKE_ROOM}.
   * @param options.sender - Defaults to {@link FAKE_USER}.
   * @param options.content - Extra content fields (`m.relates_to`, `msgtype`, …).
   * @returns The event.
   */
  inject(
    text: string,
    options: { room?: string; sender?: string; content?: Record<string, unknown>; type?: string } = {},
  ): MatrixEvent {
    const room = this.#rooms.get(options.room ?? FAKE_ROOM);
    if (room === undefined) throw new Error(`no room ${options.room}`);
    return this.#append(room, {
      type: options.type ?? "m.room.message",
      sender: options.sender ?? FAKE_USER,
      content: { msgtype: "m.text", body: text, ...options.content },
    });
  }

  /**
   * Someone invites the bot to a new room.
   *
   * @param roomId - The new room's id.
   * @param inviter - Who invites.
   */
  invite(roomId: string, inviter = FAKE_USER): void {
    const room: Room = { id: roomId, members: new Map(), events: [] };
    this.#rooms.set(roomId, room);
    this.#append(room, {
      type: "m.room.create",
      sender: inviter,
      state_key: "",
      content: { creator: inviter, room_version: "10" },
    });
    this.#member(room, inviter, "join", inviter);
    this.#member(room, FAKE_BOT_USER, "invite", inviter);
  }

  /** The bot's membership in a room. */
  membership(roomId: string): string | undefined {
    return this.#rooms.get(roomId)?.members.get(FAKE_BOT_USER);
  }

  async close(): Promise<void> {
    for (const held of this.#held) held.release();
    await this.platform.close();
  }

  #append(room: Room, partial: Omit<MatrixEvent, "event_id" | "room_id" | "origin_server_ts">): MatrixEvent {
    const event: MatrixEvent = {
      event_id: `$event${this.#nextEvent++}`,
      room_id: room.id,
      origin_server_ts: Date.now(),
      ...partial,
    };
    room.events.push({ pos: ++this.#pos, event });
    for (const held of this.#held) held.release();
    return event;
  }

  #member(room: Room, user: string, membership: "join" | "invite" | "leave", sender: string): void {
    room.members.set(user, membership);
    this.#append(room, {
      type: "m.room.member",
      sender,
      state_key: user,
      content: { membership, displayname: user.slice(1).split(":")[0] },
    });
  }

  async #handle(request: RecordedRequest, raw: IncomingMessage): Promise<FakeReply> {
    if (this.unreachable) {
      raw.socket.destroy();
      return undefined;
    }
    const path = request.path.replace(/^\/_matrix\/client\/(?:v3|r0)/, "/client");
    if (request.method === "GET" && request.path === "/_matrix/client/versions")
      return { body: { versions: ["v1.1", "v1.5", "v1.9", "v1.11"], unstable_features: {} } };
    if (request.method === "POST" && path === "/client/login") return this.#login(request);
    if (request.method === "GET" && path === "/client/login")
      return { body: { flows: [{ type: "m.login.password" }] } };
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : request.query.access_token;
    if (token === undefined || token === "") return error(401, "M_MISSING_TOKEN", "Missing access token");
    if (!this.#tokens.has(token))
      return {
        status: 401,
        body: { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false },
      };
    const segments = path.split("/").map(decodeURIComponent);
    if (request.method === "GET" && path === "/client/account/whoami")
      return { body: { user_id: FAKE_BOT_USER, device_id: "FAKEDEVICE", is_guest: false } };
    if (request.method === "GET" && path === "/client/capabilities")
      return {
        body: {
          capabilities: {
            "m.change_password": { enabled: false },
            "m.room_versions": { default: "10", available: { "10": "stable" } },
          },
        },
      };
    if (request.method === "GET" && path === "/client/pushrules/")
      return { body: { global: { override: [], content: [], room: [], sender: [], underride: [] } } };
    if (request.method === "POST" && /^\/client\/user\/[^/]+\/filter$/.test(path))
      return { body: { filter_id: "1" } };
    if (request.method === "GET" && /^\/client\/user\/[^/]+\/filter\/[^/]+$/.test(path)) return { body: {} };
    if (request.method === "GET" && path === "/client/sync") return this.#sync(request, raw);
    if (request.method === "PUT" && segments[2] === "rooms" && segments[4] === "send")
      return this.#send(segments[3]!, segments[5]!, segments[6]!, request);
    if (
      request.method === "POST" &&
      (segments[2] === "join" || (segments[2] === "rooms" && segments[4] === "join"))
    )
      return this.#join(segments[3]!);
    if (request.method === "GET" && segments[2] === "directory" && segments[3] === "room") {
      const room = this.#aliases.get(segments[4]!);
      return room === undefined
        ? error(404, "M_NOT_FOUND", `Room alias ${segments[4]} not found`)
        : { body: { room_id: room, servers: [FAKE_SERVER] } };
    }
    if (request.method === "POST" && request.path === "/_matrix/media/v3/upload")
      return { body: { content_uri: `mxc://${FAKE_SERVER}/media${this.#nextMedia++}` } };
    return error(404, "M_UNRECOGNIZED", "Unrecognized request");
  }

  #login(request: RecordedRequest): FakeReply {
    const body = (request.json ?? {}) as {
      type?: string;
      identifier?: { type?: string; user?: string };
      user?: string;
      password?: string;
    };
    const user = body.identifier?.user ?? body.user;
    if (body.type !== "m.login.password") return error(400, "M_UNKNOWN", "Unknown login type");
    if ((user !== FAKE_BOT_USER && user !== "openclaw") || body.password !== this.options.password)
      return error(403, "M_FORBIDDEN", "Invalid username or password");
    return {
      body: {
        user_id: FAKE_BOT_USER,
        access_token: this.options.accessToken,
        device_id: "FAKEDEVICE",
        home_server: FAKE_SERVER,
      },
    };
  }

  async #sync(request: RecordedRequest, raw: IncomingMessage): Promise<FakeReply> {
    const since = request.query.since;
    const timeout = Number(request.query.timeout ?? 0);
    this.syncs.push({ since, timeout });
    const from = since === undefined ? 0 : Number(since.replace(/^s/, ""));
    if (Number.isNaN(from)) return error(400, "M_INVALID_PARAM", "Invalid since token");
    if (this.stallSyncs) {
      await new Promise<void>((resolve) => {
        const held: HeldSync = {
          release: () => {
            this.#held.delete(held);
            resolve();
          },
        };
        this.#held.add(held);
        raw.socket?.once("close", held.release);
      });
      return { status: 504, body: error(504, "M_UNKNOWN", "stalled").body };
    }
    if (since !== undefined && this.#pos <= from && timeout > 0) {
      await new Promise<void>((resolve) => {
        const held: HeldSync = {
          release: () => {
            clearTimeout(timer);
            this.#held.delete(held);
            resolve();
          },
        };
        const timer = setTimeout(held.release, timeout);
        this.#held.add(held);
        raw.socket?.once("close", held.release);
      });
    }
    const join: Record<string, unknown> = {};
    const invite: Record<string, unknown> = {};
    for (const room of this.#rooms.values()) {
      const membership = room.members.get(FAKE_BOT_USER);
      const fresh = room.events.filter((e) => e.pos > from).map((e) => e.event);
      if (membership === "join" && fresh.length > 0) {
        const initial = since === undefined;
        // A room the bot just joined comes with its state so far, as from a real homeserver.
        const joinedNow = fresh.some(
          (e) =>
            e.type === "m.room.member" && e.state_key === FAKE_BOT_USER && e.content.membership === "join",
        );
        const earlier = room.events.filter((e) => e.pos <= from).map((e) => e.event);
        join[room.id] = {
          state: {
            events: initial
              ? fresh.filter((e) => e.state_key !== undefined)
              : joinedNow
                ? earlier.filter((e) => e.state_key !== undefined)
                : [],
          },
          timeline: {
            events: initial ? fresh.filter((e) => e.state_key === undefined) : fresh,
            limited: false,
            prev_batch: `p${from}`,
          },
          ephemeral: { events: [] },
          account_data: { events: [] },
          unread_notifications: { highlight_count: 0, notification_count: 0 },
          summary: {},
        };
      } else if (membership === "invite" && fresh.length > 0) {
        invite[room.id] = {
          invite_state: {
            events: room.events
              .map((e) => e.event)
              .filter((e) => e.state_key !== undefined)
              .map(({ type, sender, state_key, content }) => ({ type, sender, state_key, content })),
          },
        };
      }
    }
    return {
      body: {
        next_batch: `s${this.#pos}`,
        rooms: { join, invite, leave: {} },
        presence: { events: [] },
        account_data: { events: [] },
        to_device: { events: [] },
        device_lists: { changed: [], left: [] },
        device_one_time_keys_count: {},
      },
    };
  }

  #send(roomId: string, type: string, txnId: string, request: RecordedRequest): FakeReply {
    const room = this.#rooms.get(roomId);
    if (room === undefined || room.members.get(FAKE_BOT_USER) !== "join")
      return error(403, "M_FORBIDDEN", `User ${FAKE_BOT_USER} not in room ${roomId}`);
    const key = `${roomId}/${txnId}`;
    const seen = this.#txns.get(key);
    // A repeated transaction id is the same send: the spec makes it idempotent.
    if (seen !== undefined) return { body: { event_id: seen } };
    const failure = this.#sendFailures.shift() ?? this.failAllSends;
    if (failure !== undefined) return failure;
    const content = (request.json ?? {}) as Record<string, unknown>;
    const event = this.#append(room, {
      type,
      sender: FAKE_BOT_USER,
      content,
      unsigned: { transaction_id: txnId },
    });
    this.#txns.set(key, event.event_id);
    this.sent.push({ roomId, type, txnId, content, eventId: event.event_id });
    return { body: { event_id: event.event_id } };
  }

  #join(roomIdOrAlias: string): FakeReply {
    const roomId = this.#aliases.get(roomIdOrAlias) ?? roomIdOrAlias;
    const room = this.#rooms.get(roomId);
    const membership = room?.members.get(FAKE_BOT_USER);
    if (room === undefined || membership === undefined || membership === "leave")
      return error(403, "M_FORBIDDEN", "You are not invited to this room.");
    if (membership === "invite") this.#member(room, FAKE_BOT_USER, "join", FAKE_BOT_USER);
    return { body: { room_id: roomId } };
  }
}

/** The spec's error shape. */
function error(
  status: number,
  errcode: string,
  message: string,
): { status: number; body: Record<string, unknown> } {
  return { status, body: { errcode, error: message } };
}
