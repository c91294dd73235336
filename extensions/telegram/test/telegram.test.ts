import { ChannelError } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, webhookRequest } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type TelegramConfig, telegramChannel } from "../src/index";
import { FakeTelegram } from "../src/testing";

const TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";
const SECRET = "webhook-secret-0123456789";
let fake: FakeTelegram | undefined;

const config = (overrides: Partial<TelegramConfig> = {}): TelegramConfig => ({
  botToken: TOKEN,
  mode: "polling",
  apiRoot: fake!.apiRoot,
  pollingTimeoutSeconds: 30,
  stallGraceSeconds: 15,
  ...overrides,
});

for (const mode of ["polling", "webhook"] as const) {
  runChannelConformance<TelegramConfig>({
    name: `telegram (${mode})`,
    createPlugin: () => telegramChannel.create(),
    invalidConfig: { botToken: "not-a-token" },
    platform: {
      async start() {
        fake = await FakeTelegram.start(TOKEN);
        return {
          config: config(
            mode === "webhook"
              ? { mode, webhookUrl: "https://gw.example/webhook/telegram", webhookSecret: SECRET }
              : {},
          ),
          recipient: "42",
        };
      },
      async stop() {
        await fake?.close();
      },
      async injectInbound(text) {
        const update = fake!.inject(text);
        const expected = {
          id: `42:${update.message.message_id}`,
          conversationId: "42",
          sender: { id: "42", name: "Ana", username: "ana" },
        };
        return mode === "webhook"
          ? {
              webhook: webhookRequest({
                body: update,
                headers: { "x-telegram-bot-api-secret-token": SECRET },
              }),
              expected,
            }
          : { expected };
      },
      ...(mode === "webhook"
        ? {
            forgedWebhook: () =>
              webhookRequest({
                body: fake!.inject("forged"),
                headers: { "x-telegram-bot-api-secret-token": "not-the-secret-000000" },
              }),
          }
        : {}),
      rateLimitNextSend(retryAfterMs) {
        fake!.failNextSend({
          status: 429,
          body: {
            ok: false,
            error_code: 429,
            description: `Too Many Requests: retry after ${retryAfterMs / 1000}`,
            parameters: { retry_after: retryAfterMs / 1000 },
          },
        });
      },
      sentTexts: () => fake?.sentTexts() ?? [],
    },
  });
}

