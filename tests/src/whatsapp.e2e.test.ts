import whatsapp from "@openclaw/channel-whatsapp";
import { FakeWhatsAppCloud } from "@openclaw/channel-whatsapp/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

const PHONE_ID = "106540352242922";
const ACCESS_TOKEN = "EAAGfakeAccessTokenForTests0123456789";
const APP_SECRET = "app-secret-0123456789abcdef";
const VERIFY_TOKEN = "verify-token-0123";
const USER = "16505551234";

let fake: FakeWhatsAppCloud;
let gw: TestGateway;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeWhatsAppCloud.start({
    phoneNumberId: PHONE_ID,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
  });
  gw = await startTestGateway({
    config: {
      channels: {
        whatsapp: {
          phoneNumberId: PHONE_ID,
          accessToken: "${WHATSAPP_ACCESS_TOKEN}",
          appSecret: "${WHATSAPP_APP_SECRET}",
          verifyToken: VERIFY_TOKEN,
          graphApiUrl: fake.url,
          agent: "echo",
        },
      },
    },
    plugins: [whatsapp],
    env: { WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN, WHATSAPP_APP_SECRET: APP_SECRET },
  });
  client = await gw.client();
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
});

describe("WhatsApp Cloud API through the running gateway (fetch against a fake Graph API)", () => {
  it("answers Meta's verification GET, delivers a signed webhook to clients, echoes it, and sends message.send", async () => {
    const hook = `${gw.http}/webhook/whatsapp`;
    const verify = await fetch(
      `${hook}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
    );
    expect(verify.status).toBe(200);
    expect(await verify.text()).toBe("1158201444");
    const wrong = await fetch(`${hook}?hub.mode=subscribe&hub.verify_token=nope-nope-nope&hub.challenge=1`);
    expect(wrong.status).toBe(403);

    // A forged POST is refused and reaches nobody.
    const forged = fake.signed(fake.textFrom("forged").body, "not-the-app-secret-0123");
    const refused = await fetch(hook, {
      method: "POST",
      headers: { ...forged.headers },
      body: Buffer.from(forged.body),
    });
    expect(refused.status).toBe(401);

    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const inbound = fake.textFrom("hello from WhatsApp", USER, "Ana");
    const delivered = await fake.deliver(hook, inbound.body);
    expect(delivered.status).toBe(200);
    expect(await received).toMatchObject({
      channel: "whatsapp",
      message: {
        id: inbound.id,
        conversationId: USER,
        sender: { id: USER, name: "Ana" },
        text: "hello from WhatsApp",
      },
    });
    // Meta redelivers what it thinks was not acknowledged: no second message, no second echo.
    expect((await fake.deliver(hook, inbound.body)).status).toBe(200);

    // The echo agent answers in the same conversation.
    await vi.waitFor(() => expect(fake.messages).toHaveLength(1), { timeout: 10_000 });
    expect(fake.messages[0]).toMatchObject({
      messaging_product: "whatsapp",
      to: USER,
      type: "text",
      text: { body: "hello from WhatsApp" },
    });

    const sent = await client.request("message.send", {
      recipient: USER,
      channel: "whatsapp",
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({
      channel: "whatsapp",
      address: USER,
      messageId: expect.stringMatching(/^wamid\./),
    });
    expect(fake.messages.at(-1)).toMatchObject({
      to: USER,
      type: "text",
      text: { body: "hello from the gateway" },
    });
    expect(fake.messages).toHaveLength(2);
    const authorization = fake.requests
      .filter((r) => r.path.endsWith("/messages"))
      .map((r) => r.headers.authorization);
    expect(new Set(authorization)).toEqual(new Set([`Bearer ${ACCESS_TOKEN}`]));

    // A delivery status is reported in the channel's status, not as a message.
    const status = fake.webhookBody({
      statuses: [{ id: String(sent.messageId), status: "read", timestamp: "1764000100", recipient_id: USER }],
    });
    expect((await fake.deliver(hook, status)).status).toBe(200);
    const channel = await client.request("channel.status", { channel: "whatsapp" });
    expect(channel.channels[0]).toMatchObject({
      name: "whatsapp",
      plugin: "whatsapp",
      state: "ready",
      details: {
        transport: "cloud",
        verifiedName: "OpenClaw Test",
        lastStatus: { messageId: sent.messageId, status: "read" },
      },
    });
  });
});
