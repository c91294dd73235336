/**
 * @packageDocumentation
 * A loopback fake of the parts of Microsoft Teams / Bot Framework the plugin talks to, for tests:
 * Bot Framework's OpenID metadata and JWKS (a generated RSA key), Entra ID's client-credentials
 * token endpoint, and the Bot Connector (`/v3/conversations…`: create, reply, update, delete),
 * recording everything; plus the Bot Connector's side of inbound traffic, signing activities as it
 * does. Needs vitest only through `@openclaw/channel-sdk/testing`.
 */

import { randomBytes } from "node:crypto";
import type { WebhookRequest } from "@openclaw/channel-sdk";
import {
  FakePlatform,
  type FakeReply,
  type RecordedRequest,
  webhookRequest,
} from "@openclaw/channel-sdk/testing";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";

/** The app id the fake expects unless told otherwise. */
export const FAKE_TEAMS_APP_ID = "a1b2c3d4-0000-4000-8000-0000000b07a1";
/** The client secret the fake expects unless told otherwise. */
export const FAKE_TEAMS_APP_PASSWORD = "fake~client~secret~0123456789";
/** The fake's tenant. */
export const FAKE_TEAMS_TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe";
/** The fake team (its General channel's id, as Teams names teams in `channelData.team.id`). */
export const FAKE_TEAMS_TEAM_ID = "19:fake-team-general@thread.tacv2";
/** The fake team's channel. */
export const FAKE_TEAMS_CHANNEL_ID = "19:fake-channel-0001@thread.tacv2";
/** The fake group chat. */
export const FAKE_TEAMS_GROUP_CHAT_ID = "19:fake-group-chat-0001@thread.v2";

/** A Teams user of the fake. */
export interface FakeTeamsUser {
  /** `29:…` */
  id: string;
  name: string;
  aadObjectId: string;
}

/** The user who speaks unless told otherwise. */
export const FAKE_TEAMS_USER: FakeTeamsUser = Object.freeze({
  id: "29:1fake-user-ana-0001",
  name: "Ana Example",
  aadObjectId: "6e1f3c52-0000-4000-8000-0000000000a1",
});

/** What the bot posted to the fake Bot Connector. */
export interface FakeTeamsPost {
  /**
   * `create` (POST …/activities), `reply` (POST …/activities/{id}), `update` (PUT), `delete`
   * (DELETE), `conversation` (POST /v3/conversations: a new 1:1 chat; `id` is its id).
   */
  kind: "create" | "reply" | "update" | "delete" | "conversation";
  /** The conversation id from the path, decoded (may carry `;messageid=`). */
  conversationId: string;
  /** The activity id from the path (`reply`: the one replied to; `update`/`delete`: the target). */
  activityId?: string;
  /** The id the fake gave the new activity (`create`/`reply`). */
  id?: string;
  /** The activity as received. */
  activity: Record<string, unknown>;
}

/** What a fake inbound activity looks like. */
export interface FakeActivityInput {
  text?: string;
  /** Where it is said. @defaultValue "personal" */
  conversationType?: "personal" | "groupChat" | "channel";
  /** Overrides the conversation id (without `;messageid=`). */
  conversationId?: string;
  from?: FakeTeamsUser;
  /** Puts an `<at>` mention of the bot in front of the text (as Teams does in channels). */
  mentionBot?: boolean;
  /** Channel only: the root message of the thread this message replies in. */
  threadRoot?: string;
  replyToId?: string;
  attachments?: Array<Record<string, unknown>>;
  value?: unknown;
  /** The activity type. @defaultValue "message" */
  type?: string;
  /** The activity id. @defaultValue a new numeric id */
  id?: string;
}

/** Claims and key of a signed inbound request, to forge bad ones. */
export interface FakeTokenOptions {
  audience?: string;
  issuer?: string;
  /** Expiry, seconds since the epoch. */
  expiresAt?: number;
  /** The `serviceurl` claim; `null` leaves it out. @defaultValue the activity's serviceUrl */
  serviceUrl?: string | null;
  /** Sign with a key that is not in the JWKS. */
  foreignKey?: boolean;
  /** Leave the Authorization header out. */
  unsigned?: boolean;
}

