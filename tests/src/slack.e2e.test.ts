import slack from "@openclaw/channel-slack";
import { FAKE_SLACK_WORKSPACE, FakeSlack } from "@openclaw/channel-slack/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

let fake: FakeSlack | undefined;
let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.stop();
  await fake?.close();
  gw = undefined;
  fake = undefined;
});

const start = async (mode: "socket" | "events") => {
  fake = await FakeSlack.start();
  gw = await startTestGateway({
    config: {
      channels: {
        slack: {
          mode,
          botToken: "${SLACK_BOT_TOKEN}",
          ...(mode === "socket"
            ? { appToken: "${SLACK_APP_TOKEN}" }
            : { signingSecret: "${SLACK_SIGNING_SECRET}" }),
          apiUrl: fake.apiUrl,
          agent: "echo",
        },
      },
    },
    plugins: [slack],
    env: {
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_APP_TOKEN: fake.appToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
    },
  });
  const client = await gw.client();
  return { fake, gw, client };
};

const nextReceived = (client: GatewayClient) =>
  new Promise<EventData<"channel.message.received">>((resolve) =>
    client.once("channel.message.received", resolve),
  );

describe("Slack through the running gateway (Bolt against a fake Slack)", () => {
  it("Socket Mode: delivers a thread message to clients, echoes it into the thread, and sends message.send", async () => {
    const { fake, client } = await start("socket");
    const received = nextReceived(client);
    const root = fake.nextTs();
    const body = fake.injectMessage("hello from Slack", { threadTs: root });
    const ts = (body.event as { ts: string }).ts;
    expect(await received).toMatchObject({
      channel: "slack",
      message: {
        id: `C0GENERAL:${root}/${ts}`,
        conversationId: "C0GENERAL",
        threadId: root,
        guildId: FAKE_SLACK_WORKSPACE.teamId,
        sender: { id: "U0ANA0001", name: "Ana Lima", username: "ana" },
        text: "hello from Slack",
      },
    });
    // Acknowledged once the gateway recorded it.
    await vi.waitFor(() =>
      expect(fake.acks.map((a) => a.envelope_id)).toContain(fake.envelopes[0]?.envelope_id),
    );

    // The echo agent answers in the message's thread.
    await vi.waitFor(() => expect(fake.posted()).toHaveLength(1), { timeout: 10_000 });
    expect(fake.posted()[0]).toMatchObject({
      channel: "C0GENERAL",
      text: "hello from Slack",
      thread_ts: root,
    });

    const sent = await client.request("message.send", {
      recipient: "C0GENERAL",
      channel: "slack",
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({
      channel: "slack",
      address: "C0GENERAL",
      messageId: expect.stringMatching(/^C0GENERAL:\d+\.\d+$/),
    });
    expect(fake.posted()[1]).toMatchObject({ channel: "C0GENERAL", text: "hello from the gateway" });
    expect(fake.posted()[1]?.thread_ts).toBeUndefined();

    // A slash command is answered by the echo agent through the command's response_url.
    const command = fake.injectCommand("/echo", "ping");
    await vi.waitFor(() => expect(fake.responses).toHaveLength(1), { timeout: 10_000 });
    expect(fake.responses[0]).toMatchObject({
      path: new URL(command.response_url!).pathname,
      body: { text: "/echo ping", response_type: "in_channel" },
    });

    const status = await client.request("channel.status", { channel: "slack" });
    expect(status.channels[0]).toMatchObject({
      name: "slack",
      plugin: "slack",
      state: "ready",
      details: { mode: "socket", bot: FAKE_SLACK_WORKSPACE.botUserId, connected: true },
    });
  });

  it("Events API: verifies POST /webhook/slack, answers url_verification, and echoes once despite a retry", async () => {
    const { fake, gw, client } = await start("events");
    const post = (request: ReturnType<FakeSlack["signedRequest"]>) =>
      fetch(`${gw.http}/webhook/slack`, {
        method: "POST",
        headers: request.headers,
        body: Buffer.from(request.body),
      });

    const challenge = await post(
      fake.signedRequest({ type: "url_verification", token: "t", challenge: "abc" }),
    );
    expect(challenge.status).toBe(200);
    expect(await challenge.json()).toEqual({ challenge: "abc" });

    const body = fake.injectMessage("hello over HTTP", { deliver: false });
    const forged = await post(fake.signedRequest(body, { secret: "not-the-signing-secret-000" }));
    expect(forged.status).toBe(401);

    const received: string[] = [];
    client.on("channel.message.received", (event) => received.push(event.message.text ?? ""));
    expect((await post(fake.signedRequest(body))).status).toBe(200);
    await vi.waitFor(() => expect(received).toEqual(["hello over HTTP"]));
    // Slack retries an event it thinks was late: answered 200, but not emitted or echoed again.
    expect((await post(fake.signedRequest(body, { retryNum: 1 }))).status).toBe(200);
    expect((await post(fake.signedRequest(fake.injectMessage("second", { deliver: false })))).status).toBe(
      200,
    );
    await vi.waitFor(() => expect(fake.sentTexts().sort()).toEqual(["hello over HTTP", "second"]), {
      timeout: 10_000,
    });
    expect(received).toEqual(["hello over HTTP", "second"]);
    expect(fake.posted()[0]).toMatchObject({ channel: "C0GENERAL" });

    const sent = await client.request("message.send", {
      recipient: "U0ANA0001",
      channel: "slack",
      text: "a DM",
    });
    expect(sent).toMatchObject({
      channel: "slack",
      messageId: expect.stringMatching(/^D0ANA0001:\d+\.\d+$/),
    });
  });
});
