import discord from "@openclaw/channel-discord";
import { FAKE_CHANNEL_ID, FAKE_GUILD_ID, FAKE_USER, FakeDiscord } from "@openclaw/channel-discord/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN, startTestGateway, type TestGateway } from "./test-gateway";

const BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GfakeX.fake-token-for-tests-0123456789abcdef";

let fake: FakeDiscord;
let gw: TestGateway;
let url: string;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeDiscord.start({ token: BOT_TOKEN });
  gw = await startTestGateway({
    config: {
      channels: {
        discord: { botToken: "${DISCORD_BOT_TOKEN}", publicKey: fake.publicKey, apiRoot: fake.apiRoot },
      },
    },
    plugins: [discord],
    env: { DISCORD_BOT_TOKEN: BOT_TOKEN },
  });
  url = gw.url;
  client = await gw.client(ADMIN);
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
});

describe("Discord through the running gateway (discord.js against a fake Discord)", () => {
  it("delivers a guild message to WebSocket clients, and routes message.send by guild binding", async () => {
    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const message = fake.inject("hello from Discord");
    expect(await received).toMatchObject({
      channel: "discord",
      message: {
        id: String(message.id),
        conversationId: FAKE_CHANNEL_ID,
        guildId: FAKE_GUILD_ID,
        sender: { id: FAKE_USER.id, username: "ana" },
        text: "hello from Discord",
      },
    });
    // The guild id in the message is what guild bindings match on.
    await client.request("binding.add", {
      level: "guild",
      match: { guildId: FAKE_GUILD_ID },
      target: { channel: "discord", address: FAKE_CHANNEL_ID },
    });
    const sent = await client.request("message.send", {
      recipient: FAKE_USER.id,
      context: { guildId: FAKE_GUILD_ID },
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({ channel: "discord", address: FAKE_CHANNEL_ID, route: { level: "guild" } });
    expect(fake.sentTexts()).toEqual(["hello from the gateway"]);
    const status = await client.request("channel.status", { channel: "discord" });
    expect(status.channels[0]).toMatchObject({ name: "discord", state: "ready", details: { guilds: 1 } });
  });

  it("answers Discord's signed PING at /webhook/discord and refuses a forged one", async () => {
    const base = url.replace(/^ws/, "http");
    const ping = fake.interaction({ type: 1 });
    const ok = await fetch(`${base}/webhook/discord`, {
      method: "POST",
      headers: { "content-type": "application/json", ...ping.headers },
      body: ping.body,
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ type: 1 });
    const forged = fake.interaction({ type: 1 }, "bad");
    const refused = await fetch(`${base}/webhook/discord`, {
      method: "POST",
      headers: { "content-type": "application/json", ...forged.headers },
      body: forged.body,
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
  });
});
