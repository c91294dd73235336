import { ChannelError, type ChannelPlugin } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, type TestContext } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type DiscordConfig, discordChannel } from "../src/index";
import {
  FAKE_CHANNEL_ID,
  FAKE_DM_CHANNEL_ID,
  FAKE_GUILD_ID,
  FAKE_USER,
  FakeDiscord,
  type FakeDiscordOptions,
} from "../src/testing";

const TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GfakeX.fake-token-for-tests-0123456789abcdef";
let fake: FakeDiscord | undefined;

const config = (overrides: Partial<DiscordConfig> = {}): DiscordConfig => ({
  botToken: TOKEN,
  publicKey: fake!.publicKey,
  apiRoot: fake!.apiRoot,
  maxRateLimitWaitMs: 1000,
  requestTimeoutMs: 5000,
  readyTimeoutMs: 5000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 1000,
  signatureToleranceSeconds: 300,
  maxPendingInteractions: 100,
  interactionReplyTimeoutMs: 60_000,
  unansweredInteractionText: "No answer came for this one.",
  ignoreBots: true,
  ...overrides,
});

runChannelConformance<DiscordConfig>({
  name: "discord",
  createPlugin: () => discordChannel.create(),
  invalidConfig: { botToken: "not-a-token" },
  platform: {
    async start() {
      fake = await FakeDiscord.start({ token: TOKEN });
      return { config: config(), recipient: FAKE_CHANNEL_ID };
    },
    async stop() {
      await fake?.close();
    },
    async injectInbound(text) {
      const message = fake!.inject(text);
      return {
        expected: {
          id: String(message.id),
          conversationId: FAKE_CHANNEL_ID,
          guildId: FAKE_GUILD_ID,
          sender: { id: FAKE_USER.id, name: "Ana", username: "ana", isBot: false },
        },
      };
    },
    forgedWebhook: () => fake!.interaction({ type: 2, data: { name: "ask" } }, "bad").request,
    rateLimitNextSend(retryAfterMs) {
      fake!.failNextSend({
        status: 429,
        headers: { "retry-after": String(retryAfterMs / 1000), "x-ratelimit-scope": "user" },
        body: { message: "You are being rate limited.", retry_after: retryAfterMs / 1000, global: false },
      });
    },
    sentTexts: () => fake?.sentTexts() ?? [],
  },
});

