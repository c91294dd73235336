import { isProtocolError, ProtocolError } from "@openclaw/protocol";
import { describe, expect, it, vi } from "vitest";
import {
  connectRedisStoreClient,
  RedisDeviceStore,
  RedisKeyStore,
  RedisRecordStore,
  RedisTaskStore,
} from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

/** Far above the client's 5 s command timeout: a write to a down Redis must settle well before it. */
const BOUND_MS = 15_000;

/** Awaits `write`, expecting the retryable `redis_unavailable` error within {@link BOUND_MS}. */
async function expectUnavailable(write: Promise<unknown>): Promise<void> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    write.then(
      () => "resolved",
      (error: unknown) => error,
    ),
    new Promise((resolve) => {
      timer = setTimeout(resolve, BOUND_MS, "hung");
    }),
  ]).finally(() => clearTimeout(timer));
  expect(outcome).toBeInstanceOf(ProtocolError);
  expect(isProtocolError(outcome, "UNAVAILABLE")).toBe(true);
  expect((outcome as ProtocolError).details).toEqual({ reason: "redis_unavailable", retryable: true });
  expect((outcome as ProtocolError).retryable).toBe(true);
  expect(performance.now() - started).toBeLessThan(BOUND_MS);
}

describe.skipIf(skipRedis)("Redis stores while Redis is down", () => {
  const fixture = useRedis();
  const limits = () => ({ maxEntries: 100, ttlMs: 60_000 });

  it("reject writes with UNAVAILABLE/redis_unavailable without hanging, and work again after a restart", async () => {
    const namespace = freshNamespace();
    const devices = new RedisDeviceStore(fixture.redis, { namespace });
    const keys = await RedisKeyStore.open<string>(fixture.redis, { name: "idempotency", namespace, limits });
    const records = await RedisRecordStore.open<{ id: string; n: number }>(fixture.redis, {
      name: "deliveries",
      namespace,
    });
    const device = {
      nodeId: "n1",
      publicKeyFingerprint: "a".repeat(64),
      tokenHash: "b".repeat(64),
      pairedAt: 1,
    };
    await devices.save([device]);
    await keys.remember("before", "kept");
    await records.put({ id: "r1", n: 1 });

    await fixture.server.kill9();

    await expectUnavailable(devices.save([]));
    await expectUnavailable(devices.load());
    const remembered = keys.remember("during", "lost");
    expect(keys.has("during")).toBe(true);
    await expectUnavailable(remembered);
    expect(keys.has("during")).toBe(false);
    const put = records.put({ id: "r1", n: 2 });
    expect(records.get("r1")).toEqual({ id: "r1", n: 2 });
    await expectUnavailable(put);
    expect(records.get("r1")).toEqual({ id: "r1", n: 1 });
    const deleted = records.delete("r1");
    expect(records.get("r1")).toBeUndefined();
    await expectUnavailable(deleted);
    expect(records.get("r1")).toEqual({ id: "r1", n: 1 });
    await expectUnavailable(RedisRecordStore.open(fixture.redis, { name: "deliveries", namespace }));
    const tasks = new RedisTaskStore<{ id: string }>(fixture.redis, { namespace });
    await expectUnavailable(tasks.put({ id: "t1" }));
    await expectUnavailable(tasks.delete("t1"));
    await expectUnavailable(tasks.load());

    await fixture.server.restart();

    // The client reconnects with backoff: retry the write until it lands (bounded by the timeout).
    await vi.waitFor(() => records.put({ id: "r2", n: 2 }), { timeout: BOUND_MS, interval: 100 });
    await keys.remember("after", "stored");
    await devices.save([device, { ...device, nodeId: "n2" }]);

    // Everything acknowledged before the crash survived it (append-only file, fsync always).
    expect((await devices.load()).map((d) => d.nodeId)).toEqual(["n1", "n2"]);
    await keys.close();
    const reopenedKeys = await RedisKeyStore.open<string>(fixture.redis, {
      name: "idempotency",
      namespace,
      limits,
    });
    expect(reopenedKeys.get("before")).toBe("kept");
    expect(reopenedKeys.get("after")).toBe("stored");
    expect(reopenedKeys.has("during")).toBe(false);
    await records.close();
    const reopened = await RedisRecordStore.open<{ id: string; n: number }>(fixture.redis, {
      name: "deliveries",
      namespace,
    });
    expect([...reopened.values()]).toEqual([
      { id: "r1", n: 1 },
      { id: "r2", n: 2 },
    ]);
    await reopened.close();
    await reopenedKeys.close();
  });

  it("refuse to connect to a Redis that is not there with the same typed error", async () => {
    await fixture.server.kill9();
    try {
      await expectUnavailable(
        connectRedisStoreClient(fixture.server.url, { redis: { retryStrategy: () => null } }),
      );
    } finally {
      await fixture.server.restart();
      await vi.waitFor(() => fixture.redis.ping(), { timeout: BOUND_MS, interval: 100 });
    }
  });
});
