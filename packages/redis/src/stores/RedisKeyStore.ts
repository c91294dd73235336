import type { KeyStore, KeyStoreLimits, KeyStoreOpenOptions } from "@openclaw/backend";
import type { Redis } from "ioredis";
import * as v from "valibot";
import { type ChangeNotice, newWriterId, type RedisChangeFeed, readWithNotices } from "../RedisChangeFeed";
import type { MalformedMessages } from "../untrusted";
import { JSON_TEXT } from "./notices";
import {
  keyPrefix,
  PendingWrites,
  type RedisStoreOptions,
  redisUnavailable,
  storeClosed,
  storeMalformed,
  viaRedis,
} from "./redisStoreClient";

/** Defaults of {@link RedisKeyStoreOptions}. */
export const REDIS_KEY_STORE_DEFAULTS = {
  /**
   * How much longer than `ttlMs` Redis keeps a key (its `PX`): visibility follows the store's clock,
   * the Redis expiry only collects what no write pruned.
   */
  expiryGraceMs: 60_000,
  /** Keys read per `MGET` when the store opens. */
  loadBatchSize: 500,
} as const;

/** Options of {@link RedisKeyStore.open}. */
export interface RedisKeyStoreOptions extends RedisStoreOptions {
  /** Which store: `"idempotency"` or `"inbound-seen"`. */
  name: string;
  /** The limits, read at every write so config reloads apply. */
  limits(): KeyStoreLimits;
  /**
   * The clock (ms since the epoch).
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * How much longer than `ttlMs` Redis keeps a key.
   * @defaultValue `REDIS_KEY_STORE_DEFAULTS.expiryGraceMs` (60 s)
   */
  expiryGraceMs?: number;
  /**
   * Keys read per `MGET` when the store opens.
   * @defaultValue `REDIS_KEY_STORE_DEFAULTS.loadBatchSize` (500)
   */
  loadBatchSize?: number;
  /**
   * The change feed of the namespace: each `remember` publishes a notice and the mirror follows the
   * keys other instances remember, so a repeated idempotency key or inbound id is known everywhere.
   * @defaultValue none: the mirror sees only this instance's keys
   */
  feed?: RedisChangeFeed;
}

/** One remembered key, as held and stored. */
interface Entry<V> {
  /** When it was last remembered (ms since the epoch, on the store's clock). */
  at: number;
  value: V;
}

/**
 * Remembers a key and forgets the old ones, atomically. KEYS: order zset (score: a sequence), time
 * zset (score: `at`), sequence counter. ARGV: value key prefix, key, entry JSON, at, PX, maxEntries,
 * forget-before time, notice channel (`""`: none), store, writer.
 */
const REMEMBER = `
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[7])
for _, key in ipairs(expired) do
  if key ~= ARGV[2] then
    redis.call('DEL', ARGV[1] .. key)
    redis.call('ZREM', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
  end
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, key in ipairs(oldest) do
    if key ~= ARGV[2] then
      redis.call('DEL', ARGV[1] .. key)
      redis.call('ZREM', KEYS[1], key)
      redis.call('ZREM', KEYS[2], key)
    end
  end
end
if ARGV[8] ~= '' then
  redis.call('PUBLISH', ARGV[8], cjson.encode({s = ARGV[9], w = ARGV[10], k = ARGV[2], e = ARGV[3]}))
end
return 1
`;

/**
 * A {@link KeyStore} on Redis (idempotency keys, inbound dedupe ids). Each key is a string
 * `openclaw:<namespace>:keys:<name>:v:<key>` set with `PX` (`ttlMs` plus a grace), listed in a
 * sorted set by order of remembering and one by time, so every write forgets (atomically, in one
 * script) the keys past the TTL and the oldest beyond `maxEntries`.
 *
 * `has` and `get` are synchronous: the store keeps a local mirror, loaded at open and written
 * through. Without a `feed` it sees the writes of this instance only. With one, every `remember`
 * publishes a notice in the same script, the mirror takes the keys other instances remember (and
 * forgets by the same limits), and after the feed lost Redis it is reloaded whole. A key remembered
 * by two instances at once ends with either value: the idempotency store remembers a result only
 * after its request ran, and the dedupe store only the value 1.
 *
 * Needs a single Redis (or a primary behind Sentinel): the script touches keys it computes, which
 * Redis Cluster does not allow.
 *
 * @example
 * ```ts
 * const dedupeStore: KeyStoreFactory<1> = ({ name, limits }) => RedisKeyStore.open(redis, { name, limits });
 * ```
 */