describe("discord plugin against the fake Discord", () => {
  let plugin: ChannelPlugin<DiscordConfig>;
  let context: TestContext<DiscordConfig>;

  const until = (predicate: () => boolean, what: string, timeoutMs = 5000) =>
    vi.waitFor(
      () => {
        if (!predicate()) throw new Error(`timed out waiting for ${what}`);
      },
      { timeout: timeoutMs, interval: 10 },
    );

  const start = async (
    options: Partial<FakeDiscordOptions> = {},
    overrides: Partial<DiscordConfig> = {},
  ): Promise<void> => {
    fake = await FakeDiscord.start({ token: TOKEN, ...options });
    plugin = discordChannel.create();
    context = createTestContext("discord", config(overrides));
    await plugin.initialize(context.config, context);
  };

  afterEach(async () => {
    await plugin?.destroy();
    context?.abort();
    await fake?.close();
    fake = undefined;
  });

  it("identifies with the intents for guild messages, DMs and message content", async () => {
    await start();
    const identify = fake!.received.find((p) => p.op === 2);
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    expect(identify?.d).toMatchObject({ intents: 1 | 512 | 4096 | 32768 });
    expect(plugin.status()).toMatchObject({ state: "ready", details: { bot: "openclaw", guilds: 1 } });
  });

  it("carries the guild id of guild messages, and none for DMs; skips bots and itself", async () => {
    await start();
    const guildMessage = fake!.inject("in the guild");
    fake!.inject("beep", { author: { id: "1100000000000000099", username: "otherbot", bot: true } });
    const dm = fake!.inject("in private", {
      channelId: FAKE_DM_CHANNEL_ID,
      replyTo: String(guildMessage.id),
    });
    await until(() => context.emitted.length === 2, "two messages");
    // A later message arrives after anything the bot's message could still cause.
    fake!.inject("sentinel");
    await until(() => context.emitted.some((m) => m.text === "sentinel"), "the sentinel");
    expect(context.emitted).toHaveLength(3);
    expect(context.emitted[0]).toMatchObject({ guildId: FAKE_GUILD_ID, conversationId: FAKE_CHANNEL_ID });
    expect(context.emitted[1]).toMatchObject({
      id: String(dm.id),
      conversationId: FAKE_DM_CHANNEL_ID,
      replyTo: String(guildMessage.id),
      text: "in private",
    });
    expect(context.emitted[1]!.guildId).toBeUndefined();
  });

  it("sends DMs to user:<id>, replies, buttons, embeds and uploads", async () => {
    await start();
    const dm = await plugin.send(`user:${FAKE_USER.id}`, { text: "hi in private" });
    expect(dm.messageId).toMatch(/^\d+$/);
    expect(
      fake!.calls.some((c) => c.route === "/users/@me/channels" && c.body.recipient_id === FAKE_USER.id),
    ).toBe(true);
    await plugin.send(
      FAKE_CHANNEL_ID,
      {
        text: "**pick one**",
        format: "markdown",
        buttons: [
          [
            { text: "Yes", callbackData: "vote:yes" },
            { text: "Docs", url: "https://docs.example" },
          ],
        ],
        attachments: [
          { kind: "image", url: "https://img.example/cat.png" },
          { kind: "file", data: Buffer.from("hello").toString("base64"), filename: "hello.txt" },
        ],
      },
      { replyTo: "1200000000000000001" },
    );
    const [first, second] = fake!.messages();
    expect(first!.route).toBe(`/channels/${FAKE_DM_CHANNEL_ID}/messages`);
    expect(second!.body).toMatchObject({
      content: "**pick one**",
      message_reference: { message_id: "1200000000000000001", fail_if_not_exists: false },
      embeds: [{ image: { url: "https://img.example/cat.png" } }],
      components: [
        {
          type: 1,
          components: [
            { type: 2, style: 1, label: "Yes", custom_id: "vote:yes" },
            { type: 2, style: 5, label: "Docs", url: "https://docs.example" },
          ],
        },
      ],
      allowed_mentions: { parse: ["users"], replied_user: true },
    });
    expect(second!.files).toEqual(["hello.txt"]);
  });

  it("honours the X-RateLimit headers: a burst waits for the bucket instead of hitting 429", async () => {
    await start({ messageBucket: { limit: 2, windowMs: 400 } });
    const began = Date.now();
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => plugin.send(FAKE_CHANNEL_ID, { text: `burst ${n}` })),
    );
    expect(results).toHaveLength(5);
    expect(fake!.calls.filter((c) => c.status === 429)).toEqual([]);
    expect(fake!.sentTexts().sort()).toEqual(["burst 1", "burst 2", "burst 3", "burst 4", "burst 5"]);
    // Five sends through a bucket of two per 400 ms need at least two resets.
    expect(Date.now() - began).toBeGreaterThanOrEqual(800);
  });

  it("waits out a short 429 and retries; a long one is RATE_LIMITED with Discord's retry_after", async () => {
    await start({}, { maxRateLimitWaitMs: 2000 });
    fake!.failNextSend({
      status: 429,
      headers: { "retry-after": "0.3" },
      body: { message: "You are being rate limited.", retry_after: 0.3, global: false },
    });
    await plugin.send(FAKE_CHANNEL_ID, { text: "patient" });
    expect(fake!.calls.filter((c) => c.route.endsWith("/messages")).map((c) => c.status)).toEqual([429, 200]);
    fake!.failNextSend({
      status: 429,
      headers: { "retry-after": "30" },
      body: { message: "You are being rate limited.", retry_after: 30, global: false },
    });
    const error = await plugin.send(FAKE_CHANNEL_ID, { text: "impatient" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 30_000 });
  });

  it("maps Discord's errors to typed channel errors", async () => {
    await start();
    await expect(plugin.send("1100000000000000777", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      platformCode: 10003,
    });
    await expect(plugin.send("#general", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
    fake!.failNextSend({ status: 403, body: { message: "Missing Access", code: 50001 } });
    await expect(plugin.send(FAKE_CHANNEL_ID, { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
    fake!.failNextSend({ status: 400, body: { message: "Invalid Form Body", code: 50035 } });
    await expect(plugin.send(FAKE_CHANNEL_ID, { text: "x" })).rejects.toMatchObject({
      code: "UNSUPPORTED_CONTENT",
    });
    fake!.failNextSend(...Array.from({ length: 4 }, () => ({ status: 502, body: "Bad Gateway" })));
    const error = await plugin.send(FAKE_CHANNEL_ID, { text: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect(error).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    expect(plugin.status().state).toBe("degraded");
    await plugin.send(FAKE_CHANNEL_ID, { text: "better now" });
    expect(plugin.status().state).toBe("ready");
  });

  it("posts once for a repeated idempotency key (an enforced nonce)", async () => {
    await start();
    const first = await plugin.send(FAKE_CHANNEL_ID, { text: "once" }, { idempotencyKey: "delivery-1" });
    const again = await plugin.send(FAKE_CHANNEL_ID, { text: "once" }, { idempotencyKey: "delivery-1" });
    expect(again.messageId).toBe(first.messageId);
    expect(fake!.sentTexts()).toEqual(["once"]);
    const posts = fake!.calls.filter((c) => c.route.endsWith("/messages"));
    expect(posts.map((c) => c.body.enforce_nonce)).toEqual([true, true]);
    expect(posts[0]!.body.nonce).toBe(posts[1]!.body.nonce);
    expect(String(posts[0]!.body.nonce).length).toBeLessThanOrEqual(25);
  });

  it("refuses a wrong token at start with AUTH_FAILED", async () => {
    fake = await FakeDiscord.start({ token: TOKEN });
    plugin = discordChannel.create();
    const bad = config({ botToken: "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GfakeX.this-is-not-the-right-token-000" });
    context = createTestContext("discord", bad);
    const error = await plugin.initialize(bad, context).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "AUTH_FAILED" });
    expect(plugin.status()).toMatchObject({ state: "down", lastError: { code: "AUTH_FAILED" } });
  });

  it("resumes after a dropped socket and gets the events it missed, once", async () => {
    await start();
    const session = fake!.sessionId;
    fake!.dropConnections(4000);
    const missed = fake!.inject("while you were away");
    await until(() => context.emitted.length === 1, "the missed message");
    expect(context.emitted[0]).toMatchObject({ id: String(missed.id), text: "while you were away" });
    const resume = fake!.received.find((p) => p.op === 6);
    expect(resume?.d).toMatchObject({ session_id: session, token: TOKEN });
    expect(fake!.received.filter((p) => p.op === 2)).toHaveLength(1);
    expect(context.statuses).toContain("degraded");
    await until(() => plugin.status().state === "ready", "ready again");
    fake!.inject("after the resume");
    await until(() => context.emitted.length === 2, "the next message");
    expect(context.emitted.map((m) => m.text)).toEqual(["while you were away", "after the resume"]);
  });

  it("detects a zombie connection (heartbeats not acknowledged) and resumes", async () => {
    await start({ heartbeatIntervalMs: 150 });
    fake!.ackHeartbeats = false;
    await until(() => fake!.connections >= 2, "a new connection", 5000);
    fake!.ackHeartbeats = true;
    await until(() => fake!.received.some((p) => p.op === 6), "a RESUME");
    await until(() => plugin.status().state === "ready", "ready again");
    fake!.inject("still here");
    await until(() => context.emitted.length === 1, "a message after the resume");
  });

  it("logs in again with backoff after Discord ends the session for good", async () => {
    await start();
    fake!.dropConnections(4011); // sharding required: discord.js gives up on this session
    await until(() => plugin.status().state === "down", "down");
    await until(() => fake!.received.filter((p) => p.op === 2).length === 2, "a second IDENTIFY");
    await until(() => plugin.status().state === "ready", "ready again");
    fake!.inject("new session");
    await until(() => context.emitted.length === 1, "a message in the new session");
  });

  describe("interactions over HTTP", () => {
    it("answers PING, defers commands and answers them with the next reply", async () => {
      await start();
      const ping = await plugin.handleWebhook!(fake!.interaction({ type: 1 }).request);
      expect(ping).toMatchObject({ status: 200, body: { type: 1 } });
      const command = fake!.interaction({
        type: 2,
        data: { name: "ask", options: [{ name: "question", type: 3, value: "what time is it" }] },
      });
      const response = await plugin.handleWebhook!(command.request);
      expect(response).toMatchObject({ status: 200, body: { type: 5 } });
      expect(context.emitted).toHaveLength(1);
      expect(context.emitted[0]).toMatchObject({
        id: command.id,
        text: "/ask what time is it",
        guildId: FAKE_GUILD_ID,
        conversationId: FAKE_CHANNEL_ID,
        sender: { id: FAKE_USER.id, username: "ana" },
      });
      const sent = await plugin.send(FAKE_CHANNEL_ID, { text: "noon" }, { replyTo: command.id });
      expect(sent.messageId).toMatch(/^\d+$/);
      expect(fake!.followUps().map((c) => c.body.content)).toEqual(["noon"]);
      expect(fake!.messages()).toEqual([]);
      const click = fake!.interaction({ type: 3, data: { custom_id: "vote:yes", component_type: 2 } });
      await plugin.handleWebhook!(click.request);
      expect(context.emitted[1]).toMatchObject({ id: click.id, text: "vote:yes" });
    });

    it("closes an interaction nobody answers with the configured text, and only that one", async () => {
      await start({}, { interactionReplyTimeoutMs: 300, unansweredInteractionText: "Nobody home." });
      const answered = fake!.interaction({ type: 2, data: { name: "ask" } });
      const ignored = fake!.interaction({ type: 2, data: { name: "ask" } });
      await plugin.handleWebhook!(answered.request);
      await plugin.handleWebhook!(ignored.request);
      await plugin.send(FAKE_CHANNEL_ID, { text: "here you are" }, { replyTo: answered.id });
      await until(() => fake!.followUps().length === 2, "the unanswered interaction closed");
      expect(fake!.followUps().map((c) => [c.route, c.body.content])).toEqual([
        [expect.stringContaining(`interaction-token-${answered.id}`), "here you are"],
        [expect.stringContaining(`interaction-token-${ignored.id}`), "Nobody home."],
      ]);
      // Nothing more comes later, and a stopped channel leaves no timer behind.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(fake!.followUps()).toHaveLength(2);
      const late = fake!.interaction({ type: 2, data: { name: "ask" } });
      await plugin.handleWebhook!(late.request);
      await plugin.destroy();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(fake!.followUps()).toHaveLength(2);
    });

    it("refuses bad signatures, stale timestamps and garbage with 4xx, emitting nothing", async () => {
      await start();
      const forged = await plugin.handleWebhook!(fake!.interaction({ type: 1 }, "bad").request);
      expect(forged.status).toBe(401);
      const { request } = fake!.interaction({ type: 1 });
      const unsigned = await plugin.handleWebhook!({ ...request, headers: {} });
      expect(unsigned).toMatchObject({ status: 401, body: { error: { code: "UNAUTHORIZED" } } });
      const stale = { ...request, headers: { ...request.headers, "x-signature-timestamp": "1000000000" } };
      expect((await plugin.handleWebhook!(stale)).status).toBe(401);
      expect(context.emitted).toEqual([]);
    });

    it("takes no interactions without a public key", async () => {
      fake = await FakeDiscord.start({ token: TOKEN });
      plugin = discordChannel.create();
      const { publicKey: _none, ...rest } = config();
      context = createTestContext("discord", rest as DiscordConfig);
      await plugin.initialize(context.config, context);
      const response = await plugin.handleWebhook!(fake.interaction({ type: 1 }).request);
      expect(response).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
    });
  });
});
