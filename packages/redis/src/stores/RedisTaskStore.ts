import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import * as v from "valibot";
import { type ChangeNotice, newWriterId, type RedisChangeFeed } from "../RedisChangeFeed";
import type { MalformedMessages } from "../untrusted";
import { RECORD_NOTICE, STORED_RECORD } from "./notices";
import {
  keyPrefix,
  PendingWrites,
  type RedisStoreOptions,
  redisUnavailable,
  storeMalformed,
  viaRedis,
} from "./redisStoreClient";

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
  /**
   * The change feed of the namespace: every write publishes a notice, and
   * {@link RedisTaskStore.watch} reports the other instances' writes, which makes the store a
   * shared one (its task queue follows the other queues and needs claims).
   * @defaultValue none: no notices, no `watch` (a store one queue uses, or read by hand)
   */
  feed?: RedisChangeFeed;
}

/** A change of another writer, as {@link RedisTaskStore.watch} reports it (a `TaskStoreChange`). */
export type RedisTaskStoreChange<R> =
  | { kind: "put"; record: R }
  | { kind: "delete"; id: string }
  | { kind: "reload"; records: R[] };

/**
 * Puts a record, atomically, with its notice. KEYS: data hash, order zset, sequence counter. ARGV:
 * id, record JSON, notice channel (`""`: none), `1` to put only when the id is absent, store,
 * writer. The order zset keeps the sequence of a record's first write. Returns the write's
 * sequence, or 0 when the id was taken.
 */
const PUT = `
if ARGV[4] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[3])
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], seq, ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], cjson.encode({s = ARGV[5], w = ARGV[6], v = seq, id = ARGV[1], r = ARGV[2]}))
end
return seq
`;

/**
 * Deletes a record, atomically, with its notice (also when there was no such record: the writer
 * waits for its notice). KEYS: data hash, order zset, sequence counter. ARGV: id, notice channel
 * (`""`: none), store, writer. Returns the sequence.
 */
const DELETE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local seq = redis.call('INCR', KEYS[3])
if ARGV[2] ~= '' then
  redis.call('PUBLISH', ARGV[2], cjson.encode({s = ARGV[3], w = ARGV[4], v = seq, id = ARGV[1], d = 1}))
