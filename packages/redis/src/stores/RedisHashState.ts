import type { Redis } from "ioredis";
import * as v from "valibot";
import { type ChangeNotice, newWriterId, type RedisChangeFeed } from "../RedisChangeFeed";
import { viaRedis } from "./redisStoreClient";

/** Other instances' changes to a {@link RedisHashState}: fields set (with their JSON) and removed. */
export interface HashChange {
  put: Array<[field: string, json: string]>;
  removed: string[];
}

/**
 * Applies a delta, atomically. KEYS: data hash, order zset (score: the field's place, from the
 * place counter, at its first write), version counter, place counter. ARGV: notice channel (`""`: none), store, writer, then triples of op
 * (`n` set, `u` set only if the field still exists, `d` delete), field, JSON. Returns the version
 * and the changes applied, as JSON `[[field, json|false], ...]`.
 */
const APPLY = `
local v = redis.call('INCR', KEYS[3])
local applied = {}
for i = 4, #ARGV, 3 do
  local op, f = ARGV[i], ARGV[i + 1]
  if op == 'd' then
    if redis.call('HDEL', KEYS[1], f) == 1 then
      redis.call('ZREM', KEYS[2], f)
      applied[#applied + 1] = {f, false}
    end
  elseif op == 'n' or redis.call('HEXISTS', KEYS[1], f) == 1 then
    redis.call('HSET', KEYS[1], f, ARGV[i + 2])
    if redis.call('ZSCORE', KEYS[2], f) == false then
      redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), f)
    end
    applied[#applied + 1] = {f, ARGV[i + 2]}
  end
end
if #applied == 0 then return {v, '[]'} end
local encoded = cjson.encode(applied)
if ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], cjson.encode({s = ARGV[2], w = ARGV[3], v = v, c = applied}))
end
return {v, encoded}
`;

/**
 * Reads the whole hash with its version, atomically. KEYS: data hash, order zset, version counter.
 * Returns `{version or false, field1, json1, field2, json2, ...}` in the order of first write.
 */
const LOAD = `
local out = {redis.call('GET', KEYS[3])}
local fields = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, f in ipairs(fields) do
  local json = redis.call('HGET', KEYS[1], f)
  if json then
    out[#out + 1] = f
    out[#out + 1] = json
  end
end
return out
`;

/** Options of a {@link RedisHashState}. */
export interface RedisHashStateOptions {
  /**
   * The data hash; the order zset is `<key>:order`, the version counter `<key>:version`, the counter
   * of places in the order `<key>:places`.
   */
  key: string;
  /** What the state holds, for error messages ("the paired devices"). */
  what: string;
  /** The change feed: publish notices and follow other instances. @defaultValue none */
  feed?: RedisChangeFeed | undefined;
}

/**
 * A small set of JSON values by field, kept in one Redis hash and mirrored here: the shared state
 * behind the whole-list stores (devices, bindings).
 *
 * A save is turned into per-field changes against the mirror (what this instance last knew: its own
 * writes and the notices it applied): new fields are set, changed ones set only if they still exist
 * (so a stale copy cannot bring back what another instance deleted), missing ones deleted, all in
 * one script with its notice, so two instances saving at once lose none of each other's changes.
 * Saves run one at a time, in the order made. Each write takes a version from a counter; the mirror
 * keeps the version of each field's last change and skips notices older than it (a notice can
 * arrive after the reply to a later write of this instance).
 */
export class RedisHashState {
  readonly key: string;
  readonly #redis: Redis;
  readonly #what: string;
  readonly #feed: RedisChangeFeed | undefined;
  readonly #writer = newWriterId();
  readonly #listeners = new Set<(change: HashChange) => void>();
  /** The mirror, fields in the order of their first write. */
  #values = new Map<string, string>();
  /** The version of each field's last change seen (deletions included). */
  #versions = new Map<string, number>();
  /** Notices at or below this version are in the mirror already (the last load's). */
  #floor = 0;
  #loaded = false;
  /** Notices that arrived while a load was under way. */
  #buffered: ChangeNotice[] | undefined;
  /** Saves and loads, one at a time. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(redis: Redis, options: RedisHashStateOptions) {
    this.#redis = redis;
    this.key = options.key;
    this.#what = options.what;
    this.#feed = options.feed;
    options.feed?.register(this.key, {
      apply: (notice) => this.#onNotice(notice),
      reload: () => this.load().then(() => undefined),
    });
  }

  /**
   * Reads the whole state from Redis into the mirror; watchers are told what changed.
   *
   * @returns The fields and their JSON in order, and whether anything was ever written.
   */
  load(): Promise<{ written: boolean; entries: Array<[string, string]> }> {
    return this.#serial(() => this.#load());
  }

