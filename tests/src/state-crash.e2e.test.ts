import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
const ROUNDS = 4;

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-state-crash-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      security: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } },
      logging: { level: "info" },
    }),
  );
});
afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  await rm(dir, { recursive: true, force: true });
});

const start = () =>
  startGatewayProcess(dir, { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN }, children);
const client = async (url: string) => {
  const c = new GatewayClient({ url, token: ADMIN, WebSocket, reconnect: false, requestTimeoutMs: 5000 });
  await c.connect();
  return c;
};
/** A device: unauthenticated (to pair), or with its device token. */
const device = async (url: string, deviceToken?: string) => {
  const c = new GatewayClient({
    url,
    role: "node",
    ...(deviceToken === undefined ? {} : { deviceToken }),
    WebSocket,
    reconnect: false,
    requestTimeoutMs: 5000,
    client: { name: "ios", version: "1", platform: "ios" },
  });
  await c.connect();
  return c;
};

describe("state across kill -9 at random moments (real gateway processes)", () => {
  it("keeps every acknowledged task schedule and pairing, once, whatever moment the gateway dies", async () => {
    const acknowledgedTasks = new Map<string, string>(); // idempotency key → task id
    const pairedTokens = new Map<string, string>(); // node id → device token
    let nextKey = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const gateway = await start();
      const admin = await client(gateway.url);
      let running = true;
      // Task schedules, each with its own idempotency key, as fast as they are acknowledged.
      const scheduling = (async () => {
        while (running) {
          const key = `k-${nextKey++}`;
          try {
            const { taskId } = await admin.request("task.schedule", {
              type: "noop",
              delayMs: 3_600_000,
              idempotencyKey: key,
            });
            acknowledgedTasks.set(key, taskId);
          } catch {
            return; // the gateway died mid-request: not acknowledged
          }
        }
      })();
      // Pairings: a device asks, the admin approves; acknowledged once the device holds its token.
      const pairing = (async () => {
        for (let n = 0; running; n++) {
          const nodeId = `phone-${round}-${n}`;
          try {
            const phone = await device(gateway.url);
            const approved = new Promise<string | undefined>((done) =>
              phone.once("pairing.approved", (e) => done(e.deviceToken)),
            );
            const code = String(1000 + ((round * 97 + n) % 9000));
            await phone.request("pairing.start", {
              code,
              publicKey: "MCowBQYDK2VwAyEAexamplekey1234567890",
              nodeId,
            });
            await admin.request("pairing.approve", { code });
            const token = await approved;
            if (token !== undefined) pairedTokens.set(nodeId, token);
            await phone.close();
          } catch {
            return;
          }
        }
      })();
      await new Promise((done) => setTimeout(done, 150 + Math.random() * 500));
      running = false;
      await kill9(gateway.child);
      await Promise.all([scheduling, pairing]);
      await admin.close().catch(() => {});
    }

    const gateway = await start();
    const admin = await client(gateway.url);
    const scheduled = async () => {
      const ids: string[] = [];
      for (let cursor: string | undefined, more = true; more; ) {
        const page = await admin.request("task.list", {
          status: "scheduled",
          limit: 1000,
          ...(cursor === undefined ? {} : { cursor }),
        });
        ids.push(...page.tasks.map((t) => t.taskId));
        cursor = page.nextCursor ?? undefined;
        more = page.nextCursor != null;
      }
      return ids;
    };
    const ids = await scheduled();
    expect(new Set(ids).size).toBe(ids.length);
    for (const [key, taskId] of acknowledgedTasks) expect(ids, `task ${key}`).toContain(taskId);
    // A repeat of every acknowledged key schedules nothing new.
    for (const [key, taskId] of acknowledgedTasks)
      expect(
        (await admin.request("task.schedule", { type: "noop", delayMs: 3_600_000, idempotencyKey: key }))
          .taskId,
      ).toBe(taskId);
    expect(await scheduled()).toHaveLength(ids.length);
    expect(acknowledgedTasks.size).toBeGreaterThan(ROUNDS);
    // Every device that got its token can connect with it.
    expect(pairedTokens.size).toBeGreaterThan(0);
    for (const [nodeId, deviceToken] of pairedTokens) {
      const node = await device(gateway.url, deviceToken);
      await node.close();
      expect(nodeId).toBeTruthy();
    }
    await admin.close();
  }, 120_000);

  it("keeps every acknowledged conversation message, once: webhooks answered 200 and sends answered sent", async () => {
    const BOT_TOKEN = "7000000001:AAFakeTokenForCrashTests_0123456789";
    const SECRET = "crash-test-webhook-secret";
    const CHATS = [42, 43, 44];
    const telegram = await FakeTelegram.start(BOT_TOKEN);
    try {
      await writeFile(
        join(dir, "openclaw.json"),
        JSON.stringify({
          channels: {
            telegram: telegramWebhookChannel(BOT_TOKEN, telegram.apiRoot, SECRET),
          },
          state: { historyLimit: 100_000 },
          security: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } },
          logging: { level: "info" },
        }),
      );
      const update = (n: number) => ({
        update_id: 1000 + n,
        message: {
          message_id: 1000 + n,
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
      const received = new Set<number>(); // updates answered 200
      const sent = new Set<string>(); // texts answered "sent"
      let nextIn = 0;
      let nextOut = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const gateway = await start();
        const base = gateway.url.replace(/^ws/, "http");
        const operator = await client(gateway.url);
        let running = true;
        // Telegram posts updates one after another and redelivers one that was not answered 200.
        const posting = (async () => {
          while (running) {
            const n = nextIn;
            try {
              const response = await post(base, n);
              if (response.status !== 200) {
                // Not taken (the channel is still starting): Telegram tries again a little later.
                await new Promise((done) => setTimeout(done, 20));
                continue;
              }
              received.add(n);
              nextIn++;
              // Now and then Telegram delivers an update twice.
              if (n % 7 === 0) await post(base, n);
            } catch {
              return; // the gateway died: update n is redelivered to the next one
            }
          }
        })();
        const sending = (async () => {
          while (running) {
            const text = `out-${nextOut++}`;
            try {
              const result = await operator.request("message.send", {
                channel: "telegram",
                recipient: String(CHATS[nextOut % CHATS.length]),
                text,
              });
              if (result.status === "sent") sent.add(text);
            } catch {
              return;
            }
          }
        })();
        await new Promise((done) => setTimeout(done, 300 + Math.random() * 700));
        running = false;
        await kill9(gateway.child);
        await Promise.all([posting, sending]);
        await operator.close().catch(() => {});
      }

      const gateway = await start();
      const operator = await client(gateway.url);
      // The channel connects in the background after start-up: redeliver once it takes webhooks.
      await vi.waitFor(
        async () => {
          const { channels } = await operator.request("channel.status", { channel: "telegram" });
          expect(channels[0]?.state).toBe("ready");
        },
        { timeout: 20_000, interval: 50 },
      );
      // Telegram redelivers every update once more: none may be recorded twice.
      const base = gateway.url.replace(/^ws/, "http");
      for (const n of received) expect((await post(base, n)).status).toBe(200);
      const texts: string[] = [];
      for (const chat of CHATS) {
        for (let since = 0, more = true; more; ) {
          const page = await operator.request("conversation.history", {
            channel: "telegram",
            conversationId: String(chat),
            since,
            limit: 1000,
          });
          texts.push(...page.messages.map((m) => m.content.text ?? ""));
          since = page.cursor;
          more = page.hasMore;
        }
      }
      const count = new Map<string, number>();
      for (const text of texts) count.set(text, (count.get(text) ?? 0) + 1);
      expect(received.size).toBeGreaterThan(ROUNDS);
      expect(sent.size).toBeGreaterThan(ROUNDS);
      for (const n of received) expect(count.get(`in-${n}`), `update ${n}`).toBe(1);
      for (const text of sent) expect(count.get(text), text).toBe(1);
      for (const [text, times] of count) if (text.startsWith("in-")) expect(times, text).toBe(1);
      await operator.close();
    } finally {
      await telegram.close();
    }
  }, 120_000);
});