end
return seq
`;

/**
 * A `TaskStore` of `@openclaw/task-queue` on Redis: the task records as JSON in the hash
 * `openclaw:<namespace>:tasks:data`, the order of their first write in the sorted set
 * `...:tasks:order`, a write sequence in `...:tasks:seq`. Nothing is cached: `load` reads Redis,
 * each write (one script) resolves once Redis has it. Typed by its record
 * (`new RedisTaskStore<TaskRecord>(redis)` is a `TaskStore`), so this package needs no dependency
 * on the task queue.
 *
 * With a `feed` it is the store every instance of a cluster shares: each write publishes a notice
 * in the same script, and {@link RedisTaskStore.watch} hands the queue the other instances' writes
 * in the order Redis applied them. A notice of another instance that reaches this store while one
 * of its own writes of the same id is still on its way is dropped: Redis applied it before that
 * write, which replaces it. After the feed lost Redis (notices missed), the store reads every
 * record again and reports a `reload`.
 *
 * @example
 * ```ts
 * const queue = new TaskQueue({
 *   store: new RedisTaskStore<TaskRecord>(redis, { namespace, feed }),
 *   claims: new RedisTaskClaims({ redis, instanceId, namespace }),
 * });
 * ```
 */
export class RedisTaskStore<R extends { id: string }> {
  /** The prefix of the store's keys. */
  readonly prefix: string;
  readonly #redis: Redis;
  readonly #batch: number;
  readonly #feed: RedisChangeFeed | undefined;
  readonly #writer = newWriterId();
  readonly #malformed: MalformedMessages;
  readonly #listeners = new Set<(change: RedisTaskStoreChange<R>) => void>();
  readonly #writes = new PendingWrites();
  /** This store's writes whose notice has not come back yet, by id. */
  readonly #inFlight = new Map<string, number>();
  /** Notices that arrived while a load was under way. */
  #buffered: ChangeNotice[] | undefined;
  /** Notices at or below this sequence are in the last load already. */
  #floor = 0;
  #unregister: (() => void) | undefined;
  #closed = false;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace, the store's name, the change feed.
   */
  constructor(redis: Redis, options: RedisTaskStoreOptions = {}) {
    this.#redis = redis;
    this.prefix = `${keyPrefix(options.namespace)}${options.name ?? REDIS_TASK_STORE_DEFAULTS.name}:`;
    this.#batch = options.loadBatchSize ?? REDIS_TASK_STORE_DEFAULTS.loadBatchSize;
    this.#feed = options.feed;
    this.#malformed = storeMalformed(options, options.name ?? REDIS_TASK_STORE_DEFAULTS.name);
    this.#unregister = this.#feed?.register(`${this.prefix}data`, {
      apply: (notice) => this.#onNotice(notice),
      reload: () => this.reload(),
    });
    // Without a feed there is nothing to watch: a queue treats the store as its own.
    if (this.#feed !== undefined) {
      this.watch = (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      };
      this.putIfAbsent = (record) => {
        try {
          this.#assertOpen();
        } catch (error) {
          return Promise.reject(error);
        }
        return this.#put(record, true);
      };
    }
  }

  /**
   * With a feed only: calls `listener` with each change another writer made, in the order Redis
   * applied them, and with a `reload` after the feed lost Redis. Returns a function that stops the
   * calls. The listener must not throw.
   */
  readonly watch?: (listener: (change: RedisTaskStoreChange<R>) => void) => () => void;

  /**
   * With a feed only: puts a record unless a record with its id exists (whoever wrote it), in one
   * atomic script; resolves `true` once stored, `false` when the id was taken; rejects with a
   * `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written.
   */
  readonly putIfAbsent?: (record: R) => Promise<boolean>;

  /**
   * Every stored record, in the order of their first write. With a feed, the notices of writes
   * after this read are reported (to {@link RedisTaskStore.watch}) once it returns, none before.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read,
   *   `SHUTTING_DOWN` once closed.
   */
  async load(): Promise<R[]> {
    this.#assertOpen();
    const buffering = this.#feed !== undefined && this.#buffered === undefined;
    if (buffering) this.#buffered = [];
    try {
      const { records, seq } = await this.#readAll();
      this.#floor = Math.max(this.#floor, seq);
      return records;
    } finally {
      if (buffering) this.#flush();
    }
  }

  /**
   * Inserts or replaces a record (by `id`).
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written,
   *   `SHUTTING_DOWN` once closed.
   */
  async put(record: R): Promise<void> {
    this.#assertOpen();
    await this.#put(record, false);
  }

  /**
   * Removes a record; removing an unknown id is not an error.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written,
   *   `SHUTTING_DOWN` once closed.
   */
  async delete(id: string): Promise<void> {
    this.#assertOpen();
    this.#sending(id);
    const write = (
      this.#redis.eval(
        DELETE,
        3,
        `${this.prefix}data`,
        `${this.prefix}order`,
        `${this.prefix}seq`,
        id,
        this.#feed?.channel ?? "",
        `${this.prefix}data`,
        this.#writer,
      ) as Promise<number>
    ).then(
      () => undefined,
      (error: unknown) => {
        this.#landed(id);
        throw redisUnavailable(`deleting task ${id}`, error);
      },
    );
    await this.#writes.track(write);
  }

  /**
   * Reads every record again and reports them as a `reload` (after this store's writes in flight
   * landed). The change feed calls it after it lost Redis.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  async reload(): Promise<void> {
    if (this.#closed || this.#buffered !== undefined) return;
    this.#buffered = [];
    try {
      await this.#writes.settled();
      const { records, seq } = await this.#readAll();
      // Notices of this store's own writes may have been lost with the connection.
      this.#inFlight.clear();
      this.#floor = seq;
      this.#tell({ kind: "reload", records });
    } finally {
      this.#flush();
    }
  }

  /** Refuses further use and stops the notices; the client stays open (the caller owns it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unregister?.();
    this.#unregister = undefined;
    this.#listeners.clear();
  }

  async #put(record: R, ifAbsent: boolean): Promise<boolean> {
    const json = JSON.stringify(record);
    // A conditional put that wins had no write of another instance to replace; one that loses
    // replaces nothing: neither holds back the other instances' notices.
    if (!ifAbsent) this.#sending(record.id);
    const write = (
      this.#redis.eval(
        PUT,
        3,
        `${this.prefix}data`,
        `${this.prefix}order`,
        `${this.prefix}seq`,
        record.id,
        json,
        this.#feed?.channel ?? "",
        ifAbsent ? "1" : "0",
        `${this.prefix}data`,
        this.#writer,
      ) as Promise<number>
    ).then(
      (seq) => seq !== 0,
      (error: unknown) => {
        if (!ifAbsent) this.#landed(record.id);
        throw redisUnavailable(`storing task ${record.id}`, error);
      },
    );
    await this.#writes.track(write.then(() => undefined));
    return write;
  }

  /** Counts a write of `id` whose notice is yet to come (only with a feed). */
  #sending(id: string): void {
    if (this.#feed !== undefined) this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
  }

  /** A write of `id` came back as a notice, or will not. */
  #landed(id: string): void {
    const count = this.#inFlight.get(id);
    if (count === undefined) return;
    if (count <= 1) this.#inFlight.delete(id);
    else this.#inFlight.set(id, count - 1);
  }

  async #readAll(): Promise<{ records: R[]; seq: number }> {
    return viaRedis(`loading ${this.prefix}`, async () => {
      // The ids and the sequence in one transaction: a later write has a higher sequence.
      const results = await this.#redis
        .multi()
        .get(`${this.prefix}seq`)
        .zrange(`${this.prefix}order`, 0, -1)
        .exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (results === null || failed !== undefined) throw failed ?? new Error("transaction aborted");
      const seq = Number(results[0]?.[1] ?? 0);
      const ids = results[1]?.[1] as string[];
      const records: R[] = [];
      for (let start = 0; start < ids.length; start += this.#batch) {
        const values = await this.#redis.hmget(
          `${this.prefix}data`,
          ...ids.slice(start, start + this.#batch),
        );
        for (const json of values) {
          if (json === null) continue;
          // Unreadable (not written by a store): left out.
          const record = this.#malformed.parse(STORED_RECORD, json, `${this.prefix}data`);
          if (record !== undefined) records.push(record as unknown as R);
        }
      }
      return { records, seq };
    });
  }

  #flush(): void {
    const buffered = this.#buffered ?? [];
    this.#buffered = undefined;
    for (const notice of buffered) this.#onNotice(notice);
  }

  /** Throws (a `ValiError`) when the notice is malformed, before anything changed. */
  #onNotice(raw: ChangeNotice): void {
    if (this.#closed) return;
    const notice = v.parse(RECORD_NOTICE, raw);
    if (raw.w === this.#writer) {
      this.#landed(notice.id);
      return;
    }
    if (this.#buffered !== undefined) {
      this.#buffered.push(raw);
      return;
    }
    const seq = notice.v;
    if (seq <= this.#floor) return;
    // Applied by Redis before this store's own write of the same id, which replaces it.
    if (this.#inFlight.has(notice.id)) return;
    if (notice.d !== undefined) this.#tell({ kind: "delete", id: notice.id });
    else if (notice.r !== undefined) this.#tell({ kind: "put", record: notice.r as R });
  }

  #tell(change: RedisTaskStoreChange<R>): void {
    for (const listener of this.#listeners) listener(change);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new ProtocolError("SHUTTING_DOWN", "the Redis task store is closed", {
        details: { reason: "store_closed" },
      });
    }
  }
}
