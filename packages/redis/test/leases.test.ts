import { describe, expect, it } from "vitest";
import { connectRedisStoreClient, RedisLeases } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

/** Polls `attempt` until it yields a value, within a generous deadline. */
async function eventually<T>(attempt: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error("not within the deadline");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(skipRedis)("RedisLeases", () => {
  const fixture = useRedis();

  it("grants a lease to one instance at a time, with a larger fencing token for each new holder", async () => {
    const namespace = freshNamespace();
    const a = new RedisLeases({ redis: fixture.redis, instanceId: "a", namespace, ttlMs: 2_000 });
    const b = new RedisLeases({ redis: fixture.redis, instanceId: "b", namespace, ttlMs: 2_000 });
    const first = await a.tryAcquire("channel:x");
    expect(first?.token).toBe(1);
    expect(await b.tryAcquire("channel:x")).toBeUndefined();
    expect(await a.tryAcquire("channel:x")).toBeUndefined(); // held already, here
    expect(await fixture.redis.get(a.key("channel:x"))).toBe("a|1");
    await first?.release();
    await first?.release();
    const second = await b.tryAcquire("channel:x");
    expect(second?.token).toBe(2);
    expect(first?.lost.aborted).toBe(false); // released, not lost
    await a.close();
    await b.close();
    expect(await fixture.redis.exists(b.key("channel:x"))).toBe(0);
  });

  it("renews a held lease past its TTL", async () => {
    const namespace = freshNamespace();
    const a = new RedisLeases({ redis: fixture.redis, instanceId: "a", namespace, ttlMs: 300, renewMs: 50 });
    const b = new RedisLeases({ redis: fixture.redis, instanceId: "b", namespace, ttlMs: 300 });
    const lease = await a.tryAcquire("cron");
    // Wait for several renewals by Redis's own clock: the key keeps a fresh TTL.
    let renewals = 0;
    for (let probe = 0; probe < 200 && renewals < 5; probe++) {
      const before = await fixture.redis.pttl(a.key("cron"));
      await new Promise((resolve) => setTimeout(resolve, 60));
      if ((await fixture.redis.pttl(a.key("cron"))) > before) renewals++;
    }
    expect(renewals).toBe(5);
    expect(await b.tryAcquire("cron")).toBeUndefined();
    expect(lease?.lost.aborted).toBe(false);
    await a.close();
    await b.close();
  });

  it("loses the lease when its holder is cut off from Redis, and another instance takes it with a larger token", async () => {
    const namespace = freshNamespace();
    const aRedis = await connectRedisStoreClient(fixture.server.url);
    const a = new RedisLeases({ redis: aRedis, instanceId: "a", namespace, ttlMs: 400, renewMs: 50 });
    const b = new RedisLeases({ redis: fixture.redis, instanceId: "b", namespace, ttlMs: 400 });
    const held = await a.tryAcquire("channel:telegram");
    if (held === undefined) throw new Error("not granted");
    const lost = new Promise((resolve) => held.lost.addEventListener("abort", resolve));
    const lostAt = (async () => {
      await lost;
      return Date.now();
    })();
    aRedis.disconnect();
    const taken = await eventually(() => b.tryAcquire("channel:telegram"));
    const takenAt = Date.now();
    // The old holder knew it had lost the lease before the new one got it.
    expect(await lostAt).toBeLessThanOrEqual(takenAt);
    expect(taken.token).toBeGreaterThan(held.token);
    await a.close();
    await b.close();
  });

  it("answers a typed retryable error when Redis cannot be reached", async () => {
    const redis = await connectRedisStoreClient(fixture.server.url);
    redis.disconnect();
    const leases = new RedisLeases({ redis, instanceId: "a", namespace: freshNamespace() });
    await expect(leases.tryAcquire("x")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "redis_unavailable", retryable: true },
    });
  });
});
