import {
  fitsResponseStore,
  type ResponseStore,
  type ResponseStoreOptions,
  type StoredResponse,
  storedBytes,
} from "@openclaw/backend";
import type { Redis } from "ioredis";
import { keyPrefix, PendingWrites, type RedisStoreOptions, storeClosed, viaRedis } from "./redisStoreClient";

/** Defaults of {@link RedisResponseStoreOptions}. */
export const REDIS_RESPONSE_STORE_DEFAULTS = {
  /**
   * How much longer than `ttlMs` Redis keeps an entry's keys (their `PX`): visibility follows the
   * store's clock, the Redis expiry only collects what no write dropped.
   */
  expiryGraceMs: 60_000,
} as const;

/** Options of a {@link RedisResponseStore}. */
export interface RedisResponseStoreOptions extends RedisStoreOptions {
  /** The limits (the config's `openai.responses`), read at every write so config reloads apply. */
  limits(): ResponseStoreOptions;
  /**
   * The clock (ms since the epoch), for the age of entries.
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * How much longer than `ttlMs` Redis keeps an entry's keys.
   * @defaultValue `REDIS_RESPONSE_STORE_DEFAULTS.expiryGraceMs` (60 s)
   */
  expiryGraceMs?: number;
}

/**
 * Stores a response and drops what the limits no longer allow, atomically. ARGV: key prefix,
 * principal, id, response JSON, messages JSON, item ids JSON, bytes, now, the time at or before
 * which entries are expired, PX (ttlMs and a grace), maxStored, maxStoredBytes,
 * maxStoredBytesPerPrincipal.
 */
const PUT = `
local P = ARGV[1]
local principal, id = ARGV[2], ARGV[3]
local member = principal .. ':' .. id
local bytes, now, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[10])
local maxStored, maxBytes, maxPer = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])

local function drop(m)
  local b = tonumber(redis.call('HGET', P .. 'bytes', m) or '0')
  local sep = string.find(m, ':', 1, true)
  local p, rid = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local items = redis.call('HGET', P .. 'r:' .. m, 'items')
  if items then
    for _, item in ipairs(cjson.decode(items)) do
      local key = P .. 'i:' .. p .. ':' .. item
      if redis.call('GET', key) == rid then redis.call('DEL', key) end
    end
  end
  redis.call('DEL', P .. 'r:' .. m)
  redis.call('ZREM', P .. 'order', m)
  redis.call('ZREM', P .. 'time', m)
  redis.call('ZREM', P .. 'p:' .. p, m)
  redis.call('HDEL', P .. 'bytes', m)
  if b > 0 then
    redis.call('DECRBY', P .. 'total', b)
    if redis.call('HINCRBY', P .. 'pbytes', p, -b) <= 0 then redis.call('HDEL', P .. 'pbytes', p) end
  end
end

drop(member)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'time', '-inf', ARGV[9])) do drop(m) end
local seq = redis.call('INCR', P .. 'seq')
local key = P .. 'r:' .. member
redis.call('HSET', key, 'response', ARGV[4], 'messages', ARGV[5], 'items', ARGV[6], 'at', ARGV[8])
redis.call('PEXPIRE', key, ttl)
for _, item in ipairs(cjson.decode(ARGV[6])) do
  redis.call('SET', P .. 'i:' .. principal .. ':' .. item, id, 'PX', ttl)
end
redis.call('ZADD', P .. 'order', seq, member)
redis.call('ZADD', P .. 'time', now, member)
redis.call('ZADD', P .. 'p:' .. principal, seq, member)
redis.call('HSET', P .. 'bytes', member, bytes)
redis.call('INCRBY', P .. 'total', bytes)
redis.call('HINCRBY', P .. 'pbytes', principal, bytes)
while tonumber(redis.call('HGET', P .. 'pbytes', principal) or '0') > maxPer do
  local oldest = redis.call('ZRANGE', P .. 'p:' .. principal, 0, 0)[1]
  if not oldest or oldest == member then break end
  drop(oldest)
end
while redis.call('ZCARD', P .. 'order') > maxStored or tonumber(redis.call('GET', P .. 'total') or '0') > maxBytes do
  local oldest = redis.call('ZRANGE', P .. 'order', 0, 0)[1]
  if not oldest or oldest == member then break end
  drop(oldest)
end
return 1
`;

