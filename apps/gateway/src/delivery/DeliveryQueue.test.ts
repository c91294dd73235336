import { EventEmitter, once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeliveryRecord } from "@openclaw/backend";
import { ChannelError, type ChannelPlugin, defineChannel } from "@openclaw/channel-sdk";
import { createTestContext } from "@openclaw/channel-sdk/testing";
import type { DeliveryConfig } from "@openclaw/config";
import * as v from "valibot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logging";
import { DeliveryQueue } from "./DeliveryQueue";

/** One send the plugin received. */
interface Sent {
  recipient: string;
  text: string | undefined;
  idempotencyKey: string | undefined;
  at: number;
}

/**
 * A tiny real channel plugin (through `defineChannel`) whose platform answers from a script: each
 * send takes the next scripted failure for its recipient, or succeeds when there is none.
 */
function scriptedChannel() {
  const sent: Sent[] = [];
  const failures = new Map<string, ChannelError[]>();
  let nextId = 1;
  const factory = defineChannel({
    name: "scripted",
    capabilities: ["text"],
    config: v.object({}),
    create: () => ({
      start() {},
      send(recipient, content, options) {
        sent.push({ recipient, text: content.text, idempotencyKey: options.idempotencyKey, at: Date.now() });
        const failure = failures.get(recipient)?.shift();
        if (failure !== undefined) throw failure;
        return { messageId: `p-${nextId++}` };
      },
      stop() {},
    }),
  });
  return {
    factory,
    sent,
    /** The next sends to `recipient` fail with these errors, in order. */
    fail(recipient: string, ...errors: ChannelError[]) {
      failures.set(recipient, [...(failures.get(recipient) ?? []), ...errors]);
    },
  };
}

const BASE_CONFIG: DeliveryConfig = {
  maxAttempts: 5,
  backoffBaseMs: 100,
  backoffMaxMs: 10_000,
  maxQueued: 100,
  maxDeadLetters: 10,
  idempotencyWindowMs: 86_400_000,
  maxIdempotencyKeys: 100,
  inboundDedupeWindowMs: 86_400_000,
  maxInboundDedupeIds: 100,
};

let dir: string;
let platform: ReturnType<typeof scriptedChannel>;
let plugin: ChannelPlugin<Record<string, never>>;
let queue: DeliveryQueue | undefined;
let config: DeliveryConfig;
const dead: DeliveryRecord[] = [];
/** Emits "retry" each time the queue has stored a failed attempt's next time (its debug log line). */
const progress = new EventEmitter();
let retries = 0;
/** Resolves once `count` failed attempts have been stored: an event, so fake time stands still. */
const retried = async (count: number) => {
  while (retries < count) await once(progress, "retry");
};
const sentOutcomes: Array<{ id: string; messageId: string; inline: boolean }> = [];

async function openQueue(): Promise<DeliveryQueue> {
  queue = await DeliveryQueue.open(dir, {
    logger: createLogger("debug", {
      write(line: string) {
        if (line.includes("will retry")) {
          retries += 1;
          progress.emit("retry");
        }
      },
    }),
    config: () => config,
    send: (record) => plugin.send(record.address, record.content, { idempotencyKey: record.id }),
    onSent: (record, result, inline) =>
      sentOutcomes.push({ id: record.id, messageId: result.messageId, inline }),
    onDead: (record) => dead.push(record),
  });
  return queue;
}

const texts = (recipient: string) =>
  platform.sent.filter((s) => s.recipient === recipient).map((s) => s.text);
const unavailable = () => new ChannelError("PLATFORM_UNAVAILABLE", "the platform is down");
const rateLimited = (retryAfterMs: number) => new ChannelError("RATE_LIMITED", "slow down", { retryAfterMs });

beforeEach(async () => {
  // Only the queue's retry timers and clock are fake; the log's file I/O is real.
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: new Date("2026-01-01T00:00:00Z") });
  dir = await mkdtemp(join(tmpdir(), "openclaw-delivery-"));
  config = { ...BASE_CONFIG };
  platform = scriptedChannel();
  plugin = platform.factory.create();
  await plugin.initialize({}, createTestContext("scripted", {}));
  dead.length = 0;
  retries = 0;
  sentOutcomes.length = 0;
});

