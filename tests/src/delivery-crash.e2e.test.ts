import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAKE_BOT_USER, FAKE_ROOM, FAKE_SERVER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { kill9, startGatewayProcess, until } from "./gateway-process";

const ACCESS_TOKEN = "syt_b3BlbmNsYXc_fake_access_token";
const TOKEN = "operator-token-0123456789";
const SECOND_ROOM = `!second:${FAKE_SERVER}`;
const PER_ROOM = 500;

let fake: FakeMatrix;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
  fake.invite(SECOND_ROOM);
  dir = await mkdtemp(join(tmpdir(), "openclaw-crash-"));
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: { matrix: { homeserverUrl: fake.baseUrl, userId: FAKE_BOT_USER, accessToken: ACCESS_TOKEN } },
      delivery: { backoffBaseMs: 50, backoffMaxMs: 200, maxAttempts: 1000, maxQueued: 5000 },
      security: { rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } },
      logging: { level: "info" },
    }),
  );
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const startGateway = () => startGatewayProcess(dir, { OPENCLAW_GATEWAY_TOKEN: TOKEN }, children);

describe("delivery across kill -9 (real gateway processes, matrix-js-sdk against a fake homeserver)", () => {
  it("delivers 1,000 messages queued while the platform fails, exactly once and in order per room", async () => {
    // The homeserver refuses every send: alternately rate limited and failing.
    fake.failAllSends = { status: 500, body: { errcode: "M_UNKNOWN", error: "Internal server error" } };
    fake.failNextSend(
      ...Array.from({ length: 20 }, () => ({
        status: 429,
        body: { errcode: "M_LIMIT_EXCEEDED", error: "Too Many Requests", retry_after_ms: 100 },
      })),
    );
    const first = await startGateway();
    const client = new GatewayClient({ url: first.url, token: TOKEN, WebSocket, reconnect: false });
    await client.connect();
    await until(() => fake.membership(SECOND_ROOM) === "join", "the bot to join the second room", 20_000);
    const results = [];
    for (let batch = 0; batch < 10; batch++) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, i) => {
            const n = batch * 100 + i;
            const room = n % 2 === 0 ? FAKE_ROOM : SECOND_ROOM;
            return client.request("message.send", { recipient: room, channel: "matrix", text: `m${n}` });
          }),
        )),
      );
    }
    // Every send was acknowledged as queued: the platform has taken none.
    expect(results.every((r) => r.status === "queued")).toBe(true);
    expect(fake.sentTexts()).toEqual([]);
    await client.close();
    await kill9(first.child);

    // The homeserver recovers; a new gateway delivers; it is killed mid-way and started once more.
    fake.failAllSends = undefined;
    const second = await startGateway();
    await until(() => fake.sentTexts().length >= 200, "part of the messages");
    await kill9(second.child);
    await startGateway();
    await until(() => fake.sentTexts().length >= 2 * PER_ROOM, "every message");
    await new Promise((done) => setTimeout(done, 300));

    const texts = fake.sentTexts();
    expect(texts).toHaveLength(2 * PER_ROOM);
    expect(new Set(texts).size).toBe(2 * PER_ROOM);
    for (const room of [FAKE_ROOM, SECOND_ROOM]) {
      const order = fake.sent
        .filter((e) => e.roomId === room)
        .map((e) => Number(String(e.content.body).slice(1)));
      expect(order).toHaveLength(PER_ROOM);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  }, 120_000);
});