export class RedisKeyStore<V> implements KeyStore<V> {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #limits: () => KeyStoreLimits;
  readonly #now: () => number;
  readonly #graceMs: number;
  /** The mirror, least recently remembered first. */
  #entries: Map<string, Entry<V>>;
  readonly #writes = new PendingWrites();
  readonly #name: string;
  readonly #batch: number;
  readonly #feed: RedisChangeFeed | undefined;
  readonly #malformed: MalformedMessages;
  readonly #writer = newWriterId();
  /** Notices that arrived while a reload was under way. */
  #buffered: ChangeNotice[] | undefined;
  /** Keys this instance remembered since the reload under way began: the mirror's entry stands. */
  #rememberedDuringReload: Set<string> | undefined;
  #unregister: (() => void) | undefined;
  #closed = false;

  private constructor(
    redis: Redis,
    prefix: string,
    options: RedisKeyStoreOptions,
    entries: Map<string, Entry<V>>,
    malformed: MalformedMessages,
  ) {
    this.#malformed = malformed;
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = options.limits;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.expiryGraceMs ?? REDIS_KEY_STORE_DEFAULTS.expiryGraceMs;
    this.#entries = entries;
    this.#name = options.name;
    this.#batch = options.loadBatchSize ?? REDIS_KEY_STORE_DEFAULTS.loadBatchSize;
    this.#feed = options.feed;
  }