/**
 * A `ResponseStore` (stored `/v1/responses`) on Redis, so that every instance of a cluster reads,
 * chains and references a response whichever instance made it. Each response is a hash
 * `openclaw:<namespace>:responses:r:<principal>:<id>` (its response and conversation JSON and its
 * item ids, when it was stored) and each output item a key `…:i:<principal>:<itemId>` naming it;
 * an entry is visible for `ttlMs` on the store's clock, and Redis expires its keys a grace later. Indexes (by order of storing, in total and per principal; by time; the bytes of
 * each) let one script per write drop, atomically, the entries past `ttlMs` and the oldest beyond
 * `maxStored`, `maxStoredBytes` and `maxStoredBytesPerPrincipal`, so the bounds hold across the
 * instances. Reads go to Redis (no mirror): a response is there for every instance as soon as its
 * write is answered.
 *
 * Needs a single Redis (or a primary behind Sentinel): the script touches keys it computes, which
 * Redis Cluster does not allow.
 *
 * @example
 * ```ts
 * const responseStore: ResponseStoreFactory = ({ limits }) => new RedisResponseStore(redis, { limits });
 * ```
 */
export class RedisResponseStore implements ResponseStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #limits: () => ResponseStoreOptions;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #writes = new PendingWrites();
  #closed = false;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The limits, clock and key namespace.
   */
  constructor(redis: Redis, options: RedisResponseStoreOptions) {
    this.#redis = redis;
    this.#prefix = `${keyPrefix(options.namespace)}responses:`;
    this.#limits = options.limits;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.expiryGraceMs ?? REDIS_RESPONSE_STORE_DEFAULTS.expiryGraceMs;
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written (the
   *   response is then not stored), `SHUTTING_DOWN` once closed.
   */
  put(principal: string, id: string, stored: StoredResponse): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    const limits = this.#limits();
    const bytes = storedBytes(stored);
    if (!fitsResponseStore(bytes, limits)) return Promise.resolve();
    const now = this.#now();
    // Expired: stored at or before `now - ttlMs` (visible while `at + ttlMs > now`).
    const write = viaRedis("storing a response", async () => {
      await this.#redis.eval(
        PUT,
        0,
        this.#prefix,
        principal,
        id,
        stored.response,
        stored.messages,
        JSON.stringify(stored.items),
        bytes,
        now,
        now - limits.ttlMs,
        Math.max(1, Math.ceil(limits.ttlMs + this.#graceMs)),
        limits.maxStored,
        limits.maxStoredBytes,
        limits.maxStoredBytesPerPrincipal,
      );
    });
    return this.#writes.track(write);
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read. */
  async get(principal: string, id: string): Promise<StoredResponse | undefined> {
    const [response, messages, items, at] = await viaRedis("reading a stored response", () =>
      this.#redis.hmget(`${this.#prefix}r:${principal}:${id}`, "response", "messages", "items", "at"),
    );
    if (typeof response !== "string" || typeof messages !== "string" || typeof items !== "string")
      return undefined;
    if (!this.#live(at)) return undefined;
    // A value not written by this store (another app sharing the Redis) is no response.
    let ids: unknown;
    try {
      ids = JSON.parse(items);
    } catch {
      return undefined;
    }
    if (!Array.isArray(ids)) return undefined;
    return { response, messages, items: ids.filter((item) => typeof item === "string") };
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read. */
  async findItem(principal: string, itemId: string): Promise<string | undefined> {
    return viaRedis("finding a stored response item", async () => {
      const id = await this.#redis.get(`${this.#prefix}i:${principal}:${itemId}`);
      if (id === null) return undefined;
      const at = await this.#redis.hget(`${this.#prefix}r:${principal}:${id}`, "at");
      return this.#live(at) ? id : undefined;
    });
  }

  /** Whether an entry stored at `at` (as Redis holds it) is within `ttlMs` on the store's clock. */
  #live(at: string | null | undefined): boolean {
    const stored = Number(at);
    return Number.isFinite(stored) && stored + this.#limits().ttlMs > this.#now();
  }

  /** Waits for the writes in flight (their failures are reported to their callers). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writes.settled();
  }
}
