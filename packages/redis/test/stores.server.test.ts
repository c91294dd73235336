import { access } from "node:fs/promises";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { redisAvailable, startRedisServer } from "../src/testing/index";
import { skipRedis } from "./storesHarness";

describe.skipIf(skipRedis)("startRedisServer", () => {
  it("runs a loopback redis-server that keeps acknowledged writes across a crash and cleans up on stop", async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      await redis.connect();
      await redis.set("k", "v");
      await server.kill9();
      await server.restart();
      await expect.poll(() => redis.get("k").catch(() => "unreachable"), { timeout: 15_000 }).toBe("v");
      expect(server.port).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
      await server.stop();
    }
    await expect(access(server.dir)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(server.stop()).resolves.toBeUndefined();
    await expect(server.restart()).rejects.toThrow(/stopped for good/);
  });

  it("reports a binary that cannot be run as an error, not a hang", async () => {
    await expect(startRedisServer({ binary: "/nonexistent/redis-server" })).rejects.toThrow(
      /could not be spawned/,
    );
  });
});

describe("redisAvailable", () => {
  it("says no for a binary that cannot be run", async () => {
    expect(await redisAvailable("/nonexistent/redis-server")).toBe(false);
  });
});
