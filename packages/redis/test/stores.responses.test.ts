import { runResponseStoreConformance } from "@openclaw/backend/testing";
import { describe, expect, it, vi } from "vitest";
import { RedisResponseStore } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

describe.skipIf(skipRedis)("RedisResponseStore", () => {
  const fixture = useRedis();
  runResponseStoreConformance({
    name: "RedisResponseStore",
    create: ({ limits, now }) =>
      new RedisResponseStore(fixture.redis, { namespace: freshNamespace(), limits, now }),
  });

  it("shares entries and bounds between stores on one namespace (two instances)", async () => {
    const namespace = freshNamespace();
    const limits = () => ({
      maxStored: 1000,
      ttlMs: 60_000,
      maxStoredBytes: 2500,
      maxStoredBytesPerPrincipal: 2500,
    });
    const a = new RedisResponseStore(fixture.redis, { namespace, limits });
    const b = new RedisResponseStore(fixture.redis, { namespace, limits });
    const stored = (n: number) => ({
      response: `{"n":${n},"pad":"${"x".repeat(980)}"}`,
      messages: "[]",
      items: [`item-${n}`],
    });
    await a.put("alice", "r1", stored(1));
    expect(await b.get("alice", "r1")).toEqual(stored(1));
    expect(await b.findItem("alice", "item-1")).toBe("r1");
    await b.put("alice", "r2", stored(2));
    await a.put("alice", "r3", stored(3));
    // 3 entries of about 1 KB are over 2,500 bytes: the oldest went, whichever store wrote it.
    expect(await a.get("alice", "r1")).toBeUndefined();
    expect(await b.findItem("alice", "item-1")).toBeUndefined();
    expect(await a.get("alice", "r2")).toEqual(stored(2));
    // Redis holds the byte count, within the bound.
    const total = Number(await fixture.redis.get(`openclaw:${namespace}:responses:total`));
    expect(total).toBeGreaterThan(2000);
    expect(total).toBeLessThanOrEqual(2500);
  });

  it("reads a value another program wrote under its keys as no response", async () => {
    const namespace = freshNamespace();
    const store = new RedisResponseStore(fixture.redis, {
      namespace,
      limits: () => ({ maxStored: 10, ttlMs: 60_000, maxStoredBytes: 1e6, maxStoredBytesPerPrincipal: 1e6 }),
    });
    await fixture.redis.hset(`openclaw:${namespace}:responses:r:alice:r1`, {
      response: "{}",
      messages: "[]",
      items: "not json",
      at: String(Date.now()),
    });
    expect(await store.get("alice", "r1")).toBeUndefined();
    await fixture.redis.hset(`openclaw:${namespace}:responses:r:alice:r2`, {
      response: "{}",
      messages: "[]",
      items: "[]",
    });
    expect(await store.get("alice", "r2")).toBeUndefined();
  });

  it("rejects a write with a typed UNAVAILABLE when Redis is down", async () => {
    const namespace = freshNamespace();
    const store = new RedisResponseStore(fixture.redis, {
      namespace,
      limits: () => ({ maxStored: 10, ttlMs: 60_000, maxStoredBytes: 1e6, maxStoredBytesPerPrincipal: 1e6 }),
    });
    await fixture.server.kill9();
    try {
      await expect(
        store.put("alice", "r1", { response: "{}", messages: "[]", items: [] }),
      ).rejects.toMatchObject({
        code: "UNAVAILABLE",
        details: { reason: "redis_unavailable" },
      });
      await expect(store.get("alice", "r1")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    } finally {
      await fixture.server.restart();
      await vi.waitFor(() => fixture.redis.ping(), { timeout: 15_000, interval: 100 });
    }
  });
});
