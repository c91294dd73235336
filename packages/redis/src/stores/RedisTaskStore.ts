import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import { keyPrefix, type RedisStoreOptions, viaRedis } from "./redisStoreClient";

/** Defaults of {@link RedisTaskStoreOptions}. */
export const REDIS_TASK_STORE_DEFAULTS = {
  /** The store's name in its keys. */
  name: "tasks",
  /** Records read per `HMGET` by `load`. */
  loadBatchSize: 500,
} as const;

/** Options of {@link RedisTaskStore}. */
export interface RedisTaskStoreOptions extends RedisStoreOptions {
  /**
   * The store's name in its keys (`openclaw:<namespace>:<name>:...`).
   * @defaultValue `REDIS_TASK_STORE_DEFAULTS.name` (`"tasks"`)
   */
  name?: string;
  /**
   * Records read per `HMGET` by `load`.
   * @defaultValue `REDIS_TASK_STORE_DEFAULTS.loadBatchSize` (500)
   */
  loadBatchSize?: number;
}

/**
 * Puts a record, keeping the place of its first write. KEYS: data hash, order zset, sequence
 * counter. ARGV: id, record JSON.
 */
const PUT = `
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
end
return 1
`;

/**
 * A `TaskStore` of `@openclaw/task-queue` on Redis: the task records as JSON in the hash
 * `openclaw:<namespace>:tasks:data`, the order of their first write in the sorted set
 * `...:tasks:order`. Nothing is cached: `load` reads Redis, each write resolves once Redis has it.
 * Typed by its record (`new RedisTaskStore<TaskRecord>(redis)` is a `TaskStore`), so this package
 * needs no dependency on the task queue.
 *
 * @example
 * ```ts
 * const queue = new TaskQueue({ store: new RedisTaskStore<TaskRecord>(redis) });
 * ```
 */
export class RedisTaskStore<R extends { id: string }> {
  /** The prefix of the store's keys. */
  readonly prefix: string;
  readonly #redis: Redis;
  readonly #batch: number;
  #closed = false;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace and the store's name.
   */
  constructor(redis: Redis, options: RedisTaskStoreOptions = {}) {
    this.#redis = redis;
    this.prefix = `${keyPrefix(options.namespace)}${options.name ?? REDIS_TASK_STORE_DEFAULTS.name}:`;
    this.#batch = options.loadBatchSize ?? REDIS_TASK_STORE_DEFAULTS.loadBatchSize;
  }

  /**
   * Every stored record, in the order of their first write.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read,
   *   `SHUTTING_DOWN` once closed.
   */
  async load(): Promise<R[]> {
    this.#assertOpen();
    return viaRedis(`loading ${this.prefix}`, async () => {
      const ids = await this.#redis.zrange(`${this.prefix}order`, 0, -1);
      const records: R[] = [];
      for (let start = 0; start < ids.length; start += this.#batch) {
        const values = await this.#redis.hmget(
          `${this.prefix}data`,
          ...ids.slice(start, start + this.#batch),
        );
        for (const json of values) if (json !== null) records.push(JSON.parse(json) as R);
      }
      return records;
    });
  }

  /**
   * Inserts or replaces a record (by `id`).
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written,
   *   `SHUTTING_DOWN` once closed.
   */
  async put(record: R): Promise<void> {
    this.#assertOpen();
    const json = JSON.stringify(record);
    await viaRedis(`storing task ${record.id}`, () =>
      this.#redis.eval(
        PUT,
        3,
        `${this.prefix}data`,
        `${this.prefix}order`,
        `${this.prefix}seq`,
        record.id,
        json,
      ),
    );
  }

  /**
   * Removes a record; removing an unknown id is not an error.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written,
   *   `SHUTTING_DOWN` once closed.
   */
  async delete(id: string): Promise<void> {
    this.#assertOpen();
    await viaRedis(`deleting task ${id}`, async () => {
      const results = await this.#redis
        .multi()
        .hdel(`${this.prefix}data`, id)
        .zrem(`${this.prefix}order`, id)
        .exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (results === null || failed !== undefined) throw failed ?? new Error("transaction aborted");
    });
  }

  /** Refuses further use; the client stays open (the caller owns it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new ProtocolError("SHUTTING_DOWN", "the Redis task store is closed", {
        details: { reason: "store_closed" },
      });
    }
  }
}