describe("telegram specifics", () => {
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const started = async (overrides: Partial<TelegramConfig> = {}) => {
    fake = await FakeTelegram.start(TOKEN);
    const plugin = telegramChannel.create();
    const ctx = createTestContext("telegram", config(overrides));
    await plugin.initialize(config(overrides), ctx);
    return { plugin, ctx };
  };

  it("registers the webhook with its secret token in webhook mode, and refuses a missing secret", async () => {
    const { plugin } = await started({
      mode: "webhook",
      webhookUrl: "https://gw.example/webhook/telegram",
      webhookSecret: SECRET,
    });
    expect(fake!.webhook).toEqual({ url: "https://gw.example/webhook/telegram", secret_token: SECRET });
    expect((await plugin.handleWebhook!(webhookRequest({ body: fake!.inject("x") }))).status).toBe(401);
    expect(fake!.calls.some((c) => c.method === "getUpdates")).toBe(false);
    const headers = { "x-telegram-bot-api-secret-token": SECRET };
    expect((await plugin.handleWebhook!(webhookRequest({ body: fake!.inject("ok"), headers }))).status).toBe(
      200,
    );
    await plugin.destroy();
  });

  it("answers a signed but malformed update 200 (Telegram's final answer), dropping and logging it", async () => {
    const { plugin, ctx } = await started({
      mode: "webhook",
      webhookUrl: "https://gw.example/webhook/telegram",
      webhookSecret: SECRET,
    });
    const headers = { "x-telegram-bot-api-secret-token": SECRET };
    const malformed: unknown[] = [
      "{not json",
      { hello: "world" },
      null,
      // An update whose message cannot be read: no chat, a sender that is not an object.
      { update_id: 1, message: { message_id: 1, date: 1, chat: null, from: { id: 7 }, text: "x" } },
      { update_id: 2, message: { message_id: 2, date: 1, chat: { id: 5 }, from: 7, text: "x" } },
      { update_id: 3, message: { message_id: 3, date: "soon", chat: { id: 5 }, from: { id: 7 }, text: 4 } },
    ];
    for (const body of malformed) {
      const response = await plugin.handleWebhook!(
        webhookRequest({ body: typeof body === "string" ? body : JSON.stringify(body), headers }),
      );
      expect(response.status, JSON.stringify(body)).toBe(200);
    }
    expect(ctx.emitted).toEqual([]);
    expect(ctx.logs.filter((l) => l.message.startsWith("malformed Telegram update dropped"))).toHaveLength(
      malformed.length,
    );
    // A well-formed update still goes through.
    await plugin.handleWebhook!(webhookRequest({ body: fake!.inject("fine"), headers }));
    expect(ctx.emitted.map((m) => m.text)).toEqual(["fine"]);
    await plugin.destroy();
  });

  it("does not confirm a polled update the gateway has not taken when it stops, so the next start gets it", async () => {
    const { plugin, ctx } = await started({ pollingTimeoutSeconds: 1 });
    ctx.refuseNextEmits(1_000); // a full disk for as long as this instance runs
    fake!.inject("held back");
    fake!.inject("after it");
    await vi.waitFor(() => expect(ctx.refused.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    // Held in order: the update after it was not tried meanwhile.
    expect(new Set(ctx.refused.map((m) => m.text))).toEqual(new Set(["held back"]));
    await plugin.destroy();
    ctx.abort();
    const next = telegramChannel.create();
    const again = createTestContext("telegram", config({ pollingTimeoutSeconds: 1 }));
    await next.initialize(config({ pollingTimeoutSeconds: 1 }), again);
    await vi.waitFor(() => expect(again.emitted.map((m) => m.text)).toEqual(["held back", "after it"]), {
      timeout: 10_000,
    });
    await next.destroy();
  });

  it("cancels a stalled long poll after the grace period and polls again (watchdog)", async () => {
    const { plugin, ctx } = await started({ pollingTimeoutSeconds: 1, stallGraceSeconds: 1 });
    fake!.stallPolls = true;
    const polls = () => fake!.calls.filter((c) => c.method === "getUpdates").length;
    const before = polls();
    // The stalled poll is cancelled after 1 + 1 s; grammY reports the failure and polls again.
    await vi.waitFor(() => expect(polls()).toBeGreaterThanOrEqual(before + 2), {
      timeout: 15_000,
      interval: 50,
    });
    expect(ctx.statuses).toContain("degraded");
    fake!.stallPolls = false;
    fake!.inject("after the stall");
    // The poll still stalled is cancelled by the watchdog too; the next one gets the message.
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toContain("after the stall"), {
      timeout: 15_000,
      interval: 50,
    });
    expect(plugin.status().state).toBe("ready");
    await plugin.destroy();
  }, 40_000);

  it("answers webhooks with 404 when it polls", async () => {
    const { plugin, ctx } = await started();
    const response = await plugin.handleWebhook!(
      webhookRequest({ body: fake!.inject("x"), headers: { "x-telegram-bot-api-secret-token": SECRET } }),
    );
    expect(response.status).toBe(404);
    await plugin.destroy();
    expect(ctx.emitted.filter((m) => m.text === "x").length).toBeLessThanOrEqual(1);
  });

  it("sends Markdown, and plain text when Telegram cannot parse it", async () => {
    const { plugin } = await started();
    await plugin.send("42", { text: "*bold* move", format: "markdown" });
    await plugin.send("42", { text: "an *unclosed [link](https://x.example)", format: "markdown" });
    const sends = fake!.calls.filter((c) => c.method === "sendMessage").map((c) => c.params);
    expect(sends[0]).toMatchObject({ chat_id: "42", text: "*bold* move", parse_mode: "Markdown" });
    expect(sends[1]).toMatchObject({ parse_mode: "Markdown" });
    expect(sends[2]).toEqual({ chat_id: "42", text: "an *unclosed link (https://x.example)" });
    await plugin.destroy();
  });

  it("threads replies, adds inline buttons, and uploads media as multipart", async () => {
    const { plugin } = await started();
    await plugin.send(
      "42",
      {
        text: "pick",
        buttons: [
          [
            { text: "Docs", url: "https://docs.example" },
            { text: "Yes", callbackData: "yes" },
          ],
        ],
      },
      { replyTo: "42:7" },
    );
    expect(fake!.calls.at(-1)?.params).toMatchObject({
      reply_parameters: { message_id: 7 },
      reply_markup: {
        inline_keyboard: [
          [
            { text: "Docs", url: "https://docs.example" },
            { text: "Yes", callback_data: "yes" },
          ],
        ],
      },
    });
    await plugin.send("42", {
      text: "chart",
      attachments: [{ kind: "image", url: "https://img.example/chart.png" }],
    });
    expect(fake!.calls.at(-1)).toMatchObject({
      method: "sendPhoto",
      multipart: false,
      params: { photo: "https://img.example/chart.png", caption: "chart" },
    });
    await plugin.send("42", {
      attachments: [
        { kind: "file", data: Buffer.from("report body").toString("base64"), filename: "report.txt" },
      ],
    });
    expect(fake!.calls.at(-1)).toMatchObject({
      method: "sendDocument",
      multipart: true,
      params: { chat_id: "42", document: { filename: "report.txt", bytes: 11 } },
    });
    await plugin.destroy();
  });

  it("maps Telegram's errors: unknown chat, refused token, server errors", async () => {
    const { plugin } = await started();
    await expect(plugin.send("404", { text: "x" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    fake!.failNextSend({ status: 502, body: "Bad Gateway" });
    await expect(plugin.send("42", { text: "x" })).rejects.toBeInstanceOf(ChannelError);
    await plugin.destroy();
    const refused = telegramChannel.create();
    const bad = config({ botToken: "7000000001:AAWrongTokenForTests_0123456789ab" });
    await expect(refused.initialize(bad, createTestContext("telegram", bad))).rejects.toMatchObject({
      code: "AUTH_FAILED",
    });
  });

  it("keeps polling after the Bot API fails a getUpdates, reporting degraded then ready", async () => {
    const { plugin, ctx } = await started({ pollingTimeoutSeconds: 1 });
    fake!.platform.failNext({
      status: 500,
      body: { ok: false, error_code: 500, description: "Internal Server Error" },
    });
    fake!.inject("wake the poll");
    await vi.waitFor(() => expect(ctx.emitted).not.toHaveLength(0), { timeout: 10_000, interval: 20 });
    expect(ctx.emitted.map((m) => m.text)).toEqual(["wake the poll"]);
    expect(plugin.status().state).toBe("ready");
    await plugin.destroy();
  });
});
