import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import msteams from "@openclaw/channel-msteams";
import { FAKE_TEAMS_CHANNEL_ID, FAKE_TEAMS_USER, FakeTeams } from "@openclaw/channel-msteams/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

let fake: FakeTeams;
let gw: TestGateway;
let client: GatewayClient;
let dir: string;

beforeEach(async () => {
  fake = await FakeTeams.start();
  dir = await mkdtemp(join(tmpdir(), "openclaw-msteams-e2e-"));
  gw = await startTestGateway({
    config: {
      channels: {
        msteams: {
          ...fake.config({ stateDir: join(dir, "msteams") }),
          appPassword: "${MSTEAMS_APP_PASSWORD}",
          agent: "echo",
        },
      },
    },
    plugins: [msteams],
    env: { MSTEAMS_APP_PASSWORD: fake.appPassword },
  });
  client = await gw.client();
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe("Microsoft Teams through the running gateway (Bot Framework against a fake)", () => {
  it("verifies and delivers a channel message to clients, echoes in its thread, and sends message.send", async () => {
    const webhook = `${gw.http}/webhook/msteams`;
    // The gateway does not wait for channels to start; the plugin is ready once it has the keys and a token.
    await expect
      .poll(async () => (await client.request("channel.status", { channel: "msteams" })).channels[0]?.state, {
        timeout: 15_000,
      })
      .toBe("ready");
    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const activity = fake.activity({
      conversationType: "channel",
      text: "hello from Teams",
      mentionBot: true,
    });
    const response = await fake.deliver(webhook, activity);
    expect(response.status).toBe(200);
    const event = await received;
    expect(event).toMatchObject({
      channel: "msteams",
      message: {
        id: activity.id,
        conversationId: FAKE_TEAMS_CHANNEL_ID,
        sender: { id: FAKE_TEAMS_USER.id, name: FAKE_TEAMS_USER.name },
        text: "hello from Teams",
      },
    });

    // The echo agent answers in the message's thread, through the Bot Connector's reply operation.
    const echoed = await fake.waitForPost((p) => p.kind === "reply", 10_000);
    expect(echoed).toMatchObject({
      conversationId: `${FAKE_TEAMS_CHANNEL_ID};messageid=${activity.id}`,
      activityId: activity.id,
      activity: { type: "message", text: "hello from Teams", replyToId: activity.id },
    });

    // A forged activity is refused at the gateway's door and reaches nobody.
    const forged = await fake.deliver(webhook, fake.activity({ text: "forged" }), { foreignKey: true });
    expect(forged.status).toBe(401);

    // message.send from a client, to the channel the bot has seen.
    const sent = await client.request("message.send", {
      recipient: FAKE_TEAMS_CHANNEL_ID,
      channel: "msteams",
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({ channel: "msteams", address: FAKE_TEAMS_CHANNEL_ID });
    const post = await fake.waitForPost(
      (p) => p.kind === "create" && p.activity.text === "hello from the gateway",
    );
    expect(post).toMatchObject({ conversationId: FAKE_TEAMS_CHANNEL_ID, id: sent.messageId });

    // An unknown recipient is a typed NOT_FOUND, not a platform 500.
    const unknown = await client
      .request("message.send", { recipient: "29:1nobody", channel: "msteams", text: "hi" })
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ code: "NOT_FOUND" });

    const status = await client.request("channel.status", { channel: "msteams" });
    expect(status.channels[0]).toMatchObject({ name: "msteams", plugin: "msteams", state: "ready" });
  });
});
