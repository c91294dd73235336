import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChannelError, type ChannelPlugin, type WebhookRequest } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, type TestContext } from "@openclaw/channel-sdk/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import msteams, {
  CONVERSATION_REFERENCES_FILE,
  ConversationReferenceStore,
  type MsTeamsConfig,
} from "../src/index";
import {
  FAKE_TEAMS_CHANNEL_ID,
  FAKE_TEAMS_GROUP_CHAT_ID,
  FAKE_TEAMS_TEAM_ID,
  FAKE_TEAMS_USER,
  FakeTeams,
  type FakeTeamsUser,
} from "../src/testing";

type Config = Partial<MsTeamsConfig> & { appId: string; appPassword: string };

const tempDirs: string[] = [];
const stateDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-msteams-"));
  tempDirs.push(dir);
  return join(dir, "state");
};
afterEach(async () => {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The shared suite. The recipient is a conversation the gateway saw before a restart: its
// reference is already in the state dir.
{
  let fake: FakeTeams | undefined;
  let forged: WebhookRequest;
  runChannelConformance<Config>({
    name: "msteams",
    createPlugin: () => msteams.create() as ChannelPlugin<Config>,
    invalidConfig: { appId: "", appPassword: "x", openIdMetadataUrl: "not a url" },
    platform: {
      async start() {
        fake = await FakeTeams.start();
        const dir = await stateDir();
        const seen = fake.activity({ text: "earlier" });
        const { store } = await ConversationReferenceStore.open({ dir, maxEntries: 100 });
        store.remember({
          conversationId: seen.conversation.id,
          conversationType: "personal",
          serviceUrl: fake.serviceUrl,
          botId: fake.botId,
          lastSeen: Date.now(),
        });
        await store.flush();
        forged = await fake.webhookRequest(fake.activity({ text: "forged" }), { foreignKey: true });
        return { config: fake.config({ stateDir: dir }), recipient: seen.conversation.id };
      },
      stop: async () => {
        await fake?.close();
      },
      async injectInbound(text) {
        const activity = fake!.activity({ text });
        return {
          webhook: await fake!.webhookRequest(activity),
          expected: {
            id: activity.id,
            conversationId: activity.conversation.id,
            sender: { id: FAKE_TEAMS_USER.id, name: FAKE_TEAMS_USER.name },
          },
        };
      },
      forgedWebhook: () => forged,
      rateLimitNextSend: (ms) =>
        fake!.failNext({
          status: 429,
          headers: { "retry-after": String(ms / 1000) },
          body: { error: { code: "TooManyRequests", message: "slow down" } },
        }),
      sentTexts: () => fake!.sentTexts(),
    },
  });
}

// ---------------------------------------------------------------------------------------------
describe("msteams plugin against a fake Bot Framework", () => {
  let fake: FakeTeams;
  let plugin: ChannelPlugin<Config>;
  let context: TestContext<Config>;
  let config: Config;

  const start = async (extra: Partial<Config> = {}) => {
    config = fake.config({ stateDir: await stateDir(), ...extra });
    plugin = msteams.create() as ChannelPlugin<Config>;
    context = createTestContext("teams", config);
    await plugin.initialize(config, context);
  };
  const handle = async (request: WebhookRequest) => plugin.handleWebhook!(request);

  beforeEach(async () => {
    fake = await FakeTeams.start();
  });
  afterEach(async () => {
    await plugin?.destroy();
    context?.abort();
    await fake.close();
  });

  it("fetches the signing keys from the OpenID metadata and a client-credentials token at start", async () => {
    await start();
    expect(plugin.status().state).toBe("ready");
    const paths = fake.platform.requests.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain("GET /v1/.well-known/openidconfiguration");
    const tokenRequest = fake.platform.requests.find((r) => r.path.endsWith("/oauth2/v2.0/token"))!;
    expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({
      grant_type: "client_credentials",
      client_id: fake.appId,
      client_secret: fake.appPassword,
      scope: "https://api.botframework.com/.default",
    });
  });

  it("refuses a wrong client secret as AUTH_FAILED with a hint, and an unreachable platform as PLATFORM_UNAVAILABLE", async () => {
    const error = await start({ appPassword: "wrong-secret" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect(error).toMatchObject({ code: "AUTH_FAILED", message: expect.stringContaining("appPassword") });
    expect(plugin.status().state).toBe("down");
    const url = fake.openIdMetadataUrl;
    await fake.close();
    const unreachable = await start({ openIdMetadataUrl: url }).catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    fake = await FakeTeams.start();
  });

  it("refuses tokens with a bad signature, audience, issuer, expiry or service URL, emitting nothing", async () => {
    await start();
    const activity = fake.activity({ text: "let me in" });
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Parameters<FakeTeams["webhookRequest"]>[1]]> = [
      ["bad_signature", { foreignKey: true }],
      ["wrong_audience", { audience: "another-app-id" }],
      ["wrong_issuer", { issuer: "https://sts.windows.net/evil/" }],
      ["expired", { expiresAt: now - 360 }], // more than the 5 minutes of skew
      ["wrong_service_url", { serviceUrl: "https://attacker.example/teams/" }],
      ["missing_service_url", { serviceUrl: null }],
      ["missing_signature", { unsigned: true }],
    ];
    for (const [reason, options] of cases) {
      const response = await handle(await fake.webhookRequest(activity, options));
      expect(response.status, reason).toBe(401);
      expect(JSON.stringify(response.body), reason).toContain(reason);
    }
    // An activity whose serviceUrl was swapped after signing fails the binding too.
    const signed = await fake.webhookRequest(activity);
    const swapped = {
      ...signed,
      body: new TextEncoder().encode(
        JSON.stringify({ ...activity, serviceUrl: "https://attacker.example/" }),
      ),
    };
    expect((await handle(swapped)).status).toBe(401);
    expect(context.emitted).toEqual([]);
    // Within the 5 minutes of clock skew, an expired token still passes.
    expect((await handle(await fake.webhookRequest(activity, { expiresAt: now - 120 }))).status).toBe(200);
    expect(context.emitted).toHaveLength(1);
  });

  it("answers garbage from an authenticated sender with 400, and GETs with 405", async () => {
    await start();
    const bad = await fake.webhookRequest({ serviceUrl: fake.serviceUrl, type: "message" });
    expect((await handle(bad)).status).toBe(400);
    const get = { ...(await fake.webhookRequest(fake.activity({ text: "x" }))), method: "GET" };
    expect((await handle(get)).status).toBe(405);
    expect(context.emitted).toEqual([]);
  });

  it("emits a personal message once, even when the Bot Connector redelivers it, and persists the reference 0600/0700", async () => {
    await start();
    const activity = fake.activity({ text: "hello bot" });
    const request = await fake.webhookRequest(activity);
    expect((await handle(request)).status).toBe(200);
    expect((await handle(await fake.webhookRequest(activity))).status).toBe(200);
    expect(context.emitted).toHaveLength(1);
    expect(context.emitted[0]).toMatchObject({
      id: activity.id,
      channel: "teams",
      conversationId: activity.conversation.id,
      peerId: activity.conversation.id,
      sender: { id: FAKE_TEAMS_USER.id, name: FAKE_TEAMS_USER.name },
      text: "hello bot",
    });
    const file = join(config.stateDir!, CONVERSATION_REFERENCES_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(config.stateDir!)).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(await readFile(file, "utf8"));
    expect(stored.conversations).toEqual([
      expect.objectContaining({
        conversationId: activity.conversation.id,
        serviceUrl: fake.serviceUrl,
        botId: fake.botId,
        conversationType: "personal",
      }),
    ]);
    expect(stored.users).toEqual([
      expect.objectContaining({ id: FAKE_TEAMS_USER.id, personalConversationId: activity.conversation.id }),
    ]);
  });

  it("strips the bot's @mention in channels and keeps thread replies as threads", async () => {
    await start();
    const root = fake.activity({ conversationType: "channel", text: "what's new?", mentionBot: true });
    await handle(await fake.webhookRequest(root));
    const reply = fake.activity({
      conversationType: "channel",
      text: "and also this",
      mentionBot: true,
      threadRoot: root.id,
    });
    await handle(await fake.webhookRequest(reply));
    expect(context.emitted).toEqual([
      expect.objectContaining({
        id: root.id,
        conversationId: FAKE_TEAMS_CHANNEL_ID,
        guildId: FAKE_TEAMS_TEAM_ID,
        text: "what's new?",
      }),
      expect.objectContaining({
        id: reply.id,
        conversationId: FAKE_TEAMS_CHANNEL_ID,
        threadId: root.id,
        replyTo: root.id,
        text: "and also this",
      }),
    ]);
    expect(context.emitted[0]!.threadId).toBeUndefined();
    // Answering the reply posts into its thread (the root's), with Bot Connector's reply operation.
    const sent = await plugin.send(FAKE_TEAMS_CHANNEL_ID, { text: "in the thread" }, { replyTo: reply.id });
    expect(fake.posts.at(-1)).toMatchObject({
      kind: "reply",
      conversationId: `${FAKE_TEAMS_CHANNEL_ID};messageid=${root.id}`,
      activityId: reply.id,
      id: sent.messageId,
      activity: { type: "message", text: "in the thread", replyToId: reply.id },
    });
    // A new post in the channel starts a new thread.
    await plugin.send(FAKE_TEAMS_CHANNEL_ID, { text: "announcement" });
    expect(fake.posts.at(-1)).toMatchObject({ kind: "create", conversationId: FAKE_TEAMS_CHANNEL_ID });
  });

  it("emits group chat messages and attachments (files and images, not the HTML copy of the text)", async () => {
    await start();
    const activity = fake.activity({
      conversationType: "groupChat",
      text: "see attached",
      attachments: [
        {
          contentType: "application/vnd.microsoft.teams.file.download.info",
          name: "report.pdf",
          content: { downloadUrl: "https://files.example/report.pdf", uniqueId: "1", fileType: "pdf" },
        },
        { contentType: "image/png", contentUrl: "https://smba.example/image.png", name: "image.png" },
        { contentType: "text/html", content: "<p>see attached</p>" },
      ],
    });
    await handle(await fake.webhookRequest(activity));
    expect(context.emitted[0]).toMatchObject({
      conversationId: FAKE_TEAMS_GROUP_CHAT_ID,
      text: "see attached",
      attachments: [
        { kind: "file", url: "https://files.example/report.pdf", filename: "report.pdf" },
        {
          kind: "image",
          url: "https://smba.example/image.png",
          mimeType: "image/png",
          filename: "image.png",
        },
      ],
    });
  });

  it("sends Markdown, images, and buttons as an Adaptive Card whose clicks come back as messages", async () => {
    await start();
    const activity = fake.activity({ text: "hi" });
    await handle(await fake.webhookRequest(activity));
    await plugin.send(activity.conversation.id, {
      text: "**Pick** one",
      format: "markdown",
      attachments: [{ kind: "image", url: "https://img.example/cat.png", mimeType: "image/png" }],
      buttons: [
        [
          { text: "Yes", callbackData: "answer:yes" },
          { text: "Docs", url: "https://docs.example" },
        ],
      ],
    });
    const post = fake.posts.at(-1)!;
    expect(post).toMatchObject({ kind: "create", conversationId: activity.conversation.id });
    expect(post.activity).toMatchObject({
      type: "message",
      text: "**Pick** one",
      textFormat: "markdown",
      attachments: [
        { contentType: "image/png", contentUrl: "https://img.example/cat.png" },
        {
          contentType: "application/vnd.microsoft.card.adaptive",
          content: {
            type: "AdaptiveCard",
            body: [
              {
                type: "ActionSet",
                actions: [
                  { type: "Action.Submit", title: "Yes", data: { openclawCallback: "answer:yes" } },
                  { type: "Action.OpenUrl", title: "Docs", url: "https://docs.example" },
                ],
              },
            ],
          },
        },
      ],
    });
    const click = fake.activity({ value: { openclawCallback: "answer:yes" } });
    await handle(await fake.webhookRequest(click));
    expect(context.emitted.at(-1)).toMatchObject({ id: click.id, text: "answer:yes" });
  });

  it("maps Bot Connector refusals: 429 with Retry-After, 401 with a credentials hint, 403 roster, 404", async () => {
    await start();
    const activity = fake.activity({ text: "hi" });
    await handle(await fake.webhookRequest(activity));
    const to = activity.conversation.id;
    fake.failNext({
      status: 429,
      headers: { "retry-after": "3" },
      body: { error: { code: "TooManyRequests" } },
    });
    await expect(plugin.send(to, { text: "a" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      retryAfterMs: 3000,
    });
    fake.failNext({ status: 403, body: { error: { code: "BotNotInConversationRoster", message: "gone" } } });
    await expect(plugin.send(to, { text: "c" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    fake.failNext({
      status: 404,
      body: { error: { code: "ConversationNotFound", message: "Conversation not found." } },
    });
    await expect(plugin.send(to, { text: "c" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    fake.failNext({ status: 502, body: "bad gateway" });
    await expect(plugin.send(to, { text: "d" })).rejects.toMatchObject({
      code: "PLATFORM_UNAVAILABLE",
      retryable: true,
    });
    fake.failNext({ status: 401, body: { message: "Authorization has been denied for this request." } });
    const denied = (await plugin.send(to, { text: "b" }).catch((e: unknown) => e)) as ChannelError;
    expect(denied).toMatchObject({ code: "AUTH_FAILED", retryable: false });
    expect(denied.message).toContain("appId and appPassword");
    fake.failNext({ status: 403, body: { error: { code: "Forbidden", message: "no" } } });
    await expect(plugin.send(to, { text: "b" })).rejects.toMatchObject({ code: "AUTH_FAILED" });
    expect(fake.sentTexts()).not.toContain("b");
    expect(plugin.status()).toMatchObject({ state: "down", lastError: { code: "AUTH_FAILED" } });
    // After the 401 the token was dropped: the next send fetches a new one and goes through.
    const tokensBefore = fake.issuedTokens.length;
    await plugin.send(to, { text: "e" });
    expect(fake.issuedTokens.length).toBe(tokensBefore + 1);
    expect(fake.sentTexts().at(-1)).toBe("e");
    expect(plugin.status().state).toBe("ready");
  });

  it("sends proactively after a restart, opens a 1:1 chat with a user seen in a channel, and refuses unknown recipients", async () => {
    await start();
    const dir = config.stateDir!;
    const personal = fake.activity({ text: "hi" });
    const bea: FakeTeamsUser = {
      id: "29:1fake-user-bea-0002",
      name: "Bea",
      aadObjectId: "b0b0b0b0-0000-4000-8000-0000000000b2",
    };
    const inChannel = fake.activity({
      conversationType: "channel",
      text: "hello",
      mentionBot: true,
      from: bea,
    });
    await handle(await fake.webhookRequest(personal));
    await handle(await fake.webhookRequest(inChannel));
    await plugin.destroy();

    // A new instance on the same state dir: nothing new has arrived.
    plugin = msteams.create() as ChannelPlugin<Config>;
    context = createTestContext("teams", config);
    await plugin.initialize({ ...config, stateDir: dir }, context);
    await plugin.send(personal.conversation.id, { text: "proactive to the chat" });
    expect(fake.posts.at(-1)).toMatchObject({ kind: "create", conversationId: personal.conversation.id });
    // By the user's Teams id, or Entra object id: their personal chat.
    await plugin.send(FAKE_TEAMS_USER.aadObjectId, { text: "proactive to Ana" });
    expect(fake.posts.at(-1)).toMatchObject({ kind: "create", conversationId: personal.conversation.id });
    // Bea was only seen in the channel: a 1:1 chat is created first, then remembered.
    await plugin.send(bea.id, { text: "proactive to Bea" });
    const opened = fake.posts.find((p) => p.kind === "conversation")!;
    expect(opened.activity).toMatchObject({
      bot: { id: fake.botId },
      members: [{ id: bea.id }],
      tenantId: fake.tenantId,
    });
    expect(fake.posts.at(-1)).toMatchObject({
      kind: "create",
      conversationId: opened.id,
      activity: { text: "proactive to Bea" },
    });
    await plugin.send(bea.id, { text: "again" });
    expect(fake.posts.filter((p) => p.kind === "conversation")).toHaveLength(1);

    const requests = fake.platform.requests.length;
    const unknown = await plugin.send("29:1never-seen", { text: "who?" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ChannelError);
    expect(unknown).toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      message: expect.stringContaining("29:1never-seen"),
    });
    expect((unknown as ChannelError).toProtocolError().code).toBe("NOT_FOUND");
    expect(fake.platform.requests.length).toBe(requests);
  });

  it("aborts a send in flight when the channel is destroyed", async () => {
    await start();
    const activity = fake.activity({ text: "hi" });
    await handle(await fake.webhookRequest(activity));
    fake.platform.route("POST /teams/v3/conversations/*", () => new Promise<undefined>(() => {}));
    const pending = plugin.send(activity.conversation.id, { text: "never answered" });
    await fake.platform.waitFor((r) => r.method === "POST" && r.path.endsWith("/activities"));
    await plugin.destroy();
    await expect(pending).rejects.toBeInstanceOf(ChannelError);
  });

  it("emits a message once when the same activity arrives twice at the same time", async () => {
    await start();
    const activity = fake.activity({ text: "twice" });
    const [a, b] = await Promise.all([
      fake.webhookRequest(activity).then(handle),
      fake.webhookRequest(activity).then(handle),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(context.emitted).toHaveLength(1);
  });

  it("keeps references in memory without a stateDir, bounded by maxConversationReferences", async () => {
    config = fake.config({ maxConversationReferences: 2 });
    plugin = msteams.create() as ChannelPlugin<Config>;
    context = createTestContext("teams", config);
    await plugin.initialize(config, context);
    expect(context.logs.some((l) => l.level === "warn" && l.message.includes("stateDir"))).toBe(true);
    const users = ["29:1u1", "29:1u2", "29:1u3"].map((id, i) => ({
      id,
      name: `U${i}`,
      aadObjectId: `00000000-0000-4000-8000-00000000000${i}`,
    }));
    const activities = users.map((from) => fake.activity({ text: "hi", from }));
    for (const activity of activities) await handle(await fake.webhookRequest(activity));
    expect(plugin.status().details).toMatchObject({ conversations: 2, users: 2, persisted: false });
    await expect(plugin.send(activities[0]!.conversation.id, { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
    await plugin.send(activities[2]!.conversation.id, { text: "y" });
  });
});
