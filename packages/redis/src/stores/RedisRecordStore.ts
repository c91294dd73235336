import type { RecordStore, RecordStoreOpenOptions } from "@openclaw/gateway";
import type { Redis } from "ioredis";
import {
  keyPrefix,
  PendingWrites,
  type RedisStoreOptions,
  redisUnavailable,
  storeClosed,
  viaRedis,
} from "./redisStoreClient";

/** Defaults of {@link RedisRecordStoreOptions}. */
export const REDIS_RECORD_STORE_DEFAULTS = {
  /** Records read per `HMGET` when the store opens. */
  loadBatchSize: 500,
} as const;

/** Options of {@link RedisRecordStore.open}. */
export interface RedisRecordStoreOptions extends RedisStoreOptions {
  /** Which store: `"deliveries"` or `"conversations"`. */
  name: string;
  /**
   * Records read per `HMGET` when the store opens.
   * @defaultValue `REDIS_RECORD_STORE_DEFAULTS.loadBatchSize` (500)
   */
  loadBatchSize?: number;
}

/**
 * Puts a record, atomically. KEYS: data hash, order zset (score: a sequence), sequence counter.
 * ARGV: id, record JSON.
 */
const PUT = `
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
return seq
`;

/**
 * A {@link RecordStore} on Redis (the delivery queue, the conversation history): the records as
 * JSON in the hash `openclaw:<namespace>:records:<name>:data`, their order of last put in the
 * sorted set `...:order` (scored by a counter, so the order holds across instances and restarts).
 * A put is one atomic script, a delete one `MULTI`.
 *
 * `get`, `values` and `size` are synchronous: the store keeps every record in a local mirror, loaded
 * at open and written through; a write resolves once Redis has it (durable as the server's
 * `appendfsync` makes it). The mirror sees the writes of this instance only.
 *
 * @example
 * ```ts
 * const historyStore: RecordStoreFactory<ConversationRecord> = ({ name }) => RedisRecordStore.open(redis, { name });
 * ```
 */
export class RedisRecordStore<R extends { id: string }> implements RecordStore<R> {
  readonly #redis: Redis;
  readonly #prefix: string;
  /** The mirror, least recently put first; the store's own record objects. */
  readonly #records: Map<string, R>;
  readonly #writes = new PendingWrites();
  #closed = false;

  private constructor(redis: Redis, prefix: string, records: Map<string, R>) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#records = records;
  }

  /**
   * Opens the store named `options.name`, loading its records into the mirror.
   *
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - Which store and the key namespace. A `RecordStoreOpenOptions` fits (its
   *   `stateDir` is ignored).
   * @returns The store.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  static async open<R extends { id: string }>(
    redis: Redis,
    options: RedisRecordStoreOptions | (RecordStoreOpenOptions & RedisStoreOptions),
  ): Promise<RedisRecordStore<R>> {
    const prefix = `${keyPrefix(options.namespace)}records:${options.name}:`;
    const batch =
      ("loadBatchSize" in options ? options.loadBatchSize : undefined) ??
      REDIS_RECORD_STORE_DEFAULTS.loadBatchSize;
    const records = new Map<string, R>();
    await viaRedis(`loading the records of ${options.name}`, async () => {
      const ids = await redis.zrange(`${prefix}order`, 0, -1);
      for (let start = 0; start < ids.length; start += batch) {
        const chunk = ids.slice(start, start + batch);
        const values = await redis.hmget(`${prefix}data`, ...chunk);
        chunk.forEach((id, i) => {
          const json = values[i];
          if (json !== null && json !== undefined) records.set(id, JSON.parse(json) as R);
        });
      }
    });
    return new RedisRecordStore<R>(redis, prefix, records);
  }

  get(id: string): R | undefined {
    return this.#records.get(id);
  }

  values(): IterableIterator<R> {
    return this.#records.values();
  }

  get size(): number {
    return this.#records.size;
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written (the
   *   previous version is back), `SHUTTING_DOWN` once closed.
   */
  put(record: R): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    const copy = structuredClone(record);
    const json = JSON.stringify(copy);
    const previous = this.#records.get(copy.id);
    this.#records.delete(copy.id);
    this.#records.set(copy.id, copy);
    const write = this.#redis
      .eval(PUT, 3, `${this.#prefix}data`, `${this.#prefix}order`, `${this.#prefix}seq`, copy.id, json)
      .then(
        () => undefined,
        (error: unknown) => {
          if (this.#records.get(copy.id) === copy) {
            this.#records.delete(copy.id);
            if (previous !== undefined) this.#records.set(copy.id, previous);
          }
          throw redisUnavailable(`storing record ${copy.id} of ${this.#prefix}`, error);
        },
      );
    return this.#writes.track(write);
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written (the
   *   record is back), `SHUTTING_DOWN` once closed.
   */
  delete(id: string): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    const previous = this.#records.get(id);
    this.#records.delete(id);
    const write = this.#redis
      .multi()
      .hdel(`${this.#prefix}data`, id)
      .zrem(`${this.#prefix}order`, id)
      .exec()
      .then((results) => {
        const failed = results?.find(([error]) => error !== null)?.[0];
        if (results === null || failed !== undefined) throw failed ?? new Error("transaction aborted");
      })
      .catch((error: unknown) => {
        // Put back unless it was put again meanwhile (as the newest, like the file store does).
        if (previous !== undefined && !this.#records.has(id)) this.#records.set(id, previous);
        throw redisUnavailable(`deleting record ${id} of ${this.#prefix}`, error);
      });
    return this.#writes.track(write);
  }

  /** Waits for the writes in flight (their failures are reported to their callers). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writes.settled();
  }
}
