import { createHmac } from "node:crypto";
import { ChannelError } from "@openclaw/channel-sdk";
import {
  createTestContext,
  FakePlatform,
  runChannelConformance,
  webhookChannel,
  webhookRequest,
} from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it } from "vitest";

const TOKEN = "platform-token-0123456789";
const SECRET = "signing-secret-0123456789";

/** The fake platform of the reference channel: checks the bearer token, records sends. */
async function startPlatform() {
  let nextId = 1;
  const platform = await FakePlatform.start({
    "GET /health": (req) =>
      req.headers.authorization === `Bearer ${TOKEN}`
        ? { body: { ok: true } }
        : { status: 401, body: { error: "bad token" } },
    "POST /messages": (req) => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`)
        return { status: 401, body: { error: "bad token" } };
      const { to } = req.json as { to: string };
      if (to === "nobody") return { status: 404, body: { error: "no such chat" } };
      return { body: { id: `m-${nextId++}` } };
    },
  });
  return platform;
}

const sign = (body: unknown, secret = SECRET) => {
  const text = JSON.stringify(body);
  return webhookRequest({
    body: text,
    headers: { "x-signature-256": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}` },
  });
};

let platform: FakePlatform | undefined;

runChannelConformance({
  name: "webhook (reference plugin)",
  createPlugin: () => webhookChannel.create(),
  invalidConfig: { baseUrl: "not a url", token: "short" },
  platform: {
    async start() {
      platform = await startPlatform();
      return {
        config: { baseUrl: platform.url, token: TOKEN, signingSecret: SECRET, requestTimeoutMs: 2000 },
        recipient: "chat-1",
      };
    },
    async stop() {
      await platform?.close();
      platform = undefined;
    },
    async injectInbound(text) {
      return {
        webhook: sign({
          id: "in-1",
          chat: "chat-1",
          from: { id: "u-1", name: "Ana" },
          text,
          ts: 1_764_000_000_000,
        }),
        expected: {
          id: "in-1",
          conversationId: "chat-1",
          sender: { id: "u-1", name: "Ana" },
          timestamp: 1_764_000_000_000,
        },
      };
    },
    forgedWebhook: () =>
      sign(
        { id: "in-2", chat: "chat-1", from: { id: "u-1" }, text: "forged" },
        "the-wrong-secret-0123456789",
      ),
    rateLimitNextSend(retryAfterMs) {
      platform?.failNext({
        status: 429,
        headers: { "retry-after": String(retryAfterMs / 1000) },
        body: { error: "slow down" },
      });
    },
    sentTexts: () =>
      (platform?.requests ?? [])
        .filter((r) => r.path === "/messages")
        .map((r) => (r.json as { text: string }).text),
  },
});

describe("reference plugin specifics", () => {
  afterEach(async () => {
    await platform?.close();
    platform = undefined;
  });

  const started = async () => {
    platform = await startPlatform();
    const config = { baseUrl: platform.url, token: TOKEN, signingSecret: SECRET, requestTimeoutMs: 2000 };
    const plugin = webhookChannel.create();
    const context = createTestContext("hooks", config);
    await plugin.initialize(config, context);
    return { plugin, context, platform };
  };

  it("fails to start with AUTH_FAILED on a refused token, and reports down", async () => {
    platform = await startPlatform();
    const plugin = webhookChannel.create();
    const config = {
      baseUrl: platform.url,
      token: "wrong-token-0123456789",
      signingSecret: SECRET,
      requestTimeoutMs: 2000,
    };
    const error = await plugin
      .initialize(config, createTestContext("hooks", config))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "AUTH_FAILED" });
    expect(plugin.status()).toMatchObject({ state: "down", lastError: { code: "AUTH_FAILED" } });
  });

  it("maps platform answers to typed errors and health", async () => {
    const { plugin, platform } = await started();
    await expect(plugin.send("nobody", { text: "x" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    platform.failNext({ status: 503 });
    const error = (await plugin.send("chat-1", { text: "x" }).catch((e: unknown) => e)) as ChannelError;
    expect(error.code).toBe("PLATFORM_UNAVAILABLE");
    expect(error.retryable).toBe(true);
    expect(error.toProtocolError("hooks")).toMatchObject({
      code: "CHANNEL_UNAVAILABLE",
      details: { reason: "platform_unavailable", channel: "hooks" },
    });
    expect(plugin.status().state).toBe("degraded");
    await plugin.send("chat-1", { text: "back" });
    expect(plugin.status().state).toBe("ready");
    await plugin.destroy();
  });

  it("adapts markdown and buttons for a text-only channel, sending replies threaded", async () => {
    const { plugin, platform } = await started();
    await plugin.send(
      "chat-1",
      {
        text: "**Deploy** done, see [logs](https://ci.example/1)",
        format: "markdown",
        buttons: [[{ text: "Open", url: "https://ci.example/1" }]],
      },
      { replyTo: "in-9" },
    );
    const sent = platform.requests.find((r) => r.path === "/messages")!.json as {
      text: string;
      replyTo: string;
    };
    expect(sent.text).toBe("Deploy done, see logs (https://ci.example/1)\n\n• Open: https://ci.example/1");
    expect(sent.replyTo).toBe("in-9");
    await plugin.destroy();
  });

  it("answers malformed webhooks with 400 and emits nothing", async () => {
    const { plugin, context } = await started();
    const text = "{not json";
    const bad = webhookRequest({
      body: text,
      headers: { "x-signature-256": `sha256=${createHmac("sha256", SECRET).update(text).digest("hex")}` },
    });
    expect((await plugin.handleWebhook!(bad)).status).toBe(400);
    expect((await plugin.handleWebhook!(sign({ id: "x" }))).status).toBe(400);
    expect((await plugin.handleWebhook!(webhookRequest({ body: { id: "x" } }))).status).toBe(401);
    expect(context.emitted).toEqual([]);
    await plugin.destroy();
    expect(
      (await plugin.handleWebhook!(sign({ id: "in-1", chat: "c", from: { id: "u" }, text: "late" }))).status,
    ).toBe(503);
  });

  it("refuses a second initialize", async () => {
    const { plugin } = await started();
    await expect(
      plugin.initialize(
        { baseUrl: platform!.url, token: TOKEN, signingSecret: SECRET, requestTimeoutMs: 100 },
        createTestContext("x", {} as never),
      ),
    ).rejects.toBeInstanceOf(ChannelError);
    await plugin.destroy();
  });
});
