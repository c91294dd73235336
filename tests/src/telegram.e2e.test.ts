import telegram from "@openclaw/channel-telegram";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";

let fake: FakeTelegram;
let gw: TestGateway;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeTelegram.start(BOT_TOKEN);
  gw = await startTestGateway({
    config: {
      channels: {
        telegram: { botToken: "${TELEGRAM_BOT_TOKEN}", apiRoot: fake.apiRoot, pollingTimeoutSeconds: 30 },
      },
    },
    plugins: [telegram],
    env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN },
  });
  client = await gw.client();
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
});

describe("Telegram through the running gateway (grammY against a fake Bot API)", () => {
  it("delivers a user's message to WebSocket clients, and sends message.send to Telegram", async () => {
    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const update = fake.inject("hello from Telegram");
    const event = await received;
    expect(event).toMatchObject({
      channel: "telegram",
      message: {
        id: `42:${update.message.message_id}`,
        conversationId: "42",
        sender: { id: "42", name: "Ana", username: "ana" },
        text: "hello from Telegram",
      },
    });
    const sent = await client.request("message.send", {
      recipient: "42",
      channel: "telegram",
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({
      channel: "telegram",
      address: "42",
      messageId: expect.stringMatching(/^42:\d+$/),
    });
    expect(fake.calls.filter((c) => c.method === "sendMessage").map((c) => c.params)).toEqual([
      { chat_id: "42", text: "hello from the gateway" },
    ]);
    const status = await client.request("channel.status", { channel: "telegram" });
    expect(status.channels[0]).toMatchObject({
      name: "telegram",
      plugin: "telegram",
      state: "ready",
      details: { bot: "openclaw_test_bot", mode: "polling" },
    });
  });
});
