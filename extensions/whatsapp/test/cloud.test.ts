import { createHmac } from "node:crypto";
import { ChannelError } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, webhookRequest } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type WhatsAppConfig, whatsappChannel } from "../src/index";
import { FakeWhatsAppCloud, graphErrors } from "../src/testing";

// The cloud transport must not pay for Baileys: any import of it in this file's runs fails loudly.
vi.mock("baileys", () => {
  throw new Error("baileys was imported although the transport is cloud");
});

const PHONE_ID = "106540352242922";
const TOKEN = "EAAGfakeAccessTokenForTests0123456789";
const SECRET = "app-secret-0123456789abcdef";

/** A raw text body signed with the app secret, as Meta signs (for bodies that are not JSON). */
const signedText = (text: string) =>
  webhookRequest({
    body: text,
    headers: { "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(text).digest("hex")}` },
  });

/** The messages of a webhook body built by the fake. */
const messagesOf = (body: Record<string, unknown>) =>
  (body as { entry: Array<{ changes: Array<{ value: { messages: unknown[] } }> }> }).entry[0]!.changes[0]!
    .value.messages;
const VERIFY = "verify-token-0123";
const USER = "16505551234";
let fake: FakeWhatsAppCloud | undefined;

const config = (overrides: Partial<WhatsAppConfig> = {}): WhatsAppConfig =>
  ({
    phoneNumberId: PHONE_ID,
    accessToken: TOKEN,
    appSecret: SECRET,
    verifyToken: VERIFY,
    graphApiUrl: fake!.url,
    ...overrides,
  }) as WhatsAppConfig;

runChannelConformance<WhatsAppConfig>({
  name: "whatsapp (cloud)",
  createPlugin: () => whatsappChannel.create(),
  invalidConfig: { transport: "cloud", phoneNumberId: "not-a-number" },
  platform: {
    async start() {
      fake = await FakeWhatsAppCloud.start({
        phoneNumberId: PHONE_ID,
        accessToken: TOKEN,
        appSecret: SECRET,
      });
      return { config: config(), recipient: USER };
    },
    stop: async () => fake?.close(),
    async injectInbound(text) {
      const { id, body } = fake!.textFrom(text);
      return {
        webhook: fake!.signed(body),
        expected: { id, conversationId: USER, sender: { id: USER, name: "Ana" } },
      };
    },
    forgedWebhook: () => fake!.signed(fake!.textFrom("forged").body, "not-the-app-secret-0123"),
    rateLimitNextSend: (ms) => fake!.failNextSend(graphErrors.rateLimited(130429, ms / 1000)),
    sentTexts: () => fake?.sentTexts() ?? [],
  },
});

describe("whatsapp cloud specifics", () => {
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const started = async (overrides: Partial<WhatsAppConfig> = {}) => {
    fake = await FakeWhatsAppCloud.start({ phoneNumberId: PHONE_ID, accessToken: TOKEN, appSecret: SECRET });
    const plugin = whatsappChannel.create();
    const ctx = createTestContext("whatsapp", config(overrides));
    await plugin.initialize(config(overrides), ctx);
    return { plugin, ctx };
  };

  it("answers Meta's verification GET with the challenge, and refuses a wrong verify token or mode", async () => {
    const { plugin } = await started();
    const get = (query: Record<string, string>) =>
      plugin.handleWebhook!(webhookRequest({ method: "GET", body: "", query }));
    const ok = await get({
      "hub.mode": "subscribe",
      "hub.verify_token": VERIFY,
      "hub.challenge": "1158201444",
    });
    expect(ok).toMatchObject({ status: 200, body: "1158201444" });
    expect(
      (await get({ "hub.mode": "subscribe", "hub.verify_token": "wrong-token-0", "hub.challenge": "1" }))
        .status,
    ).toBe(403);
    expect(
      (await get({ "hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1" })).status,
    ).toBe(403);
    expect((await get({ "hub.mode": "subscribe", "hub.challenge": "1" })).status).toBe(403);
    expect((await get({ "hub.mode": "subscribe", "hub.verify_token": VERIFY })).status).toBe(400);
    await plugin.destroy();
  });

  it("refuses unsigned, malformed and wrongly signed POSTs", async () => {
    const { plugin, ctx } = await started();
    const body = fake!.textFrom("hi").body;
    const text = JSON.stringify(body);
    const cases = [
      webhookRequest({ body: text }),
      webhookRequest({ body: text, headers: { "x-hub-signature-256": "sha1=abc" } }),
      webhookRequest({ body: text, headers: { "x-hub-signature-256": `sha256=${"0".repeat(64)}` } }),
      fake!.signed(body, "another-secret-0123456789"),
    ];
    for (const request of cases) expect((await plugin.handleWebhook!(request)).status).toBe(401);
    // The signature covers the raw bytes: a re-serialised body no longer matches.
    const signed = fake!.signed(body);
    const tampered = { ...signed, body: new TextEncoder().encode(JSON.stringify(body, null, 1)) };
    expect((await plugin.handleWebhook!(tampered)).status).toBe(401);
    expect(ctx.emitted).toEqual([]);
    await plugin.destroy();
  });

  it("answers a signed but malformed webhook 200 (Meta redelivers anything else for 7 days), dropping and logging it", async () => {
    const { plugin, ctx } = await started();
    const good = fake!.textFrom("fine", USER, "Ana").body;
    const message = { from: USER, id: "wamid.BAD", timestamp: "1764000000", type: "text" };
    const malformed: unknown[] = [
      "{not json",
      { object: "page", entry: [] },
      fake!.webhookBody({ messages: "nope" as unknown as unknown[] }),
      fake!.webhookBody({ contacts: 5 as unknown as unknown[], messages: [] }),
      fake!.webhookBody({ messages: [{ ...message, text: { body: 5 } }] }),
      fake!.webhookBody({ messages: [{ ...message, id: "wamid.BAD2", type: "image", image: "x" }] }),
    ];
    for (const body of malformed) {
      const response = await plugin.handleWebhook!(
        typeof body === "string" ? signedText(body) : fake!.signed(body),
      );
      expect(response.status, JSON.stringify(body)).toBe(200);
    }
    expect(ctx.emitted).toEqual([]);
    expect(
      ctx.logs.filter((l) => l.message.startsWith("malformed WhatsApp webhook dropped")).length,
    ).toBeGreaterThanOrEqual(malformed.length);
    // A malformed message does not take the good one next to it down.
    const both = fake!.webhookBody({
      messages: [{ ...message, id: "wamid.BAD3", text: { body: 5 } }, messagesOf(good)[0]],
    });
    expect((await plugin.handleWebhook!(fake!.signed(both))).status).toBe(200);
    expect(ctx.emitted.map((m) => m.text)).toEqual(["fine"]);
    await plugin.destroy();
  });

  it("emits a redelivered message once, with replies, reactions and button replies normalised", async () => {
    const { plugin, ctx } = await started();
    const first = fake!.textFrom("question", USER, "Ana");
    expect((await plugin.handleWebhook!(fake!.signed(first.body))).status).toBe(200);
    expect((await plugin.handleWebhook!(fake!.signed(first.body))).status).toBe(200);
    const reply = fake!.textFrom("answer", USER, "Ana", "wamid.PREVIOUS");
    await plugin.handleWebhook!(fake!.signed(reply.body));
    const more = fake!.webhookBody({
      contacts: [{ profile: { name: "Ana" }, wa_id: USER }],
      messages: [
        {
          from: USER,
          id: "wamid.R1",
          timestamp: "1764000100",
          type: "reaction",
          reaction: { message_id: "wamid.OUT1", emoji: "👍" },
        },
        {
          from: USER,
          id: "wamid.R2",
          timestamp: "1764000101",
          type: "reaction",
          reaction: { message_id: "wamid.OUT1" },
        },
        {
          from: USER,
          id: "wamid.B1",
          timestamp: "1764000102",
          type: "interactive",
          interactive: { type: "button_reply", button_reply: { id: "yes", title: "Yes" } },
        },
        {
          from: USER,
          id: "wamid.U1",
          timestamp: "1764000103",
          type: "unsupported",
          errors: [{ code: 131051 }],
        },
      ],
    });
    expect((await plugin.handleWebhook!(fake!.signed(more))).status).toBe(200);
    expect(ctx.emitted.map((m) => [m.id, m.text, m.replyTo])).toEqual([
      [first.id, "question", undefined],
      [reply.id, "answer", "wamid.PREVIOUS"],
      ["wamid.R1", "👍", "wamid.OUT1"],
      ["wamid.B1", "Yes", undefined],
    ]);
    expect(ctx.emitted[0]).toMatchObject({
      conversationId: USER,
      peerId: USER,
      accountId: PHONE_ID,
      sender: { id: USER, name: "Ana" },
      timestamp: 1_764_000_000_000,
    });
    await plugin.destroy();
  });

  it("fetches inbound media (GET /{media-id}, then its URL with the token) into the message", async () => {
    const { plugin, ctx } = await started({ maxMediaBytes: 64 });
    const small = fake!.addMedia(Buffer.from("tiny fake jpeg bytes"), "image/jpeg");
    const big = fake!.addMedia(Buffer.from("x".repeat(200)), "application/pdf");
    const body = fake!.webhookBody({
      contacts: [{ profile: { name: "Ana" }, wa_id: USER }],
      messages: [
        {
          from: USER,
          id: "wamid.M1",
          timestamp: "1764000000",
          type: "image",
          image: { id: small.id, mime_type: "image/jpeg", sha256: small.sha256, caption: "look" },
        },
        {
          from: USER,
          id: "wamid.M2",
          timestamp: "1764000001",
          type: "document",
          document: { id: big.id, mime_type: "application/pdf", filename: "big.pdf" },
        },
      ],
    });
    expect((await plugin.handleWebhook!(fake!.signed(body))).status).toBe(200);
    expect(ctx.emitted[0]).toMatchObject({
      id: "wamid.M1",
      text: "look",
      attachments: [
        {
          kind: "image",
          mimeType: "image/jpeg",
          data: Buffer.from("tiny fake jpeg bytes").toString("base64"),
          sizeBytes: 20,
        },
      ],
    });
    expect(ctx.emitted[1]?.attachments?.[0]).toMatchObject({
      kind: "file",
      filename: "big.pdf",
      sizeBytes: 200,
      url: `${fake!.url}/media-download/${big.id}`,
    });
    expect(ctx.emitted[1]?.attachments?.[0]?.data).toBeUndefined();
    const downloads = fake!.requests.filter((r) => r.path.startsWith("/media-download/"));
    expect(downloads.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}`]);
    // A transient failure of the media lookup answers 503, so Meta redelivers; nothing is emitted twice.
    const retried = fake!.webhookBody({
      messages: [{ from: USER, id: "wamid.M3", timestamp: "1", type: "image", image: { id: small.id } }],
    });
    fake!.platform.failNext({
      status: 500,
      body: { error: { message: "(#131000) Something went wrong", code: 131000 } },
    });
    expect((await plugin.handleWebhook!(fake!.signed(retried))).status).toBe(503);
    expect(ctx.emitted).toHaveLength(2);
    expect((await plugin.handleWebhook!(fake!.signed(retried))).status).toBe(200);
    expect(ctx.emitted.map((m) => m.id)).toEqual(["wamid.M1", "wamid.M2", "wamid.M3"]);
    // Media that is gone for good (unknown id) does not block the message.
    const gone = fake!.webhookBody({
      messages: [{ from: USER, id: "wamid.M4", timestamp: "1", type: "audio", audio: { id: "999" } }],
    });
    expect((await plugin.handleWebhook!(fake!.signed(gone))).status).toBe(200);
    expect(ctx.emitted.at(-1)).toMatchObject({ id: "wamid.M4", text: "[audio unavailable]" });
    expect(ctx.emitted.at(-1)?.attachments).toBeUndefined();
    await plugin.destroy();
  });

  it("reports delivery and read statuses in the status details and logs, never as messages", async () => {
    const { plugin, ctx } = await started();
    const statuses = ["sent", "delivered", "read"].map((status, i) => ({
      id: "wamid.OUT1",
      status,
      timestamp: String(1764000000 + i),
      recipient_id: USER,
    }));
    statuses.push({
      id: "wamid.OUT2",
      status: "failed",
      timestamp: "1764000009",
      recipient_id: USER,
      errors: [{ code: 131047, title: "Re-engagement message" }],
    } as never);
    expect((await plugin.handleWebhook!(fake!.signed(fake!.webhookBody({ statuses })))).status).toBe(200);
    expect(ctx.emitted).toEqual([]);
    expect(plugin.status().details).toMatchObject({
      statuses: { sent: 1, delivered: 1, read: 1, failed: 1 },
      lastStatus: { messageId: "wamid.OUT2", status: "failed", error: { code: 131047 } },
    });
    expect(ctx.logs.some((l) => l.level === "warn" && l.fields?.code === 131047)).toBe(true);
    await plugin.destroy();
  });

  it("refuses free-form messages outside the 24-hour window with a final error naming the template requirement", async () => {
    const { plugin } = await started();
    fake!.closedWindows.add(USER);
    const error = await plugin.send(USER, { text: "are you there?" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelError);
    expect(error).toMatchObject({ code: "UNSUPPORTED_CONTENT", platformCode: 131047, retryable: false });
    expect((error as Error).message).toMatch(/24-hour.*template/s);
    expect(fake!.messages).toEqual([]);
    await plugin.destroy();
  });

  it("sends the configured template when the window is closed, and templates on request", async () => {
    const { plugin } = await started({
      templates: {
        followup: { name: "follow_up_reply", language: "en_US", bodyParameters: 1 },
        hello: { name: "hello_world", language: "en_US", bodyParameters: 0 },
        order: { name: "order_update", language: "de_DE", bodyParameters: 2 },
      },
      windowClosedTemplate: "followup",
    });
    fake!.closedWindows.add(USER);
    const result = await plugin.send(USER, { text: "your order\nshipped" });
    expect(result.messageId).toMatch(/^wamid\./);
    expect(fake!.messages.at(-1)).toEqual({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: USER,
      type: "template",
      template: {
        name: "follow_up_reply",
        language: { code: "en_US" },
        components: [{ type: "body", parameters: [{ type: "text", text: "your order shipped" }] }],
      },
    });
    await plugin.send(USER, { text: "/template hello" });
    expect(fake!.messages.at(-1)?.template).toEqual({ name: "hello_world", language: { code: "en_US" } });
    await plugin.send(USER, { text: "/template order 4711 | Friday" });
    expect(fake!.messages.at(-1)?.template).toMatchObject({
      components: [{ parameters: [{ text: "4711" }, { text: "Friday" }] }],
    });
    await expect(plugin.send(USER, { text: "/template order 4711" })).rejects.toMatchObject({
      code: "UNSUPPORTED_CONTENT",
    });
    await expect(plugin.send(USER, { text: "/template nope" })).rejects.toMatchObject({
      code: "UNSUPPORTED_CONTENT",
    });
    await plugin.destroy();
  });

  it("sends replies, interactive buttons, media by link and by upload", async () => {
    const { plugin } = await started();
    await plugin.send(USER, { text: "re" }, { replyTo: "wamid.IN1" });
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "text",
      text: { body: "re" },
      context: { message_id: "wamid.IN1" },
    });
    await plugin.send(USER, {
      text: "pick",
      buttons: [[{ text: "Yes", callbackData: "y" }, { text: "No" }]],
    });
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "interactive",
      interactive: {
        type: "button",
        body: { text: "pick" },
        action: {
          buttons: [
            { type: "reply", reply: { id: "y", title: "Yes" } },
            { type: "reply", reply: { id: "No", title: "No" } },
          ],
        },
      },
    });
    await plugin.send(USER, { text: "docs", buttons: [[{ text: "Open", url: "https://docs.example" }]] });
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "interactive",
      interactive: {
        type: "cta_url",
        action: { name: "cta_url", parameters: { display_text: "Open", url: "https://docs.example" } },
      },
    });
    const many = [[{ text: "a" }, { text: "b" }, { text: "c" }, { text: "d" }]];
    await plugin.send(USER, { text: "four", buttons: many });
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "text",
      text: { body: "four\n\n• a\n• b\n• c\n• d" },
    });
    await plugin.send(USER, {
      text: "chart",
      attachments: [{ kind: "image", url: "https://img.example/c.png" }],
    });
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "image",
      image: { link: "https://img.example/c.png", caption: "chart" },
    });
    const data = Buffer.from("report body").toString("base64");
    await plugin.send(USER, {
      attachments: [{ kind: "file", data, filename: "r.txt", mimeType: "text/plain" }],
    });
    expect(fake!.uploads).toHaveLength(1);
    expect(fake!.uploads[0]?.contentType).toMatch(/^multipart\/form-data/);
    expect(fake!.messages.at(-1)).toMatchObject({
      type: "document",
      document: { id: expect.any(String), filename: "r.txt" },
    });
    await expect(plugin.send("not a number", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
    await plugin.destroy();
  });

  it("maps rate limits (130429, 131056, 80007) to RATE_LIMITED, server errors to retryable ones", async () => {
    const { plugin } = await started({ rateLimitRetryMs: 7000 });
    fake!.failNextSend(
      graphErrors.rateLimited(131056),
      graphErrors.rateLimited(80007),
      graphErrors.rateLimited(130429, 3),
    );
    await expect(plugin.send(USER, { text: "1" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      retryAfterMs: 7000,
      platformCode: 131056,
    });
    await expect(plugin.send(USER, { text: "2" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      platformCode: 80007,
    });
    await expect(plugin.send(USER, { text: "3" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      retryAfterMs: 3000,
    });
    fake!.failNextSend({
      status: 500,
      body: { error: { message: "(#131000) Something went wrong", code: 131000 } },
    });
    const error = (await plugin.send(USER, { text: "4" }).catch((e: unknown) => e)) as ChannelError;
    expect(error).toMatchObject({ code: "PLATFORM_UNAVAILABLE", retryable: true });
    expect(plugin.status().state).toBe("degraded");
    await plugin.send(USER, { text: "5" });
    expect(plugin.status().state).toBe("ready");
    await plugin.destroy();
  });

  it("fails to start with AUTH_FAILED on a refused token, and PLATFORM_UNAVAILABLE when Graph is unreachable", async () => {
    fake = await FakeWhatsAppCloud.start({ phoneNumberId: PHONE_ID, accessToken: TOKEN, appSecret: SECRET });
    const refused = whatsappChannel.create();
    const bad = config({ accessToken: "EAAGanotherTokenThatIsWrong0123" });
    await expect(refused.initialize(bad, createTestContext("whatsapp", bad))).rejects.toMatchObject({
      code: "AUTH_FAILED",
    });
    expect(refused.status().state).toBe("down");
    const url = fake.url;
    await fake.close();
    fake = undefined;
    const unreachable = whatsappChannel.create();
    const cfg = { ...bad, accessToken: TOKEN, graphApiUrl: url, requestTimeoutMs: 2000 };
    await expect(unreachable.initialize(cfg, createTestContext("whatsapp", cfg))).rejects.toMatchObject({
      code: "PLATFORM_UNAVAILABLE",
    });
  });

  it("validates settings: the cloud transport needs its credentials; the template names must exist", async () => {
    fake = await FakeWhatsAppCloud.start({ phoneNumberId: PHONE_ID, accessToken: TOKEN, appSecret: SECRET });
    const attempt = (cfg: unknown) =>
      whatsappChannel
        .create()
        .initialize(cfg as WhatsAppConfig, createTestContext("whatsapp", cfg as WhatsAppConfig));
    await expect(attempt({ phoneNumberId: PHONE_ID })).rejects.toMatchObject({ code: "INVALID_CONFIG" });
    await expect(attempt(config({ windowClosedTemplate: "missing" }))).rejects.toMatchObject({
      code: "INVALID_CONFIG",
    });
  });
});