  /**
   * Opens the store named `options.name`, loading what Redis holds of it into the mirror.
   *
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - Which store, its limits and clock, the key namespace. A `KeyStoreOpenOptions`
   *   fits (its `stateDir` is ignored).
   * @returns The store.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  static async open<V>(
    redis: Redis,
    options: RedisKeyStoreOptions | (KeyStoreOpenOptions & RedisStoreOptions),
  ): Promise<RedisKeyStore<V>> {
    const prefix = `${keyPrefix(options.namespace)}keys:${options.name}:`;
    const opts = options as RedisKeyStoreOptions;
    const batch = opts.loadBatchSize ?? REDIS_KEY_STORE_DEFAULTS.loadBatchSize;
    const malformed = storeMalformed(opts, `keys:${opts.name}`);
    // Listening before reading, so that no key remembered after the read is missed.
    const { value: entries, early } = await readWithNotices(opts.feed, `${prefix}order`, () =>
      readKeys<V>(redis, prefix, batch, opts.name, malformed),
    );
    const store = new RedisKeyStore<V>(redis, prefix, opts, entries, malformed);
    store.#follow();
    for (const notice of early) store.#onNotice(notice);
    return store;
  }

  has(key: string): boolean {
    return this.#live(key) !== undefined;
  }

  get(key: string): V | undefined {
    const entry = this.#live(key);
    return entry === undefined ? undefined : structuredClone(entry.value);
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written (the
   *   key is then not remembered), `SHUTTING_DOWN` once closed.
   */
  remember(key: string, value: V): Promise<void> {
    if (this.#closed) return Promise.reject(storeClosed());
    const now = this.#now();
    const { maxEntries, ttlMs } = this.#limits();
    const entry: Entry<V> = { at: now, value: structuredClone(value) };
    const json = JSON.stringify(entry);
    const previous = this.#entries.get(key);
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#rememberedDuringReload?.add(key);
    const expired = now - ttlMs;
    this.#prune(key, expired, maxEntries);
    const write = this.#redis
      .eval(
        REMEMBER,
        3,
        `${this.#prefix}order`,
        `${this.#prefix}time`,
        `${this.#prefix}seq`,
        `${this.#prefix}v:`,
        key,
        json,
        now,
        Math.max(1, Math.ceil(ttlMs + this.#graceMs)),
        Math.max(0, maxEntries),
        expired + 1,
        this.#feed?.channel ?? "",
        `${this.#prefix}order`,
        this.#writer,
      )
      .then(
        () => undefined,
        (error: unknown) => {
          if (this.#entries.get(key) === entry) {
            this.#entries.delete(key);
            if (previous !== undefined) this.#entries.set(key, previous);
          }
          throw redisUnavailable(`remembering a key of ${this.#prefix}`, error);
        },
      );
    return this.#writes.track(write);
  }

  /** Keys held in the mirror, expired ones not yet forgotten among them. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Reads every key from Redis again and replaces the mirror with them (keeping the keys this
   * instance remembered meanwhile). The change feed calls it after it lost Redis.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read (the
   *   mirror is unchanged).
   */
  async reload(): Promise<void> {
    if (this.#buffered !== undefined) return;
    this.#buffered = [];
    const during = new Set<string>();
    this.#rememberedDuringReload = during;
    try {
      const next = await readKeys<V>(this.#redis, this.#prefix, this.#batch, this.#name, this.#malformed);
      for (const key of during) {
        const held = this.#entries.get(key);
        next.delete(key);
        if (held !== undefined) next.set(key, held);
      }
      this.#entries = next;
    } finally {
      const buffered = this.#buffered;
      this.#buffered = undefined;
      this.#rememberedDuringReload = undefined;
      for (const notice of buffered) this.#onNotice(notice);
    }
  }

  /** Waits for the writes in flight (their failures are reported to their callers). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unregister?.();
    this.#unregister = undefined;
    await this.#writes.settled();
  }

  #follow(): void {
    this.#unregister = this.#feed?.register(`${this.#prefix}order`, {
      apply: (notice) => this.#onNotice(notice),
      reload: () => this.reload(),
    });
  }

  /** Takes a key another instance remembered, and forgets by the limits as that instance did. */
  /** Throws (a `ValiError`) when the notice is malformed, before anything changed. */
  #onNotice(notice: ChangeNotice): void {
    if (notice.w === this.#writer || this.#closed) return;
    const { k: key, e: entry } = v.parse(KEY_NOTICE, notice);
    if (this.#buffered !== undefined) {
      this.#buffered.push(notice);
      return;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry as Entry<V>);
    const { maxEntries, ttlMs } = this.#limits();
    this.#prune(key, this.#now() - ttlMs, maxEntries);
  }

  /** Forgets the oldest keys beyond `maxEntries` and the keys remembered at or before `expired`. */
  #prune(keep: string, expired: number, maxEntries: number): void {
    let over = this.#entries.size - maxEntries;
    // The mirror keeps the order of remembering: the oldest entries come first.
    for (const [id, held] of this.#entries) {
      if (over <= 0 && held.at > expired) break;
      if (id === keep) continue;
      this.#entries.delete(id);
      over--;
    }
  }

  #live(key: string): Entry<V> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.at + this.#limits().ttlMs <= this.#now()) return undefined;
    return entry;
  }
}

/** An entry as stored: `at` must be a time (the pruning compares it); the value is the caller's. */
const ENTRY = v.looseObject({ at: v.pipe(v.number(), v.finite()), value: v.unknown() });

/** A notice of a remembered key: the key and its entry's JSON. */
const KEY_NOTICE = v.looseObject({
  k: v.string(),
  e: v.pipe(JSON_TEXT, ENTRY),
});

/** Every live key of a store with its entry, least recently remembered first. */
async function readKeys<V>(
  redis: Redis,
  prefix: string,
  batch: number,
  name: string,
  malformed: MalformedMessages,
): Promise<Map<string, Entry<V>>> {
  const entries = new Map<string, Entry<V>>();
  await viaRedis(`loading the keys of ${name}`, async () => {
    const keys = await redis.zrange(`${prefix}order`, 0, -1);
    const missing: string[] = [];
    for (let start = 0; start < keys.length; start += batch) {
      const chunk = keys.slice(start, start + batch);
      const values = await redis.mget(chunk.map((key) => `${prefix}v:${key}`));
      chunk.forEach((key, i) => {
        const json = values[i];
        if (json === null || json === undefined) missing.push(key);
        else {
          // Unreadable (not written by a store): left out, as if forgotten.
          const entry = malformed.parse(ENTRY, json, `${prefix}v:${key}`);
          if (entry !== undefined) entries.set(key, entry as Entry<V>);
        }
      });
    }
    // Keys Redis expired before any write pruned them: drop them from the indexes.
    if (missing.length > 0) {
      await redis
        .multi()
        .zrem(`${prefix}order`, ...missing)
        .zrem(`${prefix}time`, ...missing)
        .exec();
    }
  });
  return entries;
}
