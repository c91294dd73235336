import {
  Client as BotConnector,
  type IMessageActivityInput,
  PUBLIC,
  stripMentionsText,
  type Attachment as TeamsAttachment,
} from "@microsoft/teams.api";
import { Client as HttpClient } from "@microsoft/teams.common";
import {
  type Attachment,
  BOT_FRAMEWORK_ISSUER,
  type Button,
  type ChannelContext,
  ChannelError,
  checkBotFrameworkServiceUrl,
  defineChannel,
  type InboundMessageInput,
  type MessageContent,
  v,
  verifyBotFrameworkJwt,
  type WebhookResponse,
} from "@openclaw/channel-sdk";
import { BotTokenProvider } from "./BotTokenProvider";
import {
  baseConversationId,
  ConversationReferenceStore,
  type KnownUser,
  type StoredReference,
} from "./ConversationReferenceStore";

/**
 * The longest text the plugin puts in one Teams message. Teams refuses activities over about
 * 28 KB; 8,000 characters stay under that even when every character takes three bytes.
 */
export const TEAMS_MAX_TEXT = 8000;

/** Defaults of the optional Teams settings. */
export const MSTEAMS_DEFAULTS = Object.freeze({
  /** Bot Framework's OpenID metadata (names the JWKS that signs inbound tokens). */
  openIdMetadataUrl: PUBLIC.openIdMetadataUrl,
  /** The issuer of inbound Bot Connector tokens. */
  issuer: BOT_FRAMEWORK_ISSUER,
  /** Entra ID's login endpoint; the token URL is `<loginUrl>/<tenantId>/oauth2/v2.0/token`. */
  loginUrl: PUBLIC.loginEndpoint,
  /** The tenant of multi-tenant bots' tokens. */
  tenantId: PUBLIC.loginTenant,
  /** The scope of outbound tokens. */
  botScope: PUBLIC.botScope,
  requestTimeoutMs: 15_000,
  tokenRefreshMarginMs: 300_000,
  openIdRefreshMs: 86_400_000,
  maxConversationReferences: 10_000,
  dedupeCacheSize: 5000,
  maxRetryAfterMs: 600_000,
});

const Timeout = v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(120_000));

/** Settings of a Microsoft Teams channel (`channels.<name>` in openclaw.json). */
export const MsTeamsConfigSchema = v.object({
  /** The bot's Microsoft app id (the Azure Bot resource's "Microsoft App ID"): the audience of inbound tokens. */
  appId: v.pipe(v.string(), v.minLength(1)),
  /** A client secret of that app registration. Write it as `${MSTEAMS_APP_PASSWORD}`. */
  appPassword: v.pipe(v.string(), v.minLength(1)),
  /** For single-tenant bots: the tenant that issues outbound tokens. @defaultValue `"botframework.com"` (multi-tenant) */
  tenantId: v.optional(v.pipe(v.string(), v.minLength(1)), MSTEAMS_DEFAULTS.tenantId),
  /** The OAuth token endpoint; by default built from Entra ID's login URL and `tenantId`. */
  tokenUrl: v.optional(v.pipe(v.string(), v.url())),
  /** Bot Framework's OpenID metadata document, which names the signing keys of inbound tokens. */
  openIdMetadataUrl: v.optional(v.pipe(v.string(), v.url()), MSTEAMS_DEFAULTS.openIdMetadataUrl),
  /** The expected issuer of inbound tokens. @defaultValue `"https://api.botframework.com"` */
  issuer: v.optional(v.pipe(v.string(), v.minLength(1)), MSTEAMS_DEFAULTS.issuer),
  /** The scope of outbound tokens. @defaultValue `"https://api.botframework.com/.default"` */
  botScope: v.optional(v.pipe(v.string(), v.minLength(1)), MSTEAMS_DEFAULTS.botScope),
  /**
   * Directory for the conversation references (`conversation-references.json`, mode 0600, in a
   * 0700 directory), so proactive sends work after a restart. Without it they are kept in memory.
   */
  stateDir: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Timeout of each request to the token endpoint, the OpenID metadata and the Bot Connector. @defaultValue 15000 */
  requestTimeoutMs: v.optional(Timeout, MSTEAMS_DEFAULTS.requestTimeoutMs),
  /** How long before expiry an outbound token is renewed. @defaultValue 300000 */
  tokenRefreshMarginMs: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_800_000)),
    MSTEAMS_DEFAULTS.tokenRefreshMarginMs,
  ),
  /** How often the OpenID metadata is read again. @defaultValue 86400000 (a day) */
  openIdRefreshMs: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(60_000), v.maxValue(604_800_000)),
    MSTEAMS_DEFAULTS.openIdRefreshMs,
  ),
  /** The most conversations (and users) remembered; the least recently seen are forgotten first. @defaultValue 10000 */
  maxConversationReferences: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)),
    MSTEAMS_DEFAULTS.maxConversationReferences,
  ),
  /** How many recent activity ids are remembered to drop redeliveries. @defaultValue 5000 */
  dedupeCacheSize: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)),
    MSTEAMS_DEFAULTS.dedupeCacheSize,
  ),
});

