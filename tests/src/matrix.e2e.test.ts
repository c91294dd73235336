import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import matrix from "@openclaw/channel-matrix";
import { FAKE_BOT_USER, FAKE_ROOM, FAKE_USER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import { type EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

const ACCESS_TOKEN = "syt_b3BlbmNsYXc_fake_access_token";
const TOKEN = "operator-token-0123456789";

let fake: FakeMatrix;
let gateway: Gateway;
let config: ConfigManager;
let dir: string;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
  dir = await mkdtemp(join(tmpdir(), "openclaw-e2e-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: {
        matrix: { homeserverUrl: fake.baseUrl, userId: FAKE_BOT_USER, accessToken: "${MATRIX_ACCESS_TOKEN}" },
      },
    }),
  );
  config = new ConfigManager({
    path: join(dir, "openclaw.json"),
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: join(dir, "state"),
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      MATRIX_ACCESS_TOKEN: ACCESS_TOKEN,
    },
  });
  await config.load();
  gateway = new Gateway({ config, channels: [matrix], logger: createLogger("silent") });
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
