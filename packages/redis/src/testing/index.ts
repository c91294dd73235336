/**
 * @packageDocumentation
 * Test helpers for `@openclaw/redis`: a real `redis-server` on a free loopback port.
 */
export type { RedisServer, RedisServerOptions } from "./redisServer";
export { REDIS_SERVER_DEFAULTS, redisAvailable, startRedisServer } from "./redisServer";