/** Validated Teams settings. */
export type MsTeamsConfig = v.InferOutput<typeof MsTeamsConfigSchema>;

const Account = v.looseObject({
  id: v.pipe(v.string(), v.minLength(1)),
  name: v.optional(v.nullable(v.string())),
  aadObjectId: v.optional(v.nullable(v.string())),
  role: v.optional(v.nullable(v.string())),
});

/** The parts of a Bot Framework activity the plugin reads. */
const ActivitySchema = v.looseObject({
  type: v.pipe(v.string(), v.minLength(1)),
  id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
  timestamp: v.optional(v.string()),
  serviceUrl: v.pipe(v.string(), v.url()),
  channelId: v.optional(v.string()),
  from: Account,
  recipient: Account,
  conversation: v.looseObject({
    id: v.pipe(v.string(), v.minLength(1), v.maxLength(512)),
    conversationType: v.optional(v.nullable(v.string())),
    tenantId: v.optional(v.nullable(v.string())),
    isGroup: v.optional(v.nullable(v.boolean())),
  }),
  text: v.optional(v.nullable(v.string())),
  replyToId: v.optional(v.nullable(v.string())),
  attachments: v.optional(
    v.nullable(
      v.array(
        v.looseObject({
          contentType: v.string(),
          contentUrl: v.optional(v.nullable(v.string())),
          content: v.optional(v.unknown()),
          name: v.optional(v.nullable(v.string())),
        }),
      ),
    ),
  ),
  entities: v.optional(v.nullable(v.array(v.looseObject({ type: v.string() })))),
  channelData: v.optional(
    v.nullable(
      v.looseObject({
        tenant: v.optional(v.nullable(v.looseObject({ id: v.optional(v.string()) }))),
        team: v.optional(v.nullable(v.looseObject({ id: v.optional(v.string()) }))),
      }),
    ),
  ),
  value: v.optional(v.unknown()),
});

type Activity = v.InferOutput<typeof ActivitySchema>;

/** The key under which callback buttons carry their data in an Adaptive Card's `Action.Submit`. */
export const CALLBACK_DATA_KEY = "openclawCallback";

/** Bot Connector error codes of a 403 that mean the bot cannot reach this conversation any more. */
const UNREACHABLE_CODES = new Set([
  "BotNotInConversationRoster",
  "ConversationBlockedByUser",
  "BotDisabledByAdmin",
  "ConversationNotFound",
]);

const CREDENTIALS_HINT =
  "check that appId and appPassword belong to the Azure Bot's app registration (and tenantId for a single-tenant bot)";

/**
 * The Microsoft Teams channel plugin. Activities arrive as webhooks from the Bot Connector with a
 * Bot Framework JWT (verified: RS256 against the JWKS named by the OpenID metadata, issuer,
 * audience = `appId`, expiry with 5 minutes of skew, and the token's `serviceurl` = the
 * activity's). Replies and proactive messages go to the conversation's `serviceUrl` through the
 * Teams SDK's Bot Connector client (`@microsoft/teams.api`) with a client-credentials token.
 *
 * Recipients are conversation ids the bot has seen (personal, group chat or channel; a channel id
 * may carry `;messageid=<root>` to post in a thread), or the id (`29:…`) or Entra object id of a
 * user it has seen, for a 1:1 message.
 */