interface FakeConversation {
  id: string;
  type: "personal" | "groupChat" | "channel";
  members: Set<string>;
}

/**
 * The fake: start it, point the plugin's `openIdMetadataUrl` and `tokenUrl` at it (see
 * {@link FakeTeams.config}), make activities with {@link FakeTeams.activity} and hand them to the
 * plugin with {@link FakeTeams.webhookRequest} (or POST them with {@link FakeTeams.deliver}); read
 * what the bot posted in {@link FakeTeams.posts}.
 *
 * @example
 * ```ts
 * const teams = await FakeTeams.start();
 * const activity = teams.activity({ text: "hi" });
 * await plugin.handleWebhook!(await teams.webhookRequest(activity));
 * await plugin.send(activity.conversation.id, { text: "hello" });
 * expect(teams.posts.at(-1)?.activity.text).toBe("hello");
 * ```
 */
export class FakeTeams {
  /** The underlying loopback server; `platform.requests` holds every request. */
  readonly platform: FakePlatform;
  readonly appId: string;
  readonly appPassword: string;
  readonly tenantId: string;
  /** Everything the bot posted to the Bot Connector, in order. */
  readonly posts: FakeTeamsPost[] = [];
  /** Access tokens the token endpoint issued. */
  readonly issuedTokens: string[] = [];
  readonly #conversations = new Map<string, FakeConversation>();
  readonly #users = new Map<string, FakeTeamsUser>();
  readonly #signer: CryptoKey;
  readonly #stranger: CryptoKey;
  readonly #kid = `fake-key-${randomBytes(4).toString("hex")}`;
  #nextId = 1_700_000_000_000;

  private constructor(
    platform: FakePlatform,
    keys: { signer: CryptoKey; stranger: CryptoKey },
    options: { appId: string; appPassword: string; tenantId: string },
  ) {
    this.platform = platform;
    this.#signer = keys.signer;
    this.#stranger = keys.stranger;
    this.appId = options.appId;
    this.appPassword = options.appPassword;
    this.tenantId = options.tenantId;
    this.#users.set(FAKE_TEAMS_USER.id, FAKE_TEAMS_USER);
  }

  /**
   * Starts the fake on 127.0.0.1 and an ephemeral port.
   *
   * @param options - The app's credentials and tenant the fake accepts.
   * @returns The running fake.
   */
  static async start(
    options: { appId?: string; appPassword?: string; tenantId?: string } = {},
  ): Promise<FakeTeams> {
    const pair = await generateKeyPair("RS256", { extractable: true });
    const stranger = (await generateKeyPair("RS256")).privateKey;
    const platform = await FakePlatform.start();
    const fake = new FakeTeams(
      platform,
      { signer: pair.privateKey, stranger },
      {
        appId: options.appId ?? FAKE_TEAMS_APP_ID,
        appPassword: options.appPassword ?? FAKE_TEAMS_APP_PASSWORD,
        tenantId: options.tenantId ?? FAKE_TEAMS_TENANT_ID,
      },
    );
    const jwk = {
      ...(await exportJWK(pair.publicKey)),
      kid: fake.#kid,
      use: "sig",
      alg: "RS256",
      endorsements: ["msteams"],
    };
    fake.#routes(jwk);
    return fake;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    return this.platform.url;
  }

  /** The Bot Connector's service URL as activities carry it (with a trailing slash, like Teams'). */
  get serviceUrl(): string {
    return `${this.platform.url}/teams/`;
  }

  /** Bot Framework's OpenID metadata document. */
  get openIdMetadataUrl(): string {
    return `${this.platform.url}/v1/.well-known/openidconfiguration`;
  }

  /** The client-credentials token endpoint. */
  get tokenUrl(): string {
    return `${this.platform.url}/${this.tenantId}/oauth2/v2.0/token`;
  }