afterEach(async () => {
  await queue?.close();
  queue = undefined;
  await plugin.destroy();
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe("DeliveryQueue", () => {
  it("sends at once when the platform takes it, handing the delivery id as idempotency key", async () => {
    const q = await openQueue();
    const outcome = await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "hi" } });
    expect(outcome).toMatchObject({ status: "sent", messageId: "p-1" });
    expect(platform.sent).toEqual([
      expect.objectContaining({ recipient: "chat-1", text: "hi", idempotencyKey: outcome.deliveryId }),
    ]);
    expect(sentOutcomes).toEqual([{ id: outcome.deliveryId, messageId: "p-1", inline: true }]);
    expect(q.counts()).toEqual({ pending: 0, dead: 0 });
  });

  it("keeps the order per address: later messages wait behind one being retried; other addresses do not", async () => {
    const q = await openQueue();
    platform.fail("chat-a", rateLimited(1000));
    const first = await q.enqueue({ channel: "scripted", address: "chat-a", content: { text: "a1" } });
    expect(first).toMatchObject({ status: "queued", reason: "RATE_LIMITED" });
    const second = await q.enqueue({ channel: "scripted", address: "chat-a", content: { text: "a2" } });
    const third = await q.enqueue({ channel: "scripted", address: "chat-a", content: { text: "a3" } });
    expect(second).toMatchObject({ status: "queued", reason: "behind_earlier_messages" });
    expect(third).toMatchObject({ status: "queued", reason: "behind_earlier_messages" });
    // Another address is its own lane: it goes out at once.
    expect(
      await q.enqueue({ channel: "scripted", address: "chat-b", content: { text: "b1" } }),
    ).toMatchObject({
      status: "sent",
    });
    expect(texts("chat-a")).toEqual(["a1"]);
    expect(q.list({ limit: 10 }).map((d) => d.content.text)).toEqual(["a1", "a2", "a3"]);

    await vi.advanceTimersByTimeAsync(1000);
    await vi.waitFor(() => expect(q.counts().pending).toBe(0));
    expect(texts("chat-a")).toEqual(["a1", "a1", "a2", "a3"]);
    expect(sentOutcomes.filter((o) => !o.inline).map((o) => o.id)).toEqual([
      first.deliveryId,
      second.deliveryId,
      third.deliveryId,
    ]);
  });

  it("retries with exponential backoff, and waits longer when the platform's retry-after says so", async () => {
    const q = await openQueue();
    // 1st attempt down → +100 ms; 2nd down → +200 ms; 3rd rate limited for 1500 ms (> 400) → +1500 ms; 4th sent.
    platform.fail("chat-1", unavailable(), unavailable(), rateLimited(1500));
    const start = Date.now();
    const outcome = await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "hello" } });
    expect(outcome).toMatchObject({ status: "queued", reason: "PLATFORM_UNAVAILABLE" });

    const due = () => q.list({ limit: 1 })[0]?.nextAttemptAt;
    const sentAt = (n: number) => platform.sent[n - 1]!.at - start;
    expect(due()).toBe(start + 100);

    await vi.advanceTimersByTimeAsync(99);
    expect(platform.sent).toHaveLength(1); // not before its time
    await vi.advanceTimersByTimeAsync(1);
    await retried(2);
    expect(sentAt(2)).toBe(100);
    expect(due()).toBe(start + 300);

    await vi.advanceTimersByTimeAsync(199);
    expect(platform.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await retried(3);
    expect(sentAt(3)).toBe(300);
    expect(due()).toBe(start + 1800); // the retry-after (1500 ms), not the 400 ms backoff
    expect(q.list({ limit: 1 })[0]).toMatchObject({ attempts: 3, lastError: { code: "RATE_LIMITED" } });

    await vi.advanceTimersByTimeAsync(1499);
    expect(platform.sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(q.counts()).toEqual({ pending: 0, dead: 0 }));
    expect(sentAt(4)).toBe(1800);
    expect(new Set(platform.sent.map((s) => s.idempotencyKey))).toEqual(new Set([outcome.deliveryId]));
  });

  it("caps a platform's retry-after at backoffMaxMs", async () => {
    config = { ...config, backoffMaxMs: 2000 };
    const q = await openQueue();
    platform.fail("chat-1", rateLimited(60_000));
    const start = Date.now();
    await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "hello" } });
    expect(q.list({ limit: 1 })[0]?.nextAttemptAt).toBe(start + 2000);
    await vi.advanceTimersByTimeAsync(1999);
    expect(platform.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(platform.sent).toHaveLength(2));
  });

  it("moves a message to the dead-letter list after maxAttempts, and retry() revives it", async () => {
    config = { ...config, maxAttempts: 3 };
    const q = await openQueue();
    platform.fail("chat-1", unavailable(), unavailable(), unavailable());
    const { deliveryId } = await q.enqueue({
      channel: "scripted",
      address: "chat-1",
      content: { text: "x" },
    });
    await vi.advanceTimersByTimeAsync(100);
    await vi.waitFor(() => expect(platform.sent).toHaveLength(2));
    await vi.advanceTimersByTimeAsync(200);
    await vi.waitFor(() => expect(dead).toHaveLength(1));
    expect(platform.sent).toHaveLength(3);
    expect(dead[0]).toMatchObject({
      id: deliveryId,
      status: "dead",
      attempts: 3,
      lastError: { code: "PLATFORM_UNAVAILABLE" },
    });
    expect(q.counts()).toEqual({ pending: 0, dead: 1 });
    expect(q.list({ status: "dead", limit: 10 })).toEqual([expect.objectContaining({ id: deliveryId })]);
    expect(vi.getTimerCount()).toBe(0); // nothing left to retry

    await q.retry(deliveryId);
    await vi.waitFor(() => expect(q.counts()).toEqual({ pending: 0, dead: 0 }));
    expect(platform.sent).toHaveLength(4);
  });

  it("answers a refusal for good to the waiting sender and keeps nothing", async () => {
    const q = await openQueue();
    platform.fail("nobody", new ChannelError("RECIPIENT_NOT_FOUND", "no such chat"));
    await expect(
      q.enqueue({ channel: "scripted", address: "nobody", content: { text: "x" } }),
    ).rejects.toMatchObject({ name: "ChannelError", code: "RECIPIENT_NOT_FOUND" });
    expect(q.counts()).toEqual({ pending: 0, dead: 0 });
    expect(dead).toEqual([]);
  });

  it("refuses with RATE_LIMITED once maxQueued messages wait", async () => {
    config = { ...config, maxQueued: 2 };
    const q = await openQueue();
    platform.fail("chat-1", rateLimited(5000));
    await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "1" } });
    await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "2" } });
    await expect(
      q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "3" } }),
    ).rejects.toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 1000 });
  });

  it("after a restart, resumes every stored message at once and in order", async () => {
    const q = await openQueue();
    platform.fail("chat-1", rateLimited(10_000));
    const first = await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "m1" } });
    await q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "m2" } });
    expect(first).toMatchObject({ status: "queued" });
    await q.close();
    queue = undefined;
    expect(texts("chat-1")).toEqual(["m1"]);

    // A new queue on the same directory: the platform is back, and nobody waits out the retry-after.
    const reopened = await openQueue();
    await vi.waitFor(() => expect(reopened.counts()).toEqual({ pending: 0, dead: 0 }));
    expect(texts("chat-1")).toEqual(["m1", "m1", "m2"]);
    expect(platform.sent[1]!.idempotencyKey).toBe(first.deliveryId); // the same key across the restart
    expect(sentOutcomes.map((o) => o.inline)).toEqual([false, false]);
  });

  it("answers a sender whose first attempt is also its last, and keeps the dead letter across a restart", async () => {
    config = { ...config, maxAttempts: 1 };
    const q = await openQueue();
    platform.fail("chat-1", unavailable());
    // The first attempt is also the last: the waiting sender gets the failure, the operator a dead letter.
    await expect(
      q.enqueue({ channel: "scripted", address: "chat-1", content: { text: "x" } }),
    ).rejects.toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    await vi.waitFor(() => expect(dead).toHaveLength(1));
    const deliveryId = dead[0]!.id;
    await q.close();
    queue = undefined;
    const reopened = await openQueue();
    expect(reopened.counts()).toEqual({ pending: 0, dead: 1 });
    expect(reopened.list({ status: "dead", limit: 10 })).toEqual([
      expect.objectContaining({ id: deliveryId, status: "dead" }),
    ]);
    expect(platform.sent).toHaveLength(1);
  });
});
