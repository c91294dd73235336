import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import msteams from "@openclaw/channel-msteams";
import { FAKE_TEAMS_CHANNEL_ID, FAKE_TEAMS_USER, FakeTeams } from "@openclaw/channel-msteams/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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

describe("Microsoft Teams: the token is checked before the body is read", () => {
  const ready = () =>
    expect
      .poll(async () => (await client.request("channel.status", { channel: "msteams" })).channels[0]?.state, {
        timeout: 15_000,
      })
      .toBe("ready");
  const post = (body: string, authorization?: string) =>
    fetch(`${gw.http}/webhook/msteams`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(authorization === undefined ? {} : { authorization }),
      },
      body,
    });

  it("refuses unauthenticated posts with 401 without parsing them; a verified non-activity is the 400", async () => {
    await ready();
    // Not JSON at all, no token: 401 (the token comes first), not 400.
    const garbage = await post("this is not JSON {");
    expect(garbage.status).toBe(401);
    expect(await garbage.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    // The same body with a valid token: now the body is looked at, and it is not an activity.
    const token = await fake.token(fake.serviceUrl);
    const verified = await post("this is not JSON {", `Bearer ${token}`);
    expect(verified.status).toBe(400);
    expect(await verified.json()).toMatchObject({ error: { code: "INVALID_PARAMS" } });

    // A megabyte of JSON, shallow enough for webhooks.maxJsonDepth, posted without a token or with a
    // forged one: every answer is 401, and the body never reaches a JSON parser.
    const big = JSON.stringify({
      type: "message",
      serviceUrl: fake.serviceUrl,
      pad: new Array(255_000).fill([0]),
    });
    expect(big.length).toBeGreaterThan(1_000_000);
    const forged = await fake.token(fake.serviceUrl, { foreignKey: true });
    const parse = vi.spyOn(JSON, "parse");
    try {
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => post(big, i % 2 === 0 ? undefined : `Bearer ${forged}`)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(new Array(12).fill(401));
      await Promise.all(answers.map((answer) => answer.body?.cancel()));
      const parsedBig = parse.mock.calls.filter(
        ([text]) => typeof text === "string" && text.length >= 1_000_000,
      );
      expect(parsedBig).toHaveLength(0);
    } finally {
      parse.mockRestore();
    }
    // A signed activity still goes through.
    const activity = fake.activity({ text: "still welcome" });
    expect((await fake.deliver(`${gw.http}/webhook/msteams`, activity)).status).toBe(200);
  });
});