export const msteamsChannel = defineChannel({
  name: "msteams",
  capabilities: ["text", "markdown", "media", "buttons", "threads"],
  limits: { maxTextLength: TEAMS_MAX_TEXT },
  webhooks: true,
  // In a cluster: the Bot Connector's activities may reach any instance.
  placement: "everywhere",
  config: MsTeamsConfigSchema,
  create() {
    let context: ChannelContext<MsTeamsConfig>;
    let tokens: BotTokenProvider;
    let store: ConversationReferenceStore;
    let http: HttpClient;
    let jwksUrl: URL | undefined;
    let metadataReadAt = 0;
    let metadataRefresh: Promise<void> | undefined;
    /** Recently handled activity keys, oldest first (bounded: `dedupeCacheSize`). */
    const seen = new Set<string>();
    /** Channel message id → its thread's root id (bounded with `seen`). */
    const threadRoots = new Map<string, string>();
    /** Idempotency key → message id of sends that succeeded (bounded with `seen`). */
    const sent = new Map<string, string>();
    let received = 0;
    /** Set when a send was refused for the credentials: the next success reports `ready` again. */
    let authRefused = false;

    const bound = <K, T>(map: Map<K, T> | Set<K>, max: number) => {
      for (const key of map.keys()) {
        if (map.size <= max) break;
        map.delete(key);
      }
    };

    const readMetadata = async (): Promise<void> => {
      const { openIdMetadataUrl, requestTimeoutMs } = context.config;
      let response: Response;
      try {
        response = await fetch(openIdMetadataUrl, {
          headers: { accept: "application/json" },
          signal: AbortSignal.any([context.signal, AbortSignal.timeout(requestTimeoutMs)]),
        });
      } catch (error) {
        throw new ChannelError(
          "PLATFORM_UNAVAILABLE",
          `cannot read the OpenID metadata at ${openIdMetadataUrl}`,
          {
            cause: error,
          },
        );
      }
      const body = (await response.json().catch(() => undefined)) as { jwks_uri?: unknown } | undefined;
      if (!response.ok || typeof body?.jwks_uri !== "string" || !URL.canParse(body.jwks_uri)) {
        throw new ChannelError(
          "PLATFORM_UNAVAILABLE",
          `the OpenID metadata at ${openIdMetadataUrl} answered ${response.status} without a jwks_uri`,
          { platformCode: response.status },
        );
      }
      jwksUrl = new URL(body.jwks_uri);
      metadataReadAt = Date.now();
    };

    /** Reads the metadata again once it is older than `openIdRefreshMs`; keeps the old on failure. */
    const freshKeys = async (): Promise<URL | undefined> => {
      if (Date.now() - metadataReadAt > context.config.openIdRefreshMs) {
        metadataRefresh ??= readMetadata()
          .catch((error: unknown) => {
            // Keep the keys we have and try again in a minute, not on every request.
            metadataReadAt = Date.now() - context.config.openIdRefreshMs + 60_000;
            context.logger.warn("could not refresh the Bot Framework OpenID metadata", {
              error: (error as Error).message,
            });
          })
          .finally(() => {
            metadataRefresh = undefined;
          });
        await metadataRefresh;
      }
      return jwksUrl;
    };

    const connectorFor = (serviceUrl: string) => new BotConnector(serviceUrl.replace(/\/+$/, ""), http);

    /** Maps a Bot Connector (axios) failure to a ChannelError. */
    const toSendError = (error: unknown, what: string): ChannelError => {
      if (error instanceof ChannelError) return error;
      const response = (
        error as { response?: { status: number; headers?: Record<string, unknown>; data?: unknown } }
      ).response;
      if (response === undefined) {
        return new ChannelError("PLATFORM_UNAVAILABLE", `cannot reach the Bot Connector to ${what}`, {
          cause: error,
        });
      }
      const { status } = response;
      const body = response.data as { error?: { code?: string; message?: string } } | undefined;
      const code = body?.error?.code;
      const detail = body?.error?.message === undefined ? "" : `: ${body.error.message}`;
      if (status === 429) {
        return new ChannelError("RATE_LIMITED", `the Bot Connector throttled the request to ${what}`, {
          retryAfterMs: retryAfterMs(response.headers?.["retry-after"]),
          platformCode: 429,
          cause: error,
        });
      }
      if (status === 404 || (status === 403 && code !== undefined && UNREACHABLE_CODES.has(code))) {
        return new ChannelError(
          "RECIPIENT_NOT_FOUND",
          `the Bot Connector cannot ${what} (${code ?? status})${detail}; the app may have been removed from this conversation`,
          { platformCode: code ?? status, cause: error },
        );
      }
      if (status === 401 || status === 403) {
        tokens.invalidate();
        return new ChannelError(
          "AUTH_FAILED",
          `the Bot Connector refused the bot's token (${status})${detail}; ${CREDENTIALS_HINT}`,
          {
            platformCode: code ?? status,
            cause: error,
          },
        );
      }
      if (status >= 400 && status < 500) {
        return new ChannelError(
          "UNSUPPORTED_CONTENT",
          `the Bot Connector refused to ${what} (${code ?? status})${detail}`,
          {
            platformCode: code ?? status,
            cause: error,
          },
        );
      }
      return new ChannelError("PLATFORM_UNAVAILABLE", `the Bot Connector answered ${status} to ${what}`, {
        platformCode: status,
        cause: error,
      });
    };

    /** Finds (or, for a user seen before, opens) the conversation a recipient names. */
    const resolveRecipient = async (
      recipient: string,
    ): Promise<{ reference: StoredReference; conversationId: string; root?: string }> => {
      const known = store.conversation(recipient);
      if (known !== undefined) {
        const at = recipient.indexOf(";messageid=");
        return at === -1
          ? { reference: known, conversationId: known.conversationId }
          : { reference: known, conversationId: known.conversationId, root: recipient.slice(at + 11) };
      }
      const user = store.user(recipient);
      if (user === undefined) {
        throw new ChannelError(
          "RECIPIENT_NOT_FOUND",
          `Teams knows no conversation or user "${recipient}" for this bot yet: the bot can only message conversations and users it has received an activity from (install the app for that user or team first)`,
        );
      }
      if (user.personalConversationId !== undefined) {
        const personal = store.conversation(user.personalConversationId);
        if (personal !== undefined) return { reference: personal, conversationId: personal.conversationId };
      }
      // A user seen in a group chat or channel: open a 1:1 chat with them.
      let created: { id?: string; serviceUrl?: string };
      try {
        created = await connectorFor(user.serviceUrl).conversations.create({
          bot: { id: user.botId, role: "bot" },
          members: [{ id: user.id, role: "user" }],
          isGroup: false,
          ...(user.tenantId === undefined
            ? {}
            : { tenantId: user.tenantId, channelData: { tenant: { id: user.tenantId } } }),
        });
      } catch (error) {
        throw toSendError(error, `open a chat with ${user.id}`);
      }
      if (typeof created?.id !== "string" || created.id === "")
        throw new ChannelError(
          "PLATFORM_UNAVAILABLE",
          "the Bot Connector created a conversation without an id",
        );
      const reference: StoredReference = {
        conversationId: created.id,
        conversationType: "personal",
        serviceUrl: user.serviceUrl,
        botId: user.botId,
        userId: user.id,
        lastSeen: Date.now(),
      };
      if (user.tenantId !== undefined) reference.tenantId = user.tenantId;
      if (user.aadObjectId !== undefined) reference.userAadObjectId = user.aadObjectId;
      store.remember(reference, { ...user, personalConversationId: created.id });
      await store.flush().catch((error: unknown) => warnPersist(error));
      return { reference, conversationId: created.id };
    };

    const warnPersist = (error: unknown) =>
      context.logger.warn("could not write the Teams conversation references", {
        error: (error as Error).message,
      });

    const toInbound = (activity: Activity, raw: unknown): InboundMessageInput => {
      const conversationId = baseConversationId(activity.conversation.id);
      const isChannel = activity.conversation.conversationType === "channel";
      const root = isChannel ? threadRootOf(activity.conversation.id) : undefined;
      let text = activity.text ?? "";
      if (text !== "") {
        const mentionable = { ...activity, text } as unknown as Parameters<typeof stripMentionsText>[0];
        text = stripMentionsText(mentionable, { accountId: activity.recipient.id }) ?? "";
        text = stripMentionsText({ ...mentionable, text } as typeof mentionable, { tagOnly: true }) ?? "";
      }
      const callback = callbackData(activity.value);
      if (text === "" && callback !== undefined) text = callback;
      const sender: InboundMessageInput["sender"] = { id: activity.from.id };
      if (typeof activity.from.name === "string" && activity.from.name !== "")
        sender.name = activity.from.name;
      if (activity.from.role === "bot") sender.isBot = true;
      const message: InboundMessageInput = {
        id: activity.id!,
        conversationId,
        peerId: conversationId,
        accountId: activity.recipient.id.slice(0, 128),
        sender,
        text,
        raw,
      };
      const teamId = activity.channelData?.team?.id;
      if (typeof teamId === "string" && teamId !== "" && teamId.length <= 128) message.guildId = teamId;
      if (root !== undefined && root !== activity.id && root.length <= 128) message.threadId = root;
      const replyTo = activity.replyToId;
      if (typeof replyTo === "string" && replyTo !== "" && replyTo.length <= 128) message.replyTo = replyTo;
      const timestamp = activity.timestamp === undefined ? Number.NaN : Date.parse(activity.timestamp);
      if (Number.isFinite(timestamp) && timestamp >= 0) message.timestamp = timestamp;
      const attachments = (activity.attachments ?? []).flatMap((a) => inboundAttachment(a));
      if (attachments.length > 0) message.attachments = attachments.slice(0, 32);
      return message;
    };

    const rememberActivity = (activity: Activity): void => {
      const conversationId = baseConversationId(activity.conversation.id);
      const tenantId = activity.conversation.tenantId ?? activity.channelData?.tenant?.id ?? undefined;
      const type = activity.conversation.conversationType ?? undefined;
      const now = Date.now();
      const reference: StoredReference = {
        conversationId,
        serviceUrl: activity.serviceUrl,
        botId: activity.recipient.id,
        lastSeen: now,
      };
      if (type !== undefined) reference.conversationType = type;
      if (tenantId !== undefined) reference.tenantId = tenantId;
      if (typeof activity.recipient.name === "string") reference.botName = activity.recipient.name;
      const teamId = activity.channelData?.team?.id;
      if (typeof teamId === "string") reference.teamId = teamId;
      let user: KnownUser | undefined;
      if (activity.from.role !== "bot" && activity.from.id !== activity.recipient.id) {
        user = {
          id: activity.from.id,
          serviceUrl: activity.serviceUrl,
          botId: activity.recipient.id,
          lastSeen: now,
        };
        if (typeof activity.from.aadObjectId === "string") user.aadObjectId = activity.from.aadObjectId;
        if (typeof activity.from.name === "string") user.name = activity.from.name;
        if (tenantId !== undefined) user.tenantId = tenantId;
        if (type === "personal") {
          user.personalConversationId = conversationId;
          reference.userId = activity.from.id;
          if (user.aadObjectId !== undefined) reference.userAadObjectId = user.aadObjectId;
        }
      }
      store.remember(reference, user);
    };

    return {
      async start(ctx) {
        context = ctx;
        const config = ctx.config;
        const opened = await ConversationReferenceStore.open({
          dir: config.stateDir,
          maxEntries: config.maxConversationReferences,
        }).catch((error: unknown) => {
          throw new ChannelError(
            "INVALID_CONFIG",
            `cannot use stateDir ${config.stateDir}: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        });
        store = opened.store;
        if (opened.warning !== undefined) ctx.logger.warn(opened.warning);
        if (config.stateDir === undefined)
          ctx.logger.warn(
            "no stateDir: Teams conversation references are kept in memory only, so after a restart the bot can message a conversation again only once it has heard from it",
          );
        tokens = new BotTokenProvider({
          tokenUrl:
            config.tokenUrl ??
            `${MSTEAMS_DEFAULTS.loginUrl}/${encodeURIComponent(config.tenantId)}/oauth2/v2.0/token`,
          appId: config.appId,
          appPassword: config.appPassword,
          scope: config.botScope,
          timeoutMs: config.requestTimeoutMs,
          refreshMarginMs: config.tokenRefreshMarginMs,
          signal: ctx.signal,
        });
        http = new HttpClient({
          name: "openclaw-msteams",
          timeout: config.requestTimeoutMs,
          headers: { "Content-Type": "application/json" },
          token: () => tokens.token(),
          // Requests in flight are aborted when the channel stops.
          interceptors: [
            { request: ({ config: request }) => Object.assign(request, { signal: ctx.signal }) },
          ],
        });
        // Both reach the platform: the keys to verify inbound activities, and a token for replies
        // (which checks the credentials now rather than at the first reply).
        await readMetadata();
        await tokens.token();
      },

      async send(recipient, content, { replyTo, idempotencyKey }) {
        if (idempotencyKey !== undefined) {
          const earlier = sent.get(idempotencyKey);
          if (earlier !== undefined) return { messageId: earlier };
        }
        const target = await resolveRecipient(recipient);
        const isChannel = target.reference.conversationType === "channel";
        // In a channel, a reply goes into the thread of the message it answers.
        const root =
          target.root ??
          (isChannel && replyTo !== undefined ? (threadRoots.get(replyTo) ?? replyTo) : undefined);
        const conversationId =
          root === undefined ? target.conversationId : `${target.conversationId};messageid=${root}`;
        const activity = {
          ...toActivity(content),
          from: { id: target.reference.botId },
          conversation: { id: conversationId },
        };
        const connector = connectorFor(target.reference.serviceUrl);
        let result: { id?: string } | undefined;
        try {
          if (replyTo === undefined) {
            result = await connector.conversations.createActivity(conversationId, activity);
          } else {
            // Bot Connector's "reply to activity": POST /v3/conversations/{id}/activities/{replyToId}.
            const response = await connector.http.post(
              `${connector.serviceUrl}/v3/conversations/${encodeURIComponent(conversationId)}/activities/${encodeURIComponent(replyTo)}`,
              { ...activity, replyToId: replyTo },
            );
            result = response.data as { id?: string } | undefined;
          }
        } catch (error) {
          const failure = toSendError(error, `post in ${recipient}`);
          if (failure.code === "AUTH_FAILED") authRefused = true;
          throw failure;
        }
        if (authRefused) {
          authRefused = false;
          context.setStatus("ready");
        }
        const messageId = typeof result?.id === "string" && result.id !== "" ? result.id : undefined;
        if (messageId === undefined)
          throw new ChannelError("PLATFORM_UNAVAILABLE", "the Bot Connector answered without an activity id");
        if (isChannel) {
          threadRoots.set(messageId, root ?? messageId);
          bound(threadRoots, context.config.dedupeCacheSize);
        }
        if (idempotencyKey !== undefined) {
          sent.set(idempotencyKey, messageId);
          bound(sent, context.config.dedupeCacheSize);
        }
        return { messageId };
      },

      async webhook(request): Promise<WebhookResponse> {
        if (request.method !== "POST")
          return {
            status: 405,
            headers: { allow: "POST" },
            body: { error: { code: "INVALID_PARAMS", message: "POST only" } },
          };
        const refuse = (reason: string): WebhookResponse => {
          context.logger.warn("refused a Teams activity", { reason });
          return {
            status: 401,
            body: { error: { code: "UNAUTHORIZED", message: `Bot Framework token refused: ${reason}` } },
          };
        };
        // The token is checked before the body is decoded or parsed: an unauthenticated request
        // costs no JSON parse, however large its body.
        const authorization = request.headers.authorization;
        if (authorization === undefined || !authorization.startsWith("Bearer "))
          return refuse("missing_signature");
        const keys = await freshKeys();
        if (keys === undefined)
          return {
            status: 503,
            body: { error: { code: "CHANNEL_UNAVAILABLE", message: "signing keys unknown" } },
          };
        const check = await verifyBotFrameworkJwt({
          authorization,
          appId: context.config.appId,
          keys,
          issuer: context.config.issuer,
        });
        if (!check.ok) return refuse(check.reason);
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(request.body));
        } catch {
          return {
            status: 400,
            body: {
              error: {
                code: "INVALID_PARAMS",
                message: "not a Bot Framework activity: the body is not JSON",
              },
            },
          };
        }
        // The token must name the activity's service URL: "" (no URL in the body) never matches.
        const claimedServiceUrl = (json as { serviceUrl?: unknown } | null)?.serviceUrl;
        const binding = checkBotFrameworkServiceUrl(
          check.claims,
          typeof claimedServiceUrl === "string" ? claimedServiceUrl : "",
        );
        if (!binding.ok) return refuse(binding.reason);
        const parsed = v.safeParse(ActivitySchema, json);
        if (!parsed.success) {
          const issue = parsed.issues[0];
          return {
            status: 400,
            body: {
              error: {
                code: "INVALID_PARAMS",
                message: `not a Bot Framework activity: ${v.getDotPath(issue) ?? ""} ${issue.message}`,
              },
            },
          };
        }
        const activity = parsed.output;
        rememberActivity(activity);
        await store.flush().catch((error: unknown) => warnPersist(error));
        if (activity.type !== "message") return { status: 200 };
        if (activity.id === undefined)
          return {
            status: 400,
            body: { error: { code: "INVALID_PARAMS", message: "a message activity needs an id" } },
          };
        const key = `${baseConversationId(activity.conversation.id)}|${activity.id}`;
        if (seen.has(key)) return { status: 200 };
        seen.add(key);
        bound(seen, context.config.dedupeCacheSize);
        if (activity.conversation.conversationType === "channel") {
          threadRoots.set(activity.id, threadRootOf(activity.conversation.id) ?? activity.id);
          bound(threadRoots, context.config.dedupeCacheSize);
        }
        const message = toInbound(activity, json);
        if (message.text === "" && message.attachments === undefined) return { status: 200 };
        received += 1;
        // Acknowledge only once the gateway has recorded it: the Bot Connector retries otherwise.
        try {
          await context.emit(message);
        } catch (error) {
          // Not recorded (a full disk): a 503, and the redelivery must not be taken for a repeat.
          seen.delete(key);
          throw error;
        }
        return { status: 200 };
      },

      stop() {
        seen.clear();
        threadRoots.clear();
        sent.clear();
      },

      details() {
        return {
          conversations: store?.conversationCount ?? 0,
          users: store?.userCount ?? 0,
          received,
          persisted: context?.config.stateDir !== undefined,
        };
      },
    };
  },
});

/** The `;messageid=<root>` part of a channel conversation id, when there is one. */
function threadRootOf(conversationId: string): string | undefined {
  const at = conversationId.indexOf(";messageid=");
  return at === -1 ? undefined : conversationId.slice(at + 11) || undefined;
}

function callbackData(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const data = (value as Record<string, unknown>)[CALLBACK_DATA_KEY];
  return typeof data === "string" && data !== "" ? data : undefined;
}

function retryAfterMs(header: unknown): number {
  const text = Array.isArray(header) ? String(header[0]) : header === undefined ? "" : String(header);
  const seconds = Number(text);
  if (text !== "" && Number.isFinite(seconds) && seconds >= 0)
    return Math.min(seconds * 1000, MSTEAMS_DEFAULTS.maxRetryAfterMs);
  const date = Date.parse(text);
  if (Number.isFinite(date))
    return Math.min(Math.max(date - Date.now(), 0), MSTEAMS_DEFAULTS.maxRetryAfterMs);
  return 1000;
}

function inboundAttachment(attachment: NonNullable<Activity["attachments"]>[number]): Attachment[] {
  const { contentType } = attachment;
  const name =
    typeof attachment.name === "string" && attachment.name !== "" ? attachment.name.slice(0, 255) : undefined;
  if (contentType === "application/vnd.microsoft.teams.file.download.info") {
    const content = attachment.content as { downloadUrl?: unknown; fileType?: unknown } | undefined;
    if (typeof content?.downloadUrl !== "string") return [];
    const file: Attachment = { kind: "file", url: content.downloadUrl.slice(0, 4096) };
    if (name !== undefined) file.filename = name;
    return [file];
  }
  // The HTML rendering of the text, and cards, are not attachments to the user.
  if (contentType === "text/html" || contentType.startsWith("application/vnd.microsoft.card.")) return [];
  if (typeof attachment.contentUrl !== "string" || attachment.contentUrl === "") return [];
  const kind = contentType.startsWith("image/")
    ? "image"
    : contentType.startsWith("video/")
      ? "video"
      : contentType.startsWith("audio/")
        ? "audio"
        : "file";
  const result: Attachment = { kind, url: attachment.contentUrl.slice(0, 4096) };
  if (contentType.includes("/") && contentType.length <= 255) result.mimeType = contentType;
  if (name !== undefined) result.filename = name;
  return [result];
}

/** Builds the outbound activity: Markdown or plain text, images as attachments, buttons as an Adaptive Card. */
function toActivity(content: MessageContent): IMessageActivityInput {
  const attachments: TeamsAttachment[] = [];
  const links: string[] = [];
  for (const attachment of content.attachments ?? []) {
    if (attachment.kind === "image" || attachment.kind === "sticker") {
      const mimeType = attachment.mimeType ?? "image/png";
      const url = attachment.url ?? `data:${mimeType};base64,${attachment.data}`;
      const image: TeamsAttachment = { contentType: mimeType, contentUrl: url };
      if (attachment.filename !== undefined) image.name = attachment.filename;
      attachments.push(image);
    } else if (attachment.url !== undefined) {
      const label = attachment.caption ?? attachment.filename ?? attachment.url;
      links.push(`[${label}](${attachment.url})`);
    } else {
      throw new ChannelError(
        "UNSUPPORTED_CONTENT",
        `a Teams bot cannot upload ${attachment.kind} files; give the attachment a url`,
      );
    }
  }
  if (content.buttons !== undefined && content.buttons.length > 0) {
    attachments.push({
      contentType: "application/vnd.microsoft.card.adaptive",
      content: adaptiveCard(content.buttons),
    });
  }
  let text = content.text ?? "";
  let markdown = content.format === "markdown";
  if (links.length > 0) {
    text = text === "" ? links.join("\n\n") : `${text}\n\n${links.join("\n\n")}`;
    markdown = true;
  }
  const activity: IMessageActivityInput = { type: "message", textFormat: markdown ? "markdown" : "plain" };
  if (text !== "") activity.text = text;
  if (attachments.length > 0) activity.attachments = attachments;
  return activity;
}

/** One `ActionSet` per row of buttons: links open, callbacks come back as messages with their data. */
function adaptiveCard(rows: readonly (readonly Button[])[]): Record<string, unknown> {
  return {
    type: "AdaptiveCard",
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    version: "1.4",
    body: rows.map((row) => ({
      type: "ActionSet",
      actions: row.map((button) =>
        button.url !== undefined
          ? { type: "Action.OpenUrl", title: button.text, url: button.url }
          : {
              type: "Action.Submit",
              title: button.text,
              data: {
                [CALLBACK_DATA_KEY]: button.callbackData ?? button.text,
                msteams: {
                  type: "messageBack",
                  displayText: button.text,
                  text: button.callbackData ?? button.text,
                },
              },
            },
      ),
    })),
  };
}
