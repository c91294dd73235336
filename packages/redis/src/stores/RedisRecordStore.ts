import type { RecordStore, RecordStoreChange, RecordStoreOpenOptions } from "@openclaw/backend";
import type { Redis } from "ioredis";
import * as v from "valibot";
import { type ChangeNotice, newWriterId, type RedisChangeFeed, readWithNotices } from "../RedisChangeFeed";
import type { MalformedMessages } from "../untrusted";
import { RECORD_NOTICE, STORED_RECORD } from "./notices";
import {
  keyPrefix,
  PendingWrites,
  type RedisStoreOptions,
  redisUnavailable,
  storeClosed,
  storeMalformed,
  viaRedis,
} from "./redisStoreClient";

/** Defaults of {@link RedisRecordStoreOptions}. */
export const REDIS_RECORD_STORE_DEFAULTS = {
  /** Records read per `HMGET` when the store opens (and reloads). */
  loadBatchSize: 500,
} as const;

/** Options of {@link RedisRecordStore.open}. */
export interface RedisRecordStoreOptions extends RedisStoreOptions {
  /** Which store: `"deliveries"` or `"conversations"`. */
  name: string;
  /**
   * Records read per `HMGET` when the store opens (and reloads).
   * @defaultValue `REDIS_RECORD_STORE_DEFAULTS.loadBatchSize` (500)
   */
  loadBatchSize?: number;
  /**
   * The change feed of the namespace: writes publish a notice, and the mirror follows the other
   * instances' writes ({@link RedisRecordStore.watch}). Give it to the conversation history; not to
   * a store whose records each instance must keep to itself.
   * @defaultValue none: the mirror sees only this instance's writes
   */
  feed?: RedisChangeFeed;
}

/**
 * Puts a record, atomically, with its notice. KEYS: data hash, order zset (score: a sequence),
 * sequence counter. ARGV: id, record JSON, notice channel (`""`: none), store, writer, and `1` to
 * put only when the id is absent. Returns the sequence, or 0 when the id was taken.
 */
const PUT = `
if ARGV[6] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], cjson.encode({s = ARGV[4], w = ARGV[5], v = seq, id = ARGV[1], r = ARGV[2]}))
end
return seq
`;

/**
 * Deletes a record, atomically, with its notice. KEYS: data hash, order zset, sequence counter.
 * ARGV: id, notice channel (`""`: none), store, writer. Returns 1 when a record was deleted.
 */
const DELETE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
local seq = redis.call('INCR', KEYS[3])
if ARGV[2] ~= '' then
  redis.call('PUBLISH', ARGV[2], cjson.encode({s = ARGV[3], w = ARGV[4], v = seq, id = ARGV[1], d = 1}))
