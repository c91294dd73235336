import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import telegram from "@openclaw/channel-telegram";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import { type EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";
const TOKEN = "operator-token-0123456789";

let fake: FakeTelegram;
let gateway: Gateway;
let config: ConfigManager;
let dir: string;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeTelegram.start(BOT_TOKEN);
  dir = await mkdtemp(join(tmpdir(), "openclaw-e2e-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: {
        telegram: { botToken: "${TELEGRAM_BOT_TOKEN}", apiRoot: fake.apiRoot, pollingTimeoutSeconds: 30 },
      },
    }),
  );
  config = new ConfigManager({
    path: join(dir, "openclaw.json"),
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: join(dir, "state"),
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    },
  });
  await config.load();
  gateway = new Gateway({ config, channels: [telegram], logger: createLogger("silent") });
  const { url } = await gateway.start();
  client = new GatewayClient({ url, token: TOKEN, WebSocket, reconnect: false });
  await client.connect();
});

afterEach(async () => {
  await client.close();
  await gateway.stop({ drainTimeoutMs: 500 });
  await config.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
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
