import { ChannelError, defineChannel, v } from "@openclaw/channel-sdk";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, type Harness, startGateway } from "./harness";

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

/** A channel whose platform is down for its first two starts. */
let flakyStarts = 0;
const flakyChannel = defineChannel({
  name: "flaky",
  capabilities: ["text"],
  config: v.object({}),
  create: () => ({
    start() {
      flakyStarts++;
      if (flakyStarts <= 2) throw new ChannelError("PLATFORM_UNAVAILABLE", `down (start ${flakyStarts})`);
    },
    send: () => ({ messageId: "m-1" }),
    stop() {},
  }),
});

/** A channel that counts its starts; its settings need a `key`. */
let strictStarts = 0;
const strictChannel = defineChannel({
  name: "strict",
  capabilities: ["text"],
  config: v.object({ key: v.string() }),
  create: () => ({
    start() {
      strictStarts++;
    },
    send: () => ({ messageId: "m-1" }),
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
    expect(byName).toEqual({ slow: "connecting", test: "ready", webchat: "ready" });
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

  it("the watchdog restarts a channel that failed to start, with growing delays, until it is ready", async () => {
    flakyStarts = 0;
    h = await startGateway({
      plugins: [flakyChannel],
      config: {
        channels: { flaky: {} },
        watchdog: { checkIntervalMs: 20, restartAfterMs: 100, maxRestartDelayMs: 1000 },
      },
    });
    const client = await h.client();
    const statuses: Array<{ name: string; state: string }> = [];
    client.on("channel.status", (status) => statuses.push(status));
    const began = Date.now();
    const deadline = began + 5000;
    while (Date.now() < deadline) {
      const { channels } = await client.request("channel.status", { channel: "flaky" });
      if (channels[0]?.state === "ready") break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(flakyStarts).toBe(3);
    // Restarts after 100 ms, then 200 ms: at least 300 ms in all.
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    expect(statuses.filter((s) => s.name === "flaky").map((s) => s.state)).toContain("ready");
    expect(statuses.some((s) => s.name === "flaky" && s.state === "down")).toBe(true);
  });

  it("the watchdog leaves a channel with invalid settings alone; fixing the config starts it", async () => {
    strictStarts = 0;
    const logs: string[] = [];
    h = await startGateway({
      logs,
      plugins: [strictChannel],
      config: {
        channels: { strict: {} },
        watchdog: { checkIntervalMs: 20, restartAfterMs: 100, maxRestartDelayMs: 200 },
      },
    });
    const admin = await h.client({ token: ADMIN });
    const status = async () => (await admin.request("channel.status", { channel: "strict" })).channels[0];
    expect(await status()).toMatchObject({ state: "down", lastError: { code: "INVALID_CONFIG" } });
    // Many watchdog periods pass: no restart, no log line about one.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(logs.filter((line) => line.includes("watchdog"))).toEqual([]);
    expect(await status()).toMatchObject({ state: "down", lastError: { code: "INVALID_CONFIG" } });
    expect(strictStarts).toBe(0);
    await admin.request("config.apply", { config: { channels: { strict: { key: "k" } } }, mode: "merge" });
    const deadline = Date.now() + 5000;
    while ((await status())?.state !== "ready" && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await status()).toMatchObject({ state: "ready" });
    expect(strictStarts).toBe(1);
  });
});
