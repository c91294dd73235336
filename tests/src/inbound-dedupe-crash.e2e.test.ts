import type { ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { telegramWebhookChannel } from "./fixtures";
import { kill9, startGatewayProcess } from "./gateway-process";

const TOKEN = "operator-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const BOT_TOKEN = "7000000002:AAFakeTokenForDedupeCrash_0123456789";
const SECRET = "dedupe-crash-webhook-secret";
const ROUNDS = 4;
const CHATS = [51, 52];

let dir: string;
const children: ChildProcess[] = [];
let telegram: FakeTelegram;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-dedupe-crash-"));
  telegram = await FakeTelegram.start(BOT_TOKEN);
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: {
        telegram: telegramWebhookChannel(BOT_TOKEN, telegram.apiRoot, SECRET),
      },
      // Two messages per chat: almost every acknowledged update has left the history by the end.
      state: { historyLimit: 2 },
      security: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } },
      logging: { level: "info" },
    }),
  );
});
afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  await telegram.close();
  await rm(dir, { recursive: true, force: true });
});

const start = () =>
  startGatewayProcess(dir, { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN }, children);
const update = (n: number) => ({
  update_id: 5000 + n,
  message: {
    message_id: 5000 + n,
    date: 1_764_000_000,
    chat: { id: CHATS[n % CHATS.length], type: "private", first_name: "Ana" },
    from: { id: 7, is_bot: false, first_name: "Ana" },
    text: `in-${n}`,
  },
});
const post = (base: string, n: number) =>
  fetch(`${base}/webhook/telegram`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET },
    body: JSON.stringify(update(n)),
  });
/** Posts update n until the channel takes it (it starts in the background). */
async function deliver(base: string, n: number): Promise<void> {
  await vi.waitFor(
    async () => {
      expect((await post(base, n)).status).toBe(200);
    },
    { timeout: 20_000, interval: 20 },
  );
}

describe("inbound dedupe across kill -9 (real gateway processes, default state)", () => {
  it("drops the replay of an update acknowledged right before the gateway died, also long after it left the history", async () => {
    const acknowledged: number[] = [];
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const gateway = await start();
      const base = gateway.url.replace(/^ws/, "http");
      // A few updates, then SIGKILL the moment the last one is answered 200.
      const count = 3 + round * 2;
      for (let i = 0; i < count; i++) {
        await deliver(base, next);
        acknowledged.push(next++);
      }
      await kill9(gateway.child);
    }
    // The journal answers dedupe: no second log of inbound ids.
    expect(await readdir(join(dir, "state"))).not.toContain("inbound-seen.log");

    const gateway = await start();
    const base = gateway.url.replace(/^ws/, "http");
    const operator = new GatewayClient({
      url: gateway.url,
      token: ADMIN,
      WebSocket,
      reconnect: false,
      requestTimeoutMs: 5000,
    });
    await operator.connect();
    const received: string[] = [];
    operator.on("event", (frame) => {
      if (frame.event === "channel.message.received")
        received.push((frame.data as { message: { text?: string } }).message.text ?? "");
    });
    // Telegram redelivers every acknowledged update: each answered 200, none taken again.
    const sentinel = next;
    await deliver(base, acknowledged[0]!);
    for (const n of acknowledged.slice(1)) expect((await post(base, n)).status).toBe(200);
    // A new update is taken: once its event is here, any replay taken would have been reported before it.
    expect((await post(base, sentinel)).status).toBe(200);
    await vi.waitFor(() => expect(received).toContain(`in-${sentinel}`), { timeout: 20_000, interval: 20 });
    expect(received).toEqual([`in-${sentinel}`]);
    // The history kept only the last two messages of each chat: the rest were dropped by their kept ids.
    const history = await operator.request("conversation.history", {
      channel: "telegram",
      conversationId: String(CHATS[sentinel % CHATS.length]),
    });
    expect(history.messages).toHaveLength(2);
    expect(acknowledged.length).toBeGreaterThan(2 * CHATS.length + ROUNDS);
    await operator.close();
  }, 120_000);
});
