import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { connectRedisStoreClient } from "../src/index";
import { type RedisServer, redisAvailable, startRedisServer } from "../src/testing/index";

/** Whether the Redis store tests skip: no `redis-server` here, and not in CI (where they must run). */
export const skipRedis = !(await redisAvailable()) && !process.env.CI;
if (skipRedis) {
  console.warn(
    "[@openclaw/redis] redis-server is not installed: the Redis store tests are skipped " +
      "(apt-get install redis-server; in CI they never skip).",
  );
}

/** The file's Redis: one real server per test file, a connected client, the db flushed before each test. */
export interface RedisFixture {
  readonly server: RedisServer;
  readonly redis: Redis;
}

/**
 * Starts one `redis-server` for the calling test file (inside its `describe`) and a store client on it.
 *
 * @returns Getters for both, valid inside tests.
 */
export function useRedis(): RedisFixture {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = await connectRedisStoreClient(server.url);
  });
  beforeEach(async () => {
    await redis?.flushdb();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      if (server === undefined) throw new Error("redis-server is not started");
      return server;
    },
    get redis() {
      if (redis === undefined) throw new Error("redis-server is not started");
      return redis;
    },
  };
}

/** A namespace no other test uses. */
export const freshNamespace = (): string => `test-${randomUUID()}`;