  /** The bot's account id in Teams. */
  get botId(): string {
    return `28:${this.appId}`;
  }

  /**
   * Plugin settings pointing at this fake.
   *
   * @param extra - More settings (e.g. `stateDir`).
   * @returns `appId`, `appPassword`, `tenantId`, `tokenUrl`, `openIdMetadataUrl` and `extra`.
   */
  config<E extends Record<string, unknown>>(
    extra?: E,
  ): {
    appId: string;
    appPassword: string;
    tenantId: string;
    tokenUrl: string;
    openIdMetadataUrl: string;
  } & E {
    return {
      appId: this.appId,
      appPassword: this.appPassword,
      tenantId: this.tenantId,
      tokenUrl: this.tokenUrl,
      openIdMetadataUrl: this.openIdMetadataUrl,
      ...(extra as E),
    };
  }

  /**
   * Makes a user known to the fake (someone who can be messaged 1:1).
   *
   * @param user - The user.
   */
  addUser(user: FakeTeamsUser): void {
    this.#users.set(user.id, user);
  }

  /**
   * Builds an activity as the Bot Connector sends it, and makes its conversation known.
   *
   * @param input - What is said where by whom.
   * @returns The activity (JSON-ready).
   */
  activity(input: FakeActivityInput = {}): Record<string, unknown> & {
    id: string;
    serviceUrl: string;
    conversation: { id: string; conversationType: string };
  } {
    const type = input.conversationType ?? "personal";
    const from = input.from ?? FAKE_TEAMS_USER;
    this.#users.set(from.id, from);
    const id = input.id ?? String(this.#nextId++);
    const base =
      input.conversationId ??
      (type === "channel"
        ? FAKE_TEAMS_CHANNEL_ID
        : type === "groupChat"
          ? FAKE_TEAMS_GROUP_CHAT_ID
          : `a:1fake-personal-${from.id.replace(/\W/g, "")}`);
    const known = this.#conversations.get(base) ?? { id: base, type, members: new Set<string>() };
    known.members.add(from.id);
    this.#conversations.set(base, known);
    const conversationId = type === "channel" ? `${base};messageid=${input.threadRoot ?? id}` : base;
    const botName = "OpenClaw Bot";
    let text = input.text;
    const entities: Array<Record<string, unknown>> = [
      { type: "clientInfo", locale: "en-US", country: "US", platform: "Web", timezone: "Europe/Paris" },
    ];
    if (input.mentionBot === true) {
      const tag = `<at>${botName}</at>`;
      text = `${tag} ${text ?? ""}`;
      entities.push({ type: "mention", text: tag, mentioned: { id: this.botId, name: botName } });
    }
    const channelData: Record<string, unknown> = { tenant: { id: this.tenantId } };
    if (type === "channel") {
      channelData.team = {
        id: FAKE_TEAMS_TEAM_ID,
        name: "Fake Team",
        aadGroupId: "0f0f0f0f-0000-4000-8000-000000000001",
      };
      channelData.channel = { id: base, name: "General" };
      channelData.teamsTeamId = FAKE_TEAMS_TEAM_ID;
      channelData.teamsChannelId = base;
    }
    const activity: Record<string, unknown> = {
      type: input.type ?? "message",
      id,
      timestamp: new Date().toISOString(),
      localTimestamp: new Date().toISOString(),
      serviceUrl: this.serviceUrl,
      channelId: "msteams",
      from: { id: from.id, name: from.name, aadObjectId: from.aadObjectId },
      conversation: {
        id: conversationId,
        conversationType: type,
        tenantId: this.tenantId,
        ...(type === "personal" ? {} : { isGroup: true }),
      },
      recipient: { id: this.botId, name: botName },
      entities,
      channelData,
      locale: "en-US",
    };
    if (text !== undefined) {
      activity.text = text;
      activity.textFormat = "plain";
    }
    if (input.replyToId !== undefined) activity.replyToId = input.replyToId;
    else if (type === "channel" && input.threadRoot !== undefined) activity.replyToId = input.threadRoot;
    if (input.attachments !== undefined) activity.attachments = input.attachments;
    if (input.value !== undefined) activity.value = input.value;
    return activity as ReturnType<FakeTeams["activity"]>;
  }

  /**
   * Signs a token as the Bot Connector does for a request to the bot.
   *
   * @param serviceUrl - The activity's service URL (the `serviceurl` claim).
   * @param options - Claims to change, to forge bad tokens.
   * @returns The JWT.
   */
  async token(serviceUrl: string, options: FakeTokenOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {};
    const url = options.serviceUrl === undefined ? serviceUrl : options.serviceUrl;
    if (url !== null) claims.serviceurl = url;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: this.#kid, typ: "JWT" })
      .setIssuer(options.issuer ?? "https://api.botframework.com")
      .setAudience(options.audience ?? this.appId)
      .setNotBefore(now - 5)
      .setIssuedAt(now - 5)
      .setExpirationTime(options.expiresAt ?? now + 3600)
      .sign(options.foreignKey === true ? this.#stranger : this.#signer);
  }

  /**
   * The signed webhook request the gateway would hand the plugin for this activity.
   *
   * @param activity - From {@link FakeTeams.activity}.
   * @param options - Claims to change, to forge bad tokens.
   * @returns The request.
   */
  async webhookRequest(
    activity: Record<string, unknown>,
    options: FakeTokenOptions = {},
  ): Promise<WebhookRequest> {
    const headers: Record<string, string> = {};
    if (options.unsigned !== true)
      headers.authorization = `Bearer ${await this.token(String(activity.serviceUrl), options)}`;
    return webhookRequest({ body: activity, headers });
  }

  /**
   * POSTs a signed activity to a webhook URL (the gateway's `/webhook/<channel>`), as the Bot
   * Connector does.
   *
   * @param webhookUrl - Where to post.
   * @param activity - From {@link FakeTeams.activity}.
   * @param options - Claims to change, to forge bad tokens.
   * @returns The response.
   */
  async deliver(
    webhookUrl: string,
    activity: Record<string, unknown>,
    options: FakeTokenOptions = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.unsigned !== true)
      headers.authorization = `Bearer ${await this.token(String(activity.serviceUrl), options)}`;
    return fetch(webhookUrl, { method: "POST", headers, body: JSON.stringify(activity) });
  }

  /** The texts of the activities the bot created or replied with, in order. */
  sentTexts(): string[] {
    return this.posts
      .filter((p) => p.kind === "create" || p.kind === "reply")
      .map((p) => (typeof p.activity.text === "string" ? p.activity.text : ""));
  }

  /**
   * Makes the next requests to the fake fail with these replies (any route).
   *
   * @param replies - E.g. `{ status: 429, headers: { "retry-after": "2" } }`.
   */
  failNext(...replies: FakeReply[]): void {
    this.platform.failNext(...replies);
  }

  /**
   * Resolves once the bot has posted something matching `predicate`.
   *
   * @param predicate - Tests a post.
   * @param timeoutMs - Gives up after this long.
   * @returns The post.
   */
  async waitForPost(predicate: (post: FakeTeamsPost) => boolean, timeoutMs = 5000): Promise<FakeTeamsPost> {
    await this.platform.waitFor(() => this.posts.some(predicate), timeoutMs);
    return this.posts.find(predicate)!;
  }

  /** Stops the server. */
  close(): Promise<void> {
    return this.platform.close();
  }

  #authorized(request: RecordedRequest): boolean {
    const header = request.headers.authorization ?? "";
    return header.startsWith("Bearer ") && this.issuedTokens.includes(header.slice(7));
  }

