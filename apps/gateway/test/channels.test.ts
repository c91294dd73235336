import { ChannelError, defineChannel, v } from "@openclaw/channel-sdk";
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, startGateway } from "./harness";

/** A channel whose platform never answers: it keeps connecting until it is stopped. */
const stuckChannel = defineChannel({
  name: "stuck",
  capabilities: ["text"],
  config: v.object({}),
  create: () => ({
    start: (ctx) =>
      new Promise<void>((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(new ChannelError("NOT_READY", "stopped")));
      }),
    send: () => ({ messageId: "never" }),
    stop() {},
  }),
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("channel start-up", () => {
  it("a channel that keeps connecting holds up neither the other channels nor start and stop", async () => {
    const began = Date.now();
    h = await startGateway({
      plugins: [stuckChannel],
      channelStartWaitMs: 200,
      config: { channels: { slow: { plugin: "stuck" } } },
    });
    expect(Date.now() - began).toBeLessThan(5000);
    const client = await h.client();
    const { channels } = await client.request("channel.status", {});
    const byName = Object.fromEntries(channels.map((c) => [c.name, c.state]));
    expect(byName).toEqual({ slow: "connecting", test: "ready" });
    const ready = await fetch(`${h.http}/ready`);
    expect(ready.status).toBe(503);
    // The working channel works.
    const sent = await client.request("message.send", { recipient: "ana", channel: "test", text: "hi" });
    expect(sent.channel).toBe("test");
    const stopping = Date.now();
    await h.stop();
    h = undefined;
    expect(Date.now() - stopping).toBeLessThan(5000);
  });
});