end
return 1
`;

/**
 * A {@link RecordStore} on Redis (the delivery queue, the conversation history): the records as
 * JSON in the hash `openclaw:<namespace>:records:<name>:data`, their order of last put in the
 * sorted set `...:order` (scored by a counter, so the order holds across instances and restarts).
 * A put, a conditional put ({@link RedisRecordStore.putIfAbsent}) and a delete are each one atomic
 * script.
 *
 * `get`, `values` and `size` are synchronous: the store keeps every record in a local mirror, loaded
 * at open and written through; a write resolves once Redis has it (durable as the server's
 * `appendfsync` makes it). Without a `feed` the mirror sees this instance's writes only. With one,
 * every write publishes a notice in the same script, the mirror applies the other instances' notices
 * in the order Redis applied the writes and tells {@link RedisRecordStore.watch}, and after the feed
 * lost Redis the mirror is reloaded whole (records that did not change keep their object). Notices
 * carry no per-record versions: a put by another instance that reaches this mirror after this
 * instance deleted the same id shows the record again until the next reload, which a store whose
 * records are written once and deleted only by instances holding them (the history) never does.
 *
 * @example
 * ```ts
 * const historyStore: RecordStoreFactory<ConversationRecord> = ({ name }) =>
 *   RedisRecordStore.open(redis, { name, namespace, feed });
 * ```
 */
export class RedisRecordStore<R extends { id: string }> implements RecordStore<R> {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #batch: number;
  readonly #feed: RedisChangeFeed | undefined;
  readonly #writer = newWriterId();
  readonly #listeners = new Set<(change: RecordStoreChange<R>) => void>();
  /** The mirror, least recently put first; the store's own record objects. */
  #records: Map<string, R>;
  readonly #malformed: MalformedMessages;
  readonly #writes = new PendingWrites();
  /** Notices that arrived while a reload was under way. */
  #buffered: ChangeNotice[] | undefined;
  /** Ids this instance wrote since the reload under way began: the mirror's version stands. */
  #writtenDuringReload: Set<string> | undefined;
  /** Notices at or below this sequence are in the mirror already (the last reload's). */
  #floor = 0;
  #unregister: (() => void) | undefined;
  #closed = false;

  private constructor(
    redis: Redis,
    prefix: string,
    options: RedisRecordStoreOptions,
    loaded: { records: Map<string, R>; seq: number },
    malformed: MalformedMessages,
  ) {
    this.#malformed = malformed;
    this.#redis = redis;
    this.#prefix = prefix;
    this.#batch = options.loadBatchSize ?? REDIS_RECORD_STORE_DEFAULTS.loadBatchSize;
    this.#feed = options.feed;
    this.#records = loaded.records;
    this.#floor = loaded.seq;
  }

  /**
   * Opens the store named `options.name`, loading its records into the mirror.
   *
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - Which store, the key namespace, the change feed. A `RecordStoreOpenOptions`
   *   fits (its `stateDir` is ignored).
   * @returns The store.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  static async open<R extends { id: string }>(
    redis: Redis,
    options: RedisRecordStoreOptions | (RecordStoreOpenOptions & RedisStoreOptions),
  ): Promise<RedisRecordStore<R>> {
    const prefix = `${keyPrefix(options.namespace)}records:${options.name}:`;
    const opts = options as RedisRecordStoreOptions;
    const batch = opts.loadBatchSize ?? REDIS_RECORD_STORE_DEFAULTS.loadBatchSize;
    const malformed = storeMalformed(opts, `records:${options.name}`);
    // Listening before reading, so that no write after the snapshot is missed.
    const { value: loaded, early } = await readWithNotices(opts.feed, `${prefix}data`, () =>
      readAll<R>(redis, prefix, batch, options.name, malformed),
    );
    const store = new RedisRecordStore<R>(redis, prefix, opts, loaded, malformed);
    store.#follow();
    for (const notice of early) store.#onNotice(notice);
    return store;
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
    this.#writtenDuringReload?.add(copy.id);
    const write = this.#put(copy.id, json, false).then(
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
   * Puts `record` only when Redis holds no record with its id (whichever instance put it): one
   * atomic script. The record is in the mirror once this resolves `true`.
   *
   * @returns `true` once stored, `false` when the id was taken.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written,
   *   `SHUTTING_DOWN` once closed.
   */
  putIfAbsent(record: R): Promise<boolean> {
    if (this.#closed) return Promise.reject(storeClosed());
    const copy = structuredClone(record);
    const json = JSON.stringify(copy);
    let stored = false;
    const write = this.#put(copy.id, json, true).then(
      (seq) => {
        if (seq === 0) return;
        stored = true;
        this.#records.delete(copy.id);
        this.#records.set(copy.id, copy);
        this.#writtenDuringReload?.add(copy.id);
      },
      (error: unknown) => {
        throw redisUnavailable(`storing record ${copy.id} of ${this.#prefix}`, error);
      },
    );
    return this.#writes.track(write).then(() => stored);
  }

  /**
   * Reads one record from Redis (`HGET`), not from the mirror: what Redis holds under `id` now,
   * whichever instance put it.
   *
   * @returns A copy of the record, or `undefined` when Redis holds none with this id.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read,
   *   `SHUTTING_DOWN` once closed.
   */
  async fetch(id: string): Promise<R | undefined> {
    if (this.#closed) throw storeClosed();
    const json = await viaRedis(`reading record ${id} of ${this.#prefix}`, () =>
      this.#redis.hget(`${this.#prefix}data`, id),
    );
    return json === null ? undefined : (JSON.parse(json) as R);
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written (the
   *   record is back), `SHUTTING_DOWN` once closed.
   */
  delete(id: string): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    const previous = this.#records.get(id);
    this.#records.delete(id);
    this.#writtenDuringReload?.add(id);
    const write = this.#redis
      .eval(
        DELETE,
        3,
        `${this.#prefix}data`,
        `${this.#prefix}order`,
        `${this.#prefix}seq`,
        id,
        this.#feed?.channel ?? "",
        `${this.#prefix}data`,
        this.#writer,
      )
      .then(
        () => undefined,
        (error: unknown) => {
          // Put back unless it was put again meanwhile (as the newest, like the file store does).
          if (previous !== undefined && !this.#records.has(id)) this.#records.set(id, previous);
          throw redisUnavailable(`deleting record ${id} of ${this.#prefix}`, error);
        },
      );
    return this.#writes.track(write);
  }

  /**
   * Calls `listener` with each record other instances put or delete (with a `feed`), after the
   * mirror has the change, and with what a reload found different.
   *
   * @returns Stops the calls.
   */
  watch(listener: (change: RecordStoreChange<R>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Reads every record from Redis again and replaces the mirror with them (keeping the object of
   * each record that did not change, and this instance's writes made meanwhile); watchers are told
   * what differed. The change feed calls it after it lost Redis.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read (the
   *   mirror is unchanged).
   */
  async reload(): Promise<void> {
    if (this.#buffered !== undefined) return;
    this.#buffered = [];
    this.#writtenDuringReload = new Set();
    let loaded: { records: Map<string, R>; seq: number };
    try {
      loaded = await readAll<R>(this.#redis, this.#prefix, this.#batch, this.#prefix, this.#malformed);
    } catch (error) {
      this.#endReload();
      throw error;
    }
    const old = this.#records;
    const next = new Map<string, R>();
    for (const [id, record] of loaded.records) {
      if (this.#writtenDuringReload.has(id)) continue;
      const held = old.get(id);
      next.set(id, held !== undefined && JSON.stringify(held) === JSON.stringify(record) ? held : record);
    }
    for (const id of this.#writtenDuringReload) {
      const held = old.get(id);
      if (held !== undefined) next.set(id, held);
    }
    this.#records = next;
    this.#floor = loaded.seq;
    for (const [id, record] of old) {
      if (!next.has(id)) this.#tell({ kind: "delete", id, record });
    }
    for (const [id, record] of next) if (old.get(id) !== record) this.#tell({ kind: "put", record });
    this.#endReload();
  }

  /** Waits for the writes in flight (their failures are reported to their callers). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unregister?.();
    this.#unregister = undefined;
    await this.#writes.settled();
  }

  #put(id: string, json: string, ifAbsent: boolean): Promise<number> {
    return this.#redis.eval(
      PUT,
      3,
      `${this.#prefix}data`,
      `${this.#prefix}order`,
      `${this.#prefix}seq`,
      id,
      json,
      this.#feed?.channel ?? "",
      `${this.#prefix}data`,
      this.#writer,
      ifAbsent ? "1" : "0",
    ) as Promise<number>;
  }

  #follow(): void {
    this.#unregister = this.#feed?.register(`${this.#prefix}data`, {
      apply: (notice) => this.#onNotice(notice),
      reload: () => this.reload(),
    });
  }

  #endReload(): void {
    const buffered = this.#buffered ?? [];
    this.#buffered = undefined;
    this.#writtenDuringReload = undefined;
    for (const notice of buffered) this.#onNotice(notice);
  }

  /** Throws (a `ValiError`) when the notice is malformed, before anything changed. */
  #onNotice(raw: ChangeNotice): void {
    if (raw.w === this.#writer || this.#closed) return;
    const notice = v.parse(RECORD_NOTICE, raw);
    if (this.#buffered !== undefined) {
      this.#buffered.push(raw);
      return;
    }
    const seq = notice.v;
    const id = notice.id;
    if (seq <= this.#floor) return;
    if (notice.d !== undefined) {
      const record = this.#records.get(id);
      if (!this.#records.delete(id)) return;
      this.#tell({ kind: "delete", id, record });
      return;
    }
    if (notice.r === undefined) return;
    const record = notice.r as R;
    this.#records.delete(id);
    this.#records.set(id, record);
    this.#tell({ kind: "put", record });
  }

  #tell(change: RecordStoreChange<R>): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** Every record in the order of last put, and the sequence counter as of the read. */
async function readAll<R>(
  redis: Redis,
  prefix: string,
  batch: number,
  name: string,
  malformed: MalformedMessages,
): Promise<{ records: Map<string, R>; seq: number }> {
  const records = new Map<string, R>();
  let seq = 0;
  await viaRedis(`loading the records of ${name}`, async () => {
    // The ids and the counter in one transaction: a record put later has a higher sequence, so its
    // notice (applied after the read) is not skipped.
    const results = await redis.multi().get(`${prefix}seq`).zrange(`${prefix}order`, 0, -1).exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (results === null || failed !== undefined) throw failed ?? new Error("transaction aborted");
    seq = Number(results[0]?.[1] ?? 0);
    const ids = results[1]?.[1] as string[];
    for (let start = 0; start < ids.length; start += batch) {
      const chunk = ids.slice(start, start + batch);
      const values = await redis.hmget(`${prefix}data`, ...chunk);
      chunk.forEach((id, i) => {
        const json = values[i];
        if (json === null || json === undefined) return;
        // Unreadable, or not the record of its id (not written by a store): left out.
        const record = malformed.parse(STORED_RECORD, json, `${prefix}data`);
        if (record === undefined) return;
        if (record.id === id) records.set(id, record as unknown as R);
        else malformed.drop("the record's id is not its field", { key: `${prefix}data`, field: id });
      });
    }
  });
  return { records, seq };
}
