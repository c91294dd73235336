import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { canMountTmpfs, fillDisk, mountTmpfs, telegramWebhookChannel, unmountAll } from "./fixtures";
import { kill9, startGatewayProcess } from "./gateway-process";

// Hardening, second round, item 3: an inbound message the gateway cannot record (its state on a
// full filesystem: a tiny tmpfs, ENOSPC) is refused to the platform with a 5xx, so that the platform
// redelivers it, instead of being acknowledged and lost.

const ADMIN = "admin-token-0123456789abc";
const BOT_TOKEN = "7000000003:AAFakeTokenForInboundFullDisk_0123";
const SECRET = "inbound-full-disk-webhook-secret";
const CHAT = 61;

let dir: string;
const children: ChildProcess[] = [];
const mounts: string[] = [];
let telegram: FakeTelegram;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-inbound-full-"));
  telegram = await FakeTelegram.start(BOT_TOKEN);
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: {
        telegram: telegramWebhookChannel(BOT_TOKEN, telegram.apiRoot, SECRET),
      },
      security: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } },
      logging: { level: "info" },
    }),
  );
});
afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  unmountAll(mounts);
  await telegram.close();
  await rm(dir, { recursive: true, force: true });
});

const start = () => startGatewayProcess(dir, { OPENCLAW_ADMIN_TOKEN: ADMIN }, children);
const update = (n: number) => ({
  update_id: 9000 + n,
  message: {
    message_id: 9000 + n,
    date: 1_764_000_000,
    chat: { id: CHAT, type: "private", first_name: "Ana" },
    from: { id: 7, is_bot: false, first_name: "Ana" },
    text: `in-${n} ${"y".repeat(300)}`,
  },
});
const text = (n: number) => update(n).message.text;
const post = (base: string, n: number) =>
  fetch(`${base}/webhook/telegram`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET },
    body: JSON.stringify(update(n)),
  });

async function operator(url: string): Promise<{ client: GatewayClient; received: string[] }> {
  const client = new GatewayClient({
    url,
    token: ADMIN,
    WebSocket,
    reconnect: false,
    requestTimeoutMs: 10_000,
  });
  await client.connect();
  const received: string[] = [];
  client.on("event", (frame) => {
    if (frame.event === "channel.message.received")
      received.push((frame.data as { message: { text?: string } }).message.text ?? "");
  });
  return { client, received };
}

describe.skipIf(!canMountTmpfs)("inbound webhooks on a full filesystem (a tiny tmpfs)", () => {
  it("refuses what it cannot record with a 5xx, broadcasts none of it, and records Telegram's redelivery once space is back", async () => {
    const state = join(dir, "state");
    await mkdir(state);
    mountTmpfs(state, "1m", mounts);
    let gateway = await start();
    let base = gateway.url.replace(/^ws/, "http");
    let { client, received } = await operator(gateway.url);
    // The channel starts in the background: the first update is taken once it runs.
    await vi.waitFor(async () => expect((await post(base, 0)).status).toBe(200), {
      timeout: 20_000,
      interval: 20,
    });
    const acknowledged = [0];
    fillDisk(state);
    // The journal's last page may still take a few lines; after that every update is refused.
    const refused: number[] = [];
    let next = 1;
    for (; next < 500 && refused.length < 20; next++) {
      const response = await post(base, next);
      if (response.status === 200) {
        expect(refused, "an update taken after one was refused").toEqual([]);
        acknowledged.push(next);
      } else {
        // Telegram redelivers an update answered with anything but a 2xx.
        expect(response.status).toBeGreaterThanOrEqual(500);
        refused.push(next);
      }
      await response.body?.cancel();
    }
    expect(refused).toHaveLength(20);
    // Nothing refused was broadcast: the acknowledged ones were, in order, before a later sentinel.
    await vi.waitFor(() => expect(received).toHaveLength(acknowledged.length), { timeout: 20_000 });
    expect(received).toEqual(acknowledged.map(text));
    expect(gateway.output()).not.toContain("delivering it anyway");

    // Space is back: Telegram's redelivery of the first refused update is taken at once (the
    // refused write left nothing behind that would pass it off as a repeat).
    await rm(join(state, "filler"));
    expect((await post(base, refused[0]!)).status).toBe(200);
    await vi.waitFor(() => expect(received).toHaveLength(acknowledged.length + 1), { timeout: 20_000 });
    expect(received.at(-1)).toBe(text(refused[0]!));
    acknowledged.push(refused.shift()!);
    await client.close();

    // The gateway restarts: Telegram redelivers the other refused updates (twice).
    await kill9(gateway.child);
    gateway = await start();
    base = gateway.url.replace(/^ws/, "http");
    ({ client, received } = await operator(gateway.url));
    await vi.waitFor(async () => expect((await post(base, refused[0]!)).status).toBe(200), {
      timeout: 20_000,
      interval: 20,
    });
    for (const n of [...refused.slice(1), ...refused]) expect((await post(base, n)).status).toBe(200);
    await vi.waitFor(() => expect(received).toHaveLength(refused.length), { timeout: 20_000 });
    expect(received).toEqual(refused.map(text));
    const history = await client.request("conversation.history", {
      channel: "telegram",
      conversationId: String(CHAT),
      limit: 1000,
    });
    expect(history.messages.map((m) => m.content.text)).toEqual([...acknowledged, ...refused].map(text));
    await client.close();
  }, 120_000);
});