  /**
   * Makes the stored state equal to `entries` as far as this instance knows it (see the class).
   *
   * @param entries - Every field with its JSON, in order.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written.
   */
  save(entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
    return this.#serial(async () => {
      if (!this.#loaded) await this.#load();
      const wanted = new Map(entries);
      const args: string[] = [];
      for (const [field, json] of wanted) {
        const known = this.#values.get(field);
        if (known === undefined) args.push("n", field, json);
        else if (known !== json) args.push("u", field, json);
      }
      for (const field of this.#values.keys()) if (!wanted.has(field)) args.push("d", field, "");
      if (args.length === 0) return;
      const [version, applied] = (await viaRedis(`saving ${this.#what}`, () =>
        this.#redis.eval(
          APPLY,
          4,
          this.key,
          `${this.key}:order`,
          `${this.key}:version`,
          `${this.key}:places`,
          this.#feed?.channel ?? "",
          this.key,
          this.#writer,
          ...args,
        ),
      )) as [number, string];
      const changes = parseChanges(applied);
      for (const [field, json] of changes) {
        this.#versions.set(field, version);
        if (json === false) this.#values.delete(field);
        else this.#values.set(field, json);
      }
      // A field this instance meant to change but another deleted meanwhile: gone here too (the
      // other's notice, which tells the watchers, is not skipped: its version stays newer).
      for (const [field] of wanted) {
        if (!changes.some(([changed]) => changed === field) && this.#values.get(field) !== wanted.get(field))
          this.#values.delete(field);
      }
    });
  }

  /**
   * Calls `listener` with other instances' changes (and with what a reload found changed), after the
   * mirror has them.
   *
   * @returns Stops the calls.
   */
  watch(listener: (change: HashChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(run, run);
    this.#chain = next.catch(() => {});
    return next;
  }

  async #load(): Promise<{ written: boolean; entries: Array<[string, string]> }> {
    this.#buffered = [];
    let reply: Array<string | null>;
    try {
      reply = (await viaRedis(`loading ${this.#what}`, () =>
        this.#redis.eval(LOAD, 3, this.key, `${this.key}:order`, `${this.key}:version`),
      )) as Array<string | null>;
    } catch (error) {
      const buffered = this.#buffered;
      this.#buffered = undefined;
      for (const notice of buffered) this.#onNotice(notice);
      throw error;
    }
    const version = reply[0] === null || reply[0] === undefined ? 0 : Number(reply[0]);
    const entries: Array<[string, string]> = [];
    for (let i = 1; i + 1 < reply.length; i += 2) entries.push([reply[i]!, reply[i + 1]!]);
    const next = new Map(entries);
    const change: HashChange = { put: [], removed: [] };
    for (const [field, json] of next) if (this.#values.get(field) !== json) change.put.push([field, json]);
    for (const field of this.#values.keys()) if (!next.has(field)) change.removed.push(field);
    this.#values = next;
    this.#versions = new Map();
    this.#floor = version;
    this.#loaded = true;
    const buffered = this.#buffered;
    this.#buffered = undefined;
    if (change.put.length > 0 || change.removed.length > 0) this.#tell(change);
    for (const notice of buffered) this.#onNotice(notice);
    return { written: reply[0] !== null && reply[0] !== undefined, entries };
  }

  /** Applies another instance's notice; throws (a `ValiError`) when it is malformed, before anything changed. */
  #onNotice(raw: ChangeNotice): void {
    if (raw.w === this.#writer) return;
    const notice = v.parse(HASH_NOTICE, raw);
    if (this.#buffered !== undefined) {
      this.#buffered.push(raw);
      return;
    }
    const version = notice.v;
    if (version <= this.#floor) return;
    const change: HashChange = { put: [], removed: [] };
    for (const [field, json] of notice.c) {
      if (version <= (this.#versions.get(field) ?? 0)) continue;
      this.#versions.set(field, version);
      if (typeof json === "string") {
        this.#values.set(field, json);
        change.put.push([field, json]);
      } else {
        this.#values.delete(field);
        change.removed.push(field);
      }
    }
    if (change.put.length > 0 || change.removed.length > 0) this.#tell(change);
  }

  #tell(change: HashChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/**
 * A notice of {@link APPLY}: its version and the fields it set (with their JSON) or removed (`false`).
 * Lua's cjson encodes an empty list as `{}`.
 */
const HASH_NOTICE = v.looseObject({
  v: v.pipe(v.number(), v.finite()),
  c: v.union([
    v.array(v.tuple([v.string(), v.union([v.string(), v.literal(false)])])),
    v.pipe(
      v.strictObject({}),
      v.transform((): Array<[string, string | false]> => []),
    ),
  ]),
});

function parseChanges(json: string): Array<[string, string | false]> {
  const parsed = JSON.parse(json) as unknown;
  return Array.isArray(parsed) ? (parsed as Array<[string, string | false]>) : [];
}
