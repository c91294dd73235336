/**
 * The Redis fixture of the cluster tests that run real gateways on one Redis (moved here from
 * `@openclaw/redis`, which does not depend on the gateway): one real `redis-server` per test file
 * and a store client on it, flushed before each test.
 */
import { randomUUID } from "node:crypto";
import { connectRedisStoreClient } from "@openclaw/redis";
import { type RedisServer, startRedisServer } from "@openclaw/redis/testing";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { clusterTestsAvailable } from "../cluster-process";

/** Whether these tests skip: no `redis-server` here (never in CI, where that is an error). */
export const skipRedis = !(await clusterTestsAvailable());

/** The file's Redis: one real server per test file and a connected client. */
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
