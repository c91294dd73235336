import { randomUUID } from "node:crypto";
import { ProtocolError } from "@openclaw/protocol";
import { Redis } from "ioredis";
import * as v from "valibot";
import { keyPrefix, type RedisStoreOptions } from "./stores/redisStoreClient";
import { MalformedMessages } from "./untrusted";

/** Defaults of {@link RedisChangeFeedOptions}. */
export const REDIS_CHANGE_FEED_DEFAULTS = {
  /** How long to wait before reloading a store again after a reload failed (Redis still away). */
  reloadRetryMs: 1_000,
  /** How long {@link RedisChangeFeed.sync} waits for its own marker before it fails. */
  syncTimeoutMs: 5_000,
} as const;

/** Where the feed logs what it cannot act on (a pino logger fits). */
export interface RedisChangeFeedLogger {
  warn(object: object, message: string): void;
}

/** Options of a {@link RedisChangeFeed}. */
export interface RedisChangeFeedOptions extends RedisStoreOptions {
  /** Where unreadable notices and failed reloads are logged. @defaultValue none */
  logger?: RedisChangeFeedLogger;
  /**
   * At most one warning about malformed notices (and notices a store could not apply) per this
   * many milliseconds; the others are counted.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  malformedWarnIntervalMs?: number;
  /**
   * How long to wait before reloading a store again after a reload failed.
   * @defaultValue `REDIS_CHANGE_FEED_DEFAULTS.reloadRetryMs` (1 s)
   */
  reloadRetryMs?: number;
  /**
   * How long {@link RedisChangeFeed.sync} waits for its marker.
   * @defaultValue `REDIS_CHANGE_FEED_DEFAULTS.syncTimeoutMs` (5 s)
   */
  syncTimeoutMs?: number;
}

/**
 * One change notice, as a store published it (JSON): `s` names the store (its main Redis key), `w`
 * the store instance that wrote it; the rest is the store's own.
 */
export interface ChangeNotice {
  /** The store: its main Redis key. */
  s: string;
  /** The writer: the id of the store instance that made the change. */
  w: string;
  [field: string]: unknown;
}

/** What a store registers with a {@link RedisChangeFeed}. */
export interface ChangeFeedSubscriber {
  /**
   * Applies a notice of this store (the subscriber skips its own, by `w`). Throws only when the
   * notice is malformed: the feed then drops it with a rate-limited warning.
   */
  apply(notice: ChangeNotice): void;
  /**
   * Reloads the whole store from Redis: called when the feed's connection came back, since notices
   * published meanwhile are lost (pub/sub keeps nothing for an absent subscriber).
   */
  reload(): Promise<void>;
}

/**
 * The change notices of one namespace's stores, on one subscriber connection for the whole process:
 * every write of a Redis store opened with this feed publishes a notice on
 * `openclaw:<namespace>:changes` (inside the same script as the write, so a notice exists exactly
 * when the write happened, in the order Redis applied the writes), and this feed hands each notice to
 * the stores of the same key in this process, which apply other instances' changes to their local
 * mirrors and tell their watchers.
 *
 * Pub/sub keeps nothing for a subscriber that is away: when the subscriber connection comes back
 * after losing Redis, the feed subscribes again and then has every store reload fully (retrying every
 * `reloadRetryMs` while Redis cannot be read).
 *
 * @example
 * ```ts
 * const feed = new RedisChangeFeed(redis, { namespace: "prod" });
 * await feed.ready();
 * const deviceStore = new RedisDeviceStore(redis, { namespace: "prod", feed });
 * ```
 */
export class RedisChangeFeed {
  /** The pub/sub channel of the namespace's notices. */
  readonly channel: string;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #logger: RedisChangeFeedLogger | undefined;
  readonly #reloadRetryMs: number;
  readonly #syncTimeoutMs: number;
  readonly #subscribers = new Map<string, Set<ChangeFeedSubscriber>>();
  readonly #syncs = new Map<string, () => void>();
  readonly #malformed: MalformedMessages;
  readonly #subscribed: Promise<void>;
  /** The subscriber connection was lost since it was last subscribed: reload at the next `ready`. */
  #lost = false;
  #closed = false;

