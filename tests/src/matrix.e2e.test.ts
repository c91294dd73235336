import matrix from "@openclaw/channel-matrix";
import { FAKE_BOT_USER, FAKE_ROOM, FAKE_USER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

const ACCESS_TOKEN = "syt_b3BlbmNsYXc_fake_access_token";

let fake: FakeMatrix;
let gw: TestGateway;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
  gw = await startTestGateway({
    config: {
      channels: {
        matrix: { homeserverUrl: fake.baseUrl, userId: FAKE_BOT_USER, accessToken: "${MATRIX_ACCESS_TOKEN}" },
      },
    },
    plugins: [matrix],
    env: { MATRIX_ACCESS_TOKEN: ACCESS_TOKEN },
  });
  client = await gw.client();
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
});

describe("Matrix through the running gateway (matrix-js-sdk against a fake homeserver)", () => {
  it("delivers a room message to WebSocket clients, and sends message.send to the room", async () => {
    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const event = fake.inject("hello from Matrix");
    expect(await received).toMatchObject({
      channel: "matrix",
      message: {
        id: event.event_id,
        conversationId: FAKE_ROOM,
        sender: { id: FAKE_USER },
        text: "hello from Matrix",
      },
    });
    const sent = await client.request("message.send", {
      recipient: FAKE_ROOM,
      channel: "matrix",
      text: "hello from the gateway",
      replyTo: event.event_id,
    });
    expect(sent).toMatchObject({
      channel: "matrix",
      address: FAKE_ROOM,
      messageId: expect.stringMatching(/^\$/),
    });
    expect(fake.sent.map((e) => e.content)).toEqual([
      {
        msgtype: "m.text",
        body: "hello from the gateway",
        "m.relates_to": { "m.in_reply_to": { event_id: event.event_id } },
      },
    ]);
    const status = await client.request("channel.status", { channel: "matrix" });
    expect(status.channels[0]).toMatchObject({
      name: "matrix",
      state: "ready",
      details: { userId: FAKE_BOT_USER, rooms: 1 },
    });
  });
});