  #routes(jwk: Record<string, unknown>): void {
    const unauthorized: FakeReply = {
      status: 401,
      body: { message: "Authorization has been denied for this request." },
    };
    const error = (status: number, code: string, message: string): FakeReply => ({
      status,
      body: { error: { code, message } },
    });
    this.platform.route("GET /v1/.well-known/openidconfiguration", () => ({
      body: {
        issuer: "https://api.botframework.com",
        authorization_endpoint: "https://invalid.botframework.com",
        // Unique per fake: a later fake on a reused port must not hit a JWKS cached for this one.
        jwks_uri: `${this.platform.url}/v1/.well-known/keys?instance=${this.#kid}`,
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: ["private_key_jwt"],
      },
    }));
    this.platform.route("GET /v1/.well-known/keys", () => ({ body: { keys: [jwk] } }));
    this.platform.route(`POST /${this.tenantId}/oauth2/v2.0/token`, (request) => {
      const form = new URLSearchParams(request.body);
      if (form.get("grant_type") !== "client_credentials")
        return { status: 400, body: { error: "unsupported_grant_type" } };
      if (form.get("client_id") !== this.appId || form.get("client_secret") !== this.appPassword)
        return {
          status: 401,
          body: {
            error: "invalid_client",
            error_description: "AADSTS7000215: Invalid client secret provided.",
          },
        };
      if (form.get("scope") !== "https://api.botframework.com/.default")
        return { status: 400, body: { error: "invalid_scope" } };
      const token = `fake-bf-token-${randomBytes(12).toString("hex")}`;
      this.issuedTokens.push(token);
      return { body: { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token } };
    });
    this.platform.route("POST /teams/v3/conversations", (request) => {
      if (!this.#authorized(request)) return unauthorized;
      const body = request.json as { members?: Array<{ id?: string }>; bot?: { id?: string } } | undefined;
      const member = body?.members?.[0]?.id;
      if (body?.bot?.id !== this.botId) return error(400, "BadArgument", "bot must be this bot");
      if (member === undefined || !this.#users.has(member) || body?.members?.length !== 1)
        return error(400, "BadArgument", "Invalid user identity in provided tenant");
      const id = `a:1fake-personal-${member.replace(/\W/g, "")}`;
      this.#conversations.set(id, { id, type: "personal", members: new Set([member]) });
      this.posts.push({
        kind: "conversation",
        conversationId: id,
        id,
        activity: request.json as Record<string, unknown>,
      });
      return { status: 201, body: { id } };
    });
    const activityRoute = (method: string) => (request: RecordedRequest) => {
      if (!this.#authorized(request)) return unauthorized;
      const match = /^\/teams\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(request.path);
      if (match === null) return error(404, "NotFound", "no such operation");
      const conversationId = decodeURIComponent(match[1]!);
      const activityId = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
      const base = conversationId.split(";messageid=")[0]!;
      if (!this.#conversations.has(base))
        return error(404, "ConversationNotFound", "Conversation not found.");
      if (method === "DELETE") {
        if (activityId === undefined) return error(405, "MethodNotAllowed", "DELETE needs an activity id");
        this.posts.push({ kind: "delete", conversationId, activityId, activity: {} });
        return { status: 200, body: {} };
      }
      const activity = request.json as Record<string, unknown> | undefined;
      if (activity?.type !== "message" && activity?.type !== "typing")
        return error(400, "BadArgument", "Unknown activity type");
      if (method === "PUT") {
        if (activityId === undefined) return error(405, "MethodNotAllowed", "PUT needs an activity id");
        this.posts.push({ kind: "update", conversationId, activityId, activity });
        return { status: 200, body: { id: activityId } };
      }
      const id = String(this.#nextId++);
      const post: FakeTeamsPost = {
        kind: activityId === undefined ? "create" : "reply",
        conversationId,
        id,
        activity,
      };
      if (activityId !== undefined) post.activityId = activityId;
      this.posts.push(post);
      return { status: 201, body: { id } };
    };
    this.platform.route("POST /teams/v3/conversations/*", activityRoute("POST"));
    this.platform.route("PUT /teams/v3/conversations/*", activityRoute("PUT"));
    this.platform.route("DELETE /teams/v3/conversations/*", activityRoute("DELETE"));
  }
}