  /**
   * @param redis - A client of the stores (see `connectRedisStoreClient`): `sync` publishes through
   *   it, and the subscriber connection is its `duplicate()`. The caller owns it.
   * @param options - The namespace (the stores' own), a logger, the retry and sync limits.
   */
  constructor(redis: Redis, options: RedisChangeFeedOptions = {}) {
    const { commandTimeout: _timeout, ...clientOptions } = redis.options;
    this.#redis = redis;
    this.channel = changeChannel(options.namespace);
    this.#logger = options.logger;
    this.#reloadRetryMs = options.reloadRetryMs ?? REDIS_CHANGE_FEED_DEFAULTS.reloadRetryMs;
    this.#syncTimeoutMs = options.syncTimeoutMs ?? REDIS_CHANGE_FEED_DEFAULTS.syncTimeoutMs;
    this.#malformed = new MalformedMessages({
      source: "change feed",
      logger: options.logger,
      warnIntervalMs: options.malformedWarnIntervalMs,
    });
    // The subscriber waits for Redis instead of failing: its SUBSCRIBE is queued and renewed.
    // No command timeout either (a SUBSCRIBE waits for Redis): the client's options without it.
    this.#sub = new Redis({
      ...clientOptions,
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
    });
    this.#sub.on("error", () => {}); // reported through `close` / `ready` below
    this.#sub.on("close", () => {
      if (!this.#closed) this.#lost = true;
    });
    this.#sub.on("ready", () => {
      if (!this.#lost || this.#closed) return;
      this.#lost = false;
      // Subscribed again first, so that nothing written after the reload's snapshot is missed.
      this.#sub.subscribe(this.channel).then(
        () => this.#reloadAll(),
        (error: unknown) => this.#warn({ err: String(error) }, "change feed: subscribing again failed"),
      );
    });
    this.#sub.on(
      "message",
      this.#malformed.guard((channel: string, message: string) => {
        if (channel === this.channel) this.#receive(message);
      }),
    );
    this.#subscribed = this.#sub.subscribe(this.channel).then(() => undefined);
    this.#subscribed.catch(() => {});
  }

  /**
   * Resolves once subscribed (it waits while Redis is unreachable: bound it yourself if needed).
   *
   * @returns Resolves when subscribed; rejects when the subscription failed.
   */
  async ready(): Promise<void> {
    await this.#subscribed;
  }

  /**
   * Registers a store's subscriber for the notices of `store`.
   *
   * @param store - The store's main Redis key (the notices' `s`).
   * @param subscriber - What applies the notices and reloads.
   * @returns Unregisters it.
   */
  register(store: string, subscriber: ChangeFeedSubscriber): () => void {
    let set = this.#subscribers.get(store);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(store, set);
    }
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.#subscribers.get(store) === set) this.#subscribers.delete(store);
    };
  }

  /**
   * Waits until every notice published before this call has been applied here: it publishes a marker
   * and resolves when the marker comes back (Redis delivers a channel's messages in order). Useful to
   * read one's own writes made through another instance, and in tests.
   *
   * @returns Resolves once the marker arrived.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when the marker cannot be
   *   published or does not come back within `syncTimeoutMs`.
   */
  async sync(): Promise<void> {
    await this.#subscribed;
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      this.#syncs.set(id, resolve);
      timer = setTimeout(
        () => reject(unavailable(`no change feed marker within ${this.#syncTimeoutMs} ms`)),
        this.#syncTimeoutMs,
      );
    });
    try {
      await this.#redis.publish(this.channel, JSON.stringify({ s: "", w: "", sync: id })).catch((error) => {
        throw unavailable(`publishing a change feed marker failed (${String(error)})`, error);
      });
      await arrived;
    } finally {
      clearTimeout(timer);
      this.#syncs.delete(id);
    }
  }

  /** Stops listening (the stores keep their mirrors, no longer updated). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscribers.clear();
    this.#sub.disconnect();
  }

  #receive(message: string): void {
    const notice = this.#malformed.parse(NOTICE, message, this.channel);
    if (notice === undefined) return;
    if ("sync" in notice && typeof notice.sync === "string") {
      this.#syncs.get(notice.sync)?.();
      return;
    }
    const { s: store } = notice as ChangeNotice;
    for (const subscriber of this.#subscribers.get(store) ?? []) {
      try {
        subscriber.apply(notice as ChangeNotice);
      } catch (error) {
        this.#malformed.drop(`the store could not apply it: ${errorText(error)}`, {
          channel: this.channel,
          store,
          message,
        });
      }
    }
  }

  #reloadAll(): void {
    for (const [store, subscribers] of this.#subscribers) {
      for (const subscriber of subscribers) void this.#reload(store, subscriber);
    }
  }

  async #reload(store: string, subscriber: ChangeFeedSubscriber): Promise<void> {
    while (!this.#closed && this.#subscribers.get(store)?.has(subscriber) === true) {
      try {
        await subscriber.reload();
        return;
      } catch (error) {
        this.#warn({ err: String(error), store }, "change feed: reloading a store failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, this.#reloadRetryMs).unref());
      }
    }
  }

  #warn(object: object, message: string): void {
    this.#logger?.warn(object, message);
  }
}

/**
 * The channel of a namespace's change notices.
 *
 * @param namespace - The stores' namespace.
 * @returns `openclaw:<namespace>:changes`.
 */
export function changeChannel(namespace?: string): string {
  return `${keyPrefix(namespace)}changes`;
}

/**
 * Reads a store's state without missing a change made meanwhile: the store's notices are collected
 * from before the read starts (once the feed is subscribed) until it ends, and returned with what
 * was read, for the store to apply after it. Without a feed, only reads.
 *
 * @param feed - The feed, if the store has one.
 * @param store - The store's main Redis key (the notices' `s`).
 * @param read - Reads the state.
 * @returns What was read, and the notices that arrived while it was read.
 */
export async function readWithNotices<T>(
  feed: RedisChangeFeed | undefined,
  store: string,
  read: () => Promise<T>,
): Promise<{ value: T; early: ChangeNotice[] }> {
  const early: ChangeNotice[] = [];
  const unregister = feed?.register(store, { apply: (notice) => early.push(notice), reload: async () => {} });
  try {
    await feed?.ready();
    return { value: await read(), early };
  } finally {
    unregister?.();
  }
}

/** A new writer id: the `w` of one store instance's notices. */
export function newWriterId(): string {
  return randomUUID();
}

/** A notice: a sync marker, or a store's notice (its own fields are checked by the store). */
const NOTICE = v.union([
  v.looseObject({ sync: v.string() }),
  v.looseObject({ s: v.string(), w: v.string() }),
]);

function errorText(error: unknown): string {
  if (v.isValiError(error)) {
    const issue = error.issues[0];
    const path = v.getDotPath(issue);
    return path === null ? issue.message : `${path}: ${issue.message}`;
  }
  return String(error);
}

function unavailable(message: string, cause?: unknown): ProtocolError<"UNAVAILABLE"> {
  return new ProtocolError("UNAVAILABLE", `Redis is unavailable: ${message}`, {
    details: { reason: "redis_unavailable", retryable: true },
    cause,
  });
}
