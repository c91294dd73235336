import signal from "@openclaw/channel-signal";
import { FakeSignalCli, type FakeSignalUser } from "@openclaw/channel-signal/testing";
import type { EventData, GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startTestGateway, type TestGateway } from "./test-gateway";

let fake: FakeSignalCli;
let ana: FakeSignalUser;
let gw: TestGateway;
let client: GatewayClient;

beforeEach(async () => {
  fake = await FakeSignalCli.start({ account: "+15550000000" });
  ana = fake.addUser("+15550001111", "Ana");
  gw = await startTestGateway({
    config: {
      channels: {
        signal: { daemonUrl: "${SIGNAL_CLI_URL}", account: "+15550000000", agent: "echo" },
      },
    },
    plugins: [signal],
    env: { SIGNAL_CLI_URL: fake.url },
  });
  client = await gw.client();
});

afterEach(async () => {
  await gw.stop();
  await fake.close();
});

describe("Signal through the running gateway (signal-cli JSON-RPC + SSE against a fake daemon)", () => {
  it("delivers a user's message to clients, echoes it as a quote, and sends message.send", async () => {
    const received = new Promise<EventData<"channel.message.received">>((resolve) =>
      client.once("channel.message.received", resolve),
    );
    const envelope = fake.receiveMessage({ from: ana, text: "hello from Signal" });
    const event = await received;
    const id = `${ana.uuid}:${envelope.timestamp}`;
    expect(event).toMatchObject({
      channel: "signal",
      message: {
        id,
        conversationId: ana.uuid,
        sender: { id: ana.uuid, name: "Ana", username: ana.number },
        text: "hello from Signal",
      },
    });

    // The echo agent answers in the same conversation, quoting the message.
    await vi.waitFor(() => expect(fake.sent).toHaveLength(1), { timeout: 10_000 });
    expect(fake.sent[0]).toMatchObject({
      recipient: [ana.uuid],
      message: "hello from Signal",
      quoteTimestamp: envelope.timestamp,
      quoteAuthor: ana.uuid,
    });

    // message.send from a client, to a phone number and to a group.
    const sent = await client.request("message.send", {
      recipient: ana.number,
      channel: "signal",
      text: "hello from the gateway",
    });
    expect(sent).toMatchObject({
      channel: "signal",
      address: ana.number,
      messageId: `+15550000000:${fake.sent[1]!.timestamp}`,
    });
    expect(fake.sent[1]).toMatchObject({ recipient: [ana.number], message: "hello from the gateway" });
    const groupId = fake.addGroup("Climbers", [ana.number]);
    await client.request("message.send", {
      recipient: `group:${groupId}`,
      channel: "signal",
      text: "hi all",
    });
    expect(fake.sent[2]).toMatchObject({ groupId, message: "hi all" });

    // An unregistered number is a typed NOT_FOUND.
    fake.unregistered.add("+15550009999");
    const unknown = await client
      .request("message.send", { recipient: "+15550009999", channel: "signal", text: "hi" })
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ code: "NOT_FOUND" });

    const status = await client.request("channel.status", { channel: "signal" });
    expect(status.channels[0]).toMatchObject({
      name: "signal",
      plugin: "signal",
      state: "ready",
      details: { daemonUrl: fake.url, account: "+15550000000", daemonVersion: "0.13.22" },
    });
  });

  it("moves past an event longer than maxEventChars: the next message arrives and /ready stays 200", async () => {
    await expect
      .poll(async () => (await client.request("channel.status", { channel: "signal" })).channels[0]?.state, {
        timeout: 15_000,
      })
      .toBe("ready");
    const texts: string[] = [];
    client.on("channel.message.received", (event) => texts.push(event.message.text ?? ""));
    // Over the default maxEventChars (4 MiB), then an ordinary message.
    fake.receiveMessage({ from: ana, text: "x".repeat(4_300_000) });
    fake.receiveMessage({ from: ana, text: "after the big one" });
    await vi.waitFor(() => expect(texts).toEqual(["after the big one"]), { timeout: 15_000 });
    expect(fake.streamConnections).toBe(1);
    const ready = await fetch(`${gw.http}/ready`);
    expect(ready.status).toBe(200);
    const status = await client.request("channel.status", { channel: "signal" });
    expect(status.channels[0]).toMatchObject({ state: "ready", details: { reconnects: 0 } });
  });
});
