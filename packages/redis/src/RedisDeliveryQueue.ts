import { randomUUID } from "node:crypto";
import type {
  DeliveryCounts,
  DeliveryInput,
  DeliveryListFilter,
  DeliveryQueueFactory,
  DeliveryQueueHost,
  DeliveryRecord,
  FirstOutcome,
  Lease,
  LeaseProvider,
  OutboundQueue,
} from "@openclaw/backend";
import { ChannelError, ChannelErrorCode, type SendResult, toChannelError } from "@openclaw/channel-sdk";
import { type Delivery, DeliverySchema } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import * as v from "valibot";
import { keyPrefix, redisUnavailable, viaRedis } from "./stores/redisStoreClient";
import { MalformedMessages } from "./untrusted";

/** Defaults of {@link RedisDeliveryQueueOptions}. */
export const REDIS_DELIVERY_QUEUE_DEFAULTS = {
  /**
   * How often an instance looks for channels with waiting messages that nobody works (a holder
   * died) and re-reads the queues it works (in case a wake-up message was missed).
   */
  pollMs: 1_000,
  /**
   * How long a sender waits for the first attempt of its message when it is worked on another
   * instance (or nobody works the channel yet); after it the answer is `queued` (`awaiting_worker`).
   */
  outcomeWaitMs: 30_000,
  /** How long the id of a delivered message is remembered, so that enqueueing it again does not send it again. */
  deliveredIdTtlMs: 86_400_000,
  /** How long a lane waits after Redis refused one of its writes before the channel is tried again. */
  failurePauseMs: 1_000,
} as const;

/** Options of {@link RedisDeliveryQueue.open}. */
export interface RedisDeliveryQueueOptions {
  /** A client for commands (see `connectRedisStoreClient`); never closed by the queue. */
  redis: Redis;
  /**
   * A client for the queue's pub/sub (wake-ups and first-attempt outcomes); never closed by the queue.
   * @defaultValue `redis.duplicate()`, owned and closed by the queue
   */
  subscriber?: Redis;
  /** This instance's id: outcomes of the messages it accepted are published to it. */
  instanceId: string;
  /** Grants `deliveries:<channel>`, the lease of working one channel's queue (`RedisLeases`). */
  leases: LeaseProvider;
  /** How to send, the config, and whom to tell about outcomes (given by the gateway). */
  host: DeliveryQueueHost;
  /**
   * The key namespace (`openclaw:<namespace>:delivery:...`).
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * How often to look for unworked channels and re-read the queues worked here.
   * @defaultValue `REDIS_DELIVERY_QUEUE_DEFAULTS.pollMs` (1 s)
   */
  pollMs?: number;
  /**
   * How long a sender waits for its message's first attempt.
   * @defaultValue `REDIS_DELIVERY_QUEUE_DEFAULTS.outcomeWaitMs` (30 s)
   */
  outcomeWaitMs?: number;
  /**
   * How long a delivered message's id is remembered (a repeated enqueue is answered `queued`,
   * `already_delivered`, instead of sending again).
   * @defaultValue `REDIS_DELIVERY_QUEUE_DEFAULTS.deliveredIdTtlMs` (24 h)
   */
  deliveredIdTtlMs?: number;
  /**
   * How long to wait after a Redis failure before working the channel again.
   * @defaultValue `REDIS_DELIVERY_QUEUE_DEFAULTS.failurePauseMs` (1 s)
   */
  failurePauseMs?: number;
  /**
   * At most one warning about malformed outcome messages per this many milliseconds.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  malformedWarnIntervalMs?: number;
}

/** A record as stored: the wire shape plus the instance waiting for its first attempt. */
interface Stored extends Delivery {
  /** The instance whose sender waits for this message's first attempt (set for a lane's head only). */
  waiter?: string;
}

/** A {@link Stored} record as read from Redis: a record that does not match is left out. */
const STORED = v.object({ ...DeliverySchema.entries, waiter: v.exactOptional(v.string()) });

/** What is published to the accepting instance after a first attempt. */
type Outcome =
  | FirstOutcome
  | { status: "failed"; deliveryId: string; error: { code: string; message: string; retryAfterMs?: number } };

/** An {@link Outcome} as read from Redis: anything else is dropped. */
const OUTCOME = v.variant("status", [
  v.object({ status: v.literal("sent"), deliveryId: v.string(), messageId: v.string() }),
  v.object({ status: v.literal("queued"), deliveryId: v.string(), reason: v.exactOptional(v.string()) }),
  v.object({
    status: v.literal("failed"),
    deliveryId: v.string(),
    error: v.object({
      code: v.picklist(Object.values(ChannelErrorCode)),
      message: v.string(),
      retryAfterMs: v.exactOptional(v.pipe(v.number(), v.finite(), v.minValue(0))),
    }),
  }),
]);

/** Channel errors worth another attempt (as the single-process queue). */
const RETRYABLE = new Set(["RATE_LIMITED", "PLATFORM_UNAVAILABLE", "NOT_READY", "AUTH_FAILED"]);

/**
 * Stores a message, unless its id is known. KEYS: records, seq, pending:<channel>, lanes:<channel>,
 * channels, delivered:<id>, count. ARGV: id, channel, address, record JSON, max queued, the waiter
 * JSON fragment, the wake-up channel. Returns `{'exists'}`, `{'delivered', messageId}`, `{'full'}`
 * or `{'queued', seq, position in its lane}`.
 */
const ENQUEUE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'exists'} end
local delivered = redis.call('GET', KEYS[6])
if delivered then return {'delivered', delivered} end
if tonumber(redis.call('GET', KEYS[7]) or '0') >= tonumber(ARGV[5]) then return {'full'} end
local seq = redis.call('INCR', KEYS[2])
local n = redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
local json = ARGV[4]
if n == 1 then json = string.sub(json, 1, -2) .. ARGV[6] .. '}' end
redis.call('HSET', KEYS[1], ARGV[1], json)
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[2])
redis.call('INCR', KEYS[7])
redis.call('PUBLISH', ARGV[7], ARGV[2])
return {'queued', tostring(seq), tostring(n)}
`;

/**
 * Takes a pending message out of its channel's queue (shared by FINISH and DROP). Expects
 * KEYS[2..5] = pending:<channel>, lanes:<channel>, channels, count; ARGV[2..4] = id, address, channel.
 */
const UNQUEUE = `
local function unqueue()
  if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return end
  if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[3]) end
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[4]) end
  redis.call('DECR', KEYS[5])
end
`;

/**
 * Records what an attempt did, if the caller still holds the channel's fence. KEYS: records,
 * pending:<channel>, lanes:<channel>, channels, count, dead, delivered:<id>, fence:<channel>.
 * ARGV: token, id, address, channel, mode (`sent` | `refused` | `retry` | `dead`), record JSON,
 * messageId, delivered-id TTL, outcome channel ('' for none), outcome JSON, max dead letters, seq.
 * Returns `{-1}` when fenced off, `{0}` when the message was dropped meanwhile, else `{1, dropped dead ids...}`.
 */
const FINISH = `${UNQUEUE}
if redis.call('GET', KEYS[8]) ~= ARGV[1] then return {-1} end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return {0} end
local mode = ARGV[5]
local result = {1}
if mode == 'retry' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[6])
else
  unqueue()
  if mode == 'dead' then
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[6])
    redis.call('ZADD', KEYS[6], ARGV[12], ARGV[2])
    local over = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[11])
    if over > 0 then
      local oldest = redis.call('ZPOPMIN', KEYS[6], over)
      for i = 1, #oldest, 2 do
        redis.call('HDEL', KEYS[1], oldest[i])
        table.insert(result, oldest[i])
      end
    end
  else
    redis.call('HDEL', KEYS[1], ARGV[2])
    if mode == 'sent' then redis.call('SET', KEYS[7], ARGV[7], 'PX', ARGV[8]) end
  end
end
if ARGV[9] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[10]) end
return result
`;

/**
 * Removes a message, pending or dead. KEYS: records, pending:<channel>, lanes:<channel>, channels,
 * count, dead. ARGV: the wake-up channel, id, address, channel. Returns 1 when there was one.
 */
const DROP = `${UNQUEUE}
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return 0 end
unqueue()
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[4] .. '|reload')
return 1
`;

/**
 * Makes a message due now; a dead one goes back to its channel's queue with its old place (seq).
 * KEYS: records, pending:<channel>, lanes:<channel>, channels, count, dead. ARGV: the wake-up
 * channel, id, address, channel, the record JSON to store. Returns 1 when there was one.
 */
const RETRY = `
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
local seq = redis.call('ZSCORE', KEYS[6], ARGV[2])
if seq then
  redis.call('ZREM', KEYS[6], ARGV[2])
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('INCR', KEYS[5])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[4] .. '|reload')
return 1
`;

/** Raises the channel's fence to a new holder's token. KEYS: fence:<channel>. ARGV: token. */
const FENCE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/** The messages to one address on a worked channel, in order. */
interface Lane {
  /** Pending ids, in seq order. */
  ids: string[];
  running: boolean;
  timer?: NodeJS.Timeout | undefined;
}

/** One channel's queue, worked here under its lease. */
interface Worker {
  channel: string;
  lease: Lease;
  /** False once the lease is lost, the channel is given up, or the queue closes. */
  active: boolean;
  lanes: Map<string, Lane>;
  records: Map<string, DeliveryRecord & { waiter?: string }>;
  /** The highest seq read so far (new messages have higher ones). */
  maxSeq: number;
  /** A re-read in progress, and whether another (full or not) is wanted after it. */
  reading?: Promise<void> | undefined;
  again?: "new" | "reload" | undefined;
}

/**
 * The outbound delivery queue of a cluster, on Redis: any instance accepts a send, one instance at
 * a time works each channel's queue, and a message is delivered once, in order per address, even
 * when the instance that accepted it or the one working it dies.
 *
 * **Storage.** A message is stored before `enqueue` answers, in one script: its JSON in the hash
 * `openclaw:<ns>:delivery:records`, its id in the sorted set `...:pending:<channel>` scored by a
 * cluster-wide sequence (the order of acceptance), a count per address in `...:lanes:<channel>`
 * (a message that is not first in its lane is answered `queued` at once, as in one process), and
 * the channel in `...:channels`. Dead letters are in `...:dead` (same scores). A delivered id is
 * remembered in `...:delivered:<id>` for `deliveredIdTtlMs`, so a repeated `enqueue` never sends
 * again.
 *
 * **Working.** The queue of a channel is worked by the holder of the lease `deliveries:<channel>`,
 * taken only by an instance that can send on the channel (`host.canSend`: for a channel with a
 * platform connection, the instance holding its connection lease; for a webhook-only channel, any
 * instance). The holder runs one loop per address, as the single-process queue does, and records
 * every outcome with a script that first checks `...:fence:<channel>` against its lease's fencing
 * token (raised by each new holder), so a holder that lost its lease without noticing can change
 * nothing. When a holder dies, its lease expires, another instance takes it and reads the whole
 * pending set: the message that was being sent at the moment of death is sent again with the same
 * delivery id (the platform's idempotency key), every other one exactly once.
 *
 * **Why sorted sets, not a Stream with a consumer group.** One lease holder owns a channel's
 * whole queue, so per-entry ownership (a consumer group's pending list, `XAUTOCLAIM`) would only
 * duplicate the lease with a second, idle-time-based notion of "stale" that must agree with it.
 * A sorted set by acceptance order gives per-address order directly and lets `delivery.retry` put a
 * dead letter back in its old place and `delivery.drop` remove any message.
 *
 * **Senders.** A sender whose message is first in its lane waits for the first attempt: the
 * worker publishes its outcome to `...:outcome:<instanceId>` of the accepting instance in the same
 * script that records it. A sender gets `queued` (`awaiting_worker`) after `outcomeWaitMs` (the
 * message stays queued). Wake-ups go over `...:wake` (a lost one costs at most `pollMs`).
 */
export class RedisDeliveryQueue implements OutboundQueue {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #ownsSubscriber: boolean;
  readonly #instanceId: string;
  readonly #leases: LeaseProvider;
  readonly #host: DeliveryQueueHost;
  readonly #prefix: string;
  readonly #pollMs: number;
  readonly #outcomeWaitMs: number;
  readonly #deliveredIdTtlMs: number;
  readonly #failurePauseMs: number;
  readonly #workers = new Map<string, Worker>();
  /** When this instance last tried to take a channel's lease (wake-ups try at most once per `pollMs`). */
  readonly #tried = new Map<string, number>();
  /** Channels this instance gave up after a Redis failure, until when. */
  readonly #pausedUntil = new Map<string, number>();
  readonly #acquiring = new Set<string>();
  readonly #waiters = new Map<string, (outcome: Outcome) => void>();
  readonly #malformed: MalformedMessages;
  readonly #malformedRecords: MalformedMessages;
  #poller: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  private constructor(options: RedisDeliveryQueueOptions) {
    this.#redis = options.redis;
    this.#ownsSubscriber = options.subscriber === undefined;
    this.#subscriber = options.subscriber ?? options.redis.duplicate();
    this.#subscriber.on("error", () => {});
    this.#instanceId = options.instanceId;
    this.#leases = options.leases;
    this.#host = options.host;
    this.#prefix = `${keyPrefix(options.namespace)}delivery:`;
    this.#pollMs = options.pollMs ?? REDIS_DELIVERY_QUEUE_DEFAULTS.pollMs;
    this.#outcomeWaitMs = options.outcomeWaitMs ?? REDIS_DELIVERY_QUEUE_DEFAULTS.outcomeWaitMs;
    this.#deliveredIdTtlMs = options.deliveredIdTtlMs ?? REDIS_DELIVERY_QUEUE_DEFAULTS.deliveredIdTtlMs;
    this.#failurePauseMs = options.failurePauseMs ?? REDIS_DELIVERY_QUEUE_DEFAULTS.failurePauseMs;
    this.#malformed = new MalformedMessages({
      source: "delivery outcome",
      logger: options.host.logger,
      warnIntervalMs: options.malformedWarnIntervalMs,
    });
    this.#malformedRecords = new MalformedMessages({
      source: "delivery record",
      logger: options.host.logger,
      warnIntervalMs: options.malformedWarnIntervalMs,
    });
  }

  /**
   * Subscribes to wake-ups and outcomes, and starts looking for channels to work.
   *
   * @param options - Redis, this instance, the leases, the gateway's host, limits.
   * @returns The queue.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be reached.
   */
  static async open(options: RedisDeliveryQueueOptions): Promise<RedisDeliveryQueue> {
    const queue = new RedisDeliveryQueue(options);
    await queue.#start();
    return queue;
  }

  /**
   * A `GatewayOptions.deliveryQueue` that opens a {@link RedisDeliveryQueue} with the gateway's host.
   *
   * @param options - Everything but the host.
   * @returns The factory.
   *
   * @example
   * ```ts
   * const gateway = new Gateway({ config, deliveryQueue: RedisDeliveryQueue.factory({ redis, instanceId, leases }) });
   * ```
   */
  static factory(options: Omit<RedisDeliveryQueueOptions, "host">): DeliveryQueueFactory {
    return ({ host }) => RedisDeliveryQueue.open({ ...options, host });
  }

  /** The channels whose queue this instance works now. */
  worked(): string[] {
    return [...this.#workers.values()].filter((worker) => worker.active).map((worker) => worker.channel);
  }

  async enqueue(input: DeliveryInput): Promise<FirstOutcome> {
    if (this.#closed) throw new ChannelError("NOT_READY", "the gateway is shutting down");
    const id = input.id ?? randomUUID();
    const now = Date.now();
    const stored: Stored = {
      id,
      channel: input.channel,
      address: input.address,
      content: input.content,
      status: "pending",
      attempts: 0,
      createdAt: now,
      nextAttemptAt: now,
    };
    if (input.replyTo !== undefined) stored.replyTo = input.replyTo;
    let resolve!: (outcome: Outcome) => void;
    const outcome = new Promise<Outcome>((settle) => {
      resolve = settle;
    });
    // A sender of the same id already waiting keeps its place (this one is told `already_queued`).
    if (!this.#waiters.has(id)) this.#waiters.set(id, resolve);
    let reply: string[];
    try {
      reply = (await viaRedis(`queueing delivery ${id}`, () =>
        this.#redis.eval(
          ENQUEUE,
          7,
          this.#key("records"),
          this.#key("seq"),
          this.#key(`pending:${input.channel}`),
          this.#key(`lanes:${input.channel}`),
          this.#key("channels"),
          this.#key(`delivered:${id}`),
          this.#key("count"),
          id,
          input.channel,
          input.address,
          JSON.stringify(stored),
          this.#host.config().maxQueued,
          `,"waiter":${JSON.stringify(this.#instanceId)}`,
          this.#key("wake"),
        ),
      )) as string[];
    } catch (error) {
      this.#forget(id, resolve);
      throw error;
    }
    const [status, , position] = reply;
    if (status !== "queued" || position !== "1") this.#forget(id, resolve);
    if (status === "exists") return { status: "queued", deliveryId: id, reason: "already_queued" };
    if (status === "delivered") return { status: "queued", deliveryId: id, reason: "already_delivered" };
    if (status === "full") {
      const { maxQueued } = this.#host.config();
      throw new ChannelError("RATE_LIMITED", `the delivery queue holds ${maxQueued} messages already`, {
        retryAfterMs: 1000,
      });
    }
    if (position !== "1") return { status: "queued", deliveryId: id, reason: "behind_earlier_messages" };
    const timer = setTimeout(
      () => resolve({ status: "queued", deliveryId: id, reason: "awaiting_worker" }),
      this.#outcomeWaitMs,
    );
    timer.unref();
    const result = await outcome.finally(() => {
      clearTimeout(timer);
      this.#forget(id, resolve);
    });
    if (result.status === "failed")
      throw new ChannelError(result.error.code as ChannelErrorCode, result.error.message, {
        ...(result.error.retryAfterMs === undefined ? {} : { retryAfterMs: result.error.retryAfterMs }),
      });
    return result;
  }

  /**
   * Stored messages of the whole cluster, oldest first.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  async list(filter: DeliveryListFilter): Promise<Delivery[]> {
    return viaRedis("listing deliveries", async () => {
      const ids: Array<[string, number]> = [];
      const add = (flat: string[]) => {
        for (let i = 0; i + 1 < flat.length; i += 2) ids.push([flat[i]!, Number(flat[i + 1])]);
      };
      if (filter.status !== "dead") {
        const channels =
          filter.channel === undefined ? await this.#redis.smembers(this.#key("channels")) : [filter.channel];
        for (const channel of channels)
          add(await this.#redis.zrange(this.#key(`pending:${channel}`), 0, -1, "WITHSCORES"));
      }
      if (filter.status !== "pending") add(await this.#redis.zrange(this.#key("dead"), 0, -1, "WITHSCORES"));
      ids.sort((a, b) => a[1] - b[1]);
      const out: Delivery[] = [];
      const batch = Math.max(filter.limit, 100);
      for (let start = 0; start < ids.length && out.length < filter.limit; start += batch) {
        const chunk = ids.slice(start, start + batch);
        const values = await this.#redis.hmget(this.#key("records"), ...chunk.map(([id]) => id));
        for (const json of values) {
          if (json === null || json === undefined) continue;
          const stored = this.#stored(json);
          if (stored === undefined) continue;
          const record = toDelivery(stored);
          if (filter.channel !== undefined && record.channel !== filter.channel) continue;
          if (filter.status !== undefined && record.status !== filter.status) continue;
          out.push(record);
          if (out.length >= filter.limit) break;
        }
      }
      return out;
    });
  }

  /**
   * Counts of pending and dead messages in the whole cluster.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  async counts(): Promise<DeliveryCounts> {
    return viaRedis("counting deliveries", async () => {
      const [pending, dead] = await Promise.all([
        this.#redis.get(this.#key("count")),
        this.#redis.zcard(this.#key("dead")),
      ]);
      return { pending: Number(pending ?? 0), dead };
    });
  }

  /**
   * Makes a pending or dead message due now (a dead one gets a fresh set of attempts), on whichever
   * instance works its channel.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written.
   */
  async retry(id: string): Promise<Delivery | undefined> {
    return viaRedis(`retrying delivery ${id}`, async () => {
      const json = await this.#redis.hget(this.#key("records"), id);
      if (json === null) return undefined;
      const stored = this.#stored(json, id);
      if (stored === undefined) return undefined;
      const { waiter: _waiter, ...record } = stored;
      const next: Stored = { ...record, status: "pending", nextAttemptAt: Date.now() };
      if (record.status === "dead") next.attempts = 0;
      const done = await this.#redis.eval(
        RETRY,
        6,
        ...this.#queueKeys(record.channel),
        this.#key("dead"),
        this.#key("wake"),
        id,
        record.address,
        record.channel,
        JSON.stringify(next),
      );
      return done === 1 ? toDelivery(next) : undefined;
    });
  }

  /**
   * Removes a pending or dead message.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written.
   */
  async drop(id: string): Promise<boolean> {
    return viaRedis(`dropping delivery ${id}`, async () => {
      const json = await this.#redis.hget(this.#key("records"), id);
      if (json === null) return false;
      const record = this.#stored(json, id);
      if (record === undefined) return false;
      const dropped = await this.#redis.eval(
        DROP,
        6,
        ...this.#queueKeys(record.channel),
        this.#key("dead"),
        this.#key("wake"),
        id,
        record.address,
        record.channel,
      );
      return dropped === 1;
    });
  }

  /**
   * Stops working: gives up the channels' leases (another instance takes them at once) and answers
   * waiting senders `NOT_READY`. Messages stay queued in Redis. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poller);
    this.#poller = undefined;
    // The messages are stored: another instance (or the next start) delivers them.
    for (const [id, resolve] of this.#waiters)
      resolve({ status: "queued", deliveryId: id, reason: "shutting_down" });
    this.#waiters.clear();
    await Promise.all([...this.#workers.values()].map((worker) => this.#stopWorker(worker, "closing")));
    if (this.#ownsSubscriber) this.#subscriber.disconnect();
    else {
      await this.#subscriber
        .unsubscribe(this.#key("wake"), this.#key(`outcome:${this.#instanceId}`))
        .catch(() => {});
      this.#subscriber.removeListener("message", this.#onMessage);
    }
  }

  async #start(): Promise<void> {
    this.#subscriber.on("message", this.#onMessage);
    await viaRedis("subscribing to delivery wake-ups", async () => {
      // A duplicate of a lazily connecting client (as `connectRedisStoreClient` makes) is not connected yet.
      if (this.#subscriber.status === "wait") await this.#subscriber.connect();
      await this.#subscriber.subscribe(this.#key("wake"), this.#key(`outcome:${this.#instanceId}`));
    });
    this.#poller = setInterval(() => void this.#poll(), this.#pollMs);
    this.#poller.unref();
    void this.#poll();
  }

  /** Guarded: whatever it throws is dropped with a rate-limited warning, never ends the process. */
  readonly #onMessage = (channel: string, message: string): void => {
    try {
      this.#receive(channel, message);
    } catch (error) {
      this.#malformed.drop(`handling it failed: ${String(error)}`, { channel, message });
    }
  };

  #receive(channel: string, message: string): void {
    if (this.#closed) return;
    if (channel === this.#key("wake")) {
      const [name = "", reload] = message.split("|");
      const worker = this.#workers.get(name);
      if (worker?.active) this.#read(worker, reload === "reload" ? "reload" : "new");
      else if (Date.now() - (this.#tried.get(name) ?? 0) >= this.#pollMs) void this.#tryWork(name);
      return;
    }
    const outcome = this.#malformed.parse(OUTCOME, message, channel);
    if (outcome !== undefined) this.#waiters.get(outcome.deliveryId)?.(outcome);
  }

  #forget(id: string, resolve: (outcome: Outcome) => void): void {
    if (this.#waiters.get(id) === resolve) this.#waiters.delete(id);
  }

  #key(suffix: string): string {
    return this.#prefix + suffix;
  }

  /** records, pending, lanes, channels, count of a channel (the first KEYS of DROP, RETRY, FINISH). */
  #queueKeys(channel: string): string[] {
    return [
      this.#key("records"),
      this.#key(`pending:${channel}`),
      this.#key(`lanes:${channel}`),
      this.#key("channels"),
      this.#key("count"),
    ];
  }

  /** Takes the leases of channels with waiting messages that this instance can send on; gives up the others. */
  async #poll(): Promise<void> {
    if (this.#polling !== undefined || this.#closed) return;
    this.#polling = (async () => {
      let channels: string[];
      try {
        channels = await this.#redis.smembers(this.#key("channels"));
      } catch {
        return; // Redis is away: the leases' own expiry decides who works what.
      }
      for (const worker of this.#workers.values()) {
        if (!worker.active) continue;
        if (!this.#canSend(worker.channel))
          await this.#stopWorker(worker, "the channel is not sendable here");
        else this.#read(worker, "new");
      }
      await Promise.all(channels.map((channel) => this.#tryWork(channel)));
    })().finally(() => {
      this.#polling = undefined;
    });
    await this.#polling;
  }

  #canSend(channel: string): boolean {
    return this.#host.canSend?.(channel) ?? true;
  }

  /** Takes the lease of a channel's queue, when free and this instance can send on it, and works it. */
  async #tryWork(channel: string): Promise<void> {
    if (this.#closed || this.#workers.get(channel)?.active || this.#acquiring.has(channel)) return;
    if (!this.#canSend(channel) || (this.#pausedUntil.get(channel) ?? 0) > Date.now()) return;
    this.#acquiring.add(channel);
    this.#tried.set(channel, Date.now());
    try {
      const lease = await this.#leases.tryAcquire(`deliveries:${channel}`);
      if (lease === undefined) return;
      if (this.#closed) {
        await lease.release();
        return;
      }
      const raised = await this.#redis.eval(FENCE, 1, this.#key(`fence:${channel}`), lease.token);
      if (raised !== 1) {
        // A later holder already raised the fence: this lease is stale.
        await lease.release();
        return;
      }
      const worker: Worker = {
        channel,
        lease,
        active: true,
        lanes: new Map(),
        records: new Map(),
        maxSeq: 0,
      };
      this.#workers.set(channel, worker);
      const lost = () => void this.#stopWorker(worker, "the lease was lost");
      lease.lost.addEventListener("abort", lost, { once: true });
      if (lease.lost.aborted) lost();
      this.#host.logger.info({ channel, token: lease.token }, "working the delivery queue of a channel");
      this.#read(worker, "reload");
    } catch (error) {
      this.#host.logger.warn({ err: error, channel }, "could not take the delivery lease of a channel");
    } finally {
      this.#acquiring.delete(channel);
    }
  }

  async #stopWorker(worker: Worker, why: string): Promise<void> {
    if (!worker.active) return;
    worker.active = false;
    if (this.#workers.get(worker.channel) === worker) this.#workers.delete(worker.channel);
    for (const lane of worker.lanes.values()) clearTimeout(lane.timer);
    this.#host.logger.info(
      { channel: worker.channel, why },
      "stopped working the delivery queue of a channel",
    );
    await worker.lease.release();
  }

  /** A Redis write failed: stop working the channel for a while (another instance may take it). */
  #fail(worker: Worker, error: unknown): void {
    this.#host.logger.error(
      { err: error, channel: worker.channel },
      "the delivery queue could not be written; giving the channel up",
    );
    this.#pausedUntil.set(worker.channel, Date.now() + this.#failurePauseMs);
    void this.#stopWorker(worker, "a Redis write failed");
  }

  /** Reads new messages (or all of them, for `reload`) of a worked channel, then runs its lanes. */
  #read(worker: Worker, kind: "new" | "reload"): void {
    if (worker.reading !== undefined) {
      if (worker.again !== "reload") worker.again = kind;
      return;
    }
    worker.reading = this.#load(worker, kind)
      .catch((error: unknown) => this.#fail(worker, error))
      .finally(() => {
        worker.reading = undefined;
        const again = worker.again;
        worker.again = undefined;
        if (again !== undefined && worker.active) this.#read(worker, again);
      });
  }

  async #load(worker: Worker, kind: "new" | "reload"): Promise<void> {
    const pendingKey = this.#key(`pending:${worker.channel}`);
    const flat =
      kind === "reload"
        ? await this.#redis.zrange(pendingKey, 0, -1, "WITHSCORES")
        : await this.#redis.zrangebyscore(pendingKey, `(${worker.maxSeq}`, "+inf", "WITHSCORES");
    const entries: Array<[string, number]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, Number(flat[i + 1])]);
    const values =
      entries.length === 0 ? [] : await this.#redis.hmget(this.#key("records"), ...entries.map(([id]) => id));
    if (!worker.active) return;
    const fresh = new Map<string, DeliveryRecord & { waiter?: string }>();
    entries.forEach(([id, seq], i) => {
      const json = values[i];
      const stored = json === null || json === undefined ? undefined : this.#stored(json, id);
      if (stored !== undefined) fresh.set(id, { ...stored, seq });
      worker.maxSeq = Math.max(worker.maxSeq, seq);
    });
    if (kind === "reload") {
      worker.records = fresh;
      for (const lane of worker.lanes.values()) lane.ids = [];
    } else {
      for (const [id, record] of fresh) worker.records.set(id, record);
    }
    const sorted = [...fresh.values()].sort((a, b) => a.seq - b.seq);
    for (const record of sorted) {
      let lane = worker.lanes.get(record.address);
      if (lane === undefined) {
        lane = { ids: [], running: false };
        worker.lanes.set(record.address, lane);
      }
      if (!lane.ids.includes(record.id)) lane.ids.push(record.id);
    }
    const touched = kind === "reload" ? [...worker.lanes.keys()] : [...new Set(sorted.map((r) => r.address))];
    for (const address of touched) this.#schedule(worker, address);
  }

  /**
   * A stored message as read from Redis, or `undefined` (with the rate-limited warning) when it is
   * not one: a value someone else wrote there is left out instead of stopping its channel's queue.
   */
  #stored(json: string, id?: string): Stored | undefined {
    const stored = this.#malformedRecords.parse(STORED, json, this.#key("records"));
    if (stored !== undefined && id !== undefined && stored.id !== id) {
      this.#malformedRecords.drop("its id is not its field's name", { id, message: json });
      return undefined;
    }
    return stored as Stored | undefined;
  }

  /** Runs a lane now, or arms its timer for its head's next attempt. */
  #schedule(worker: Worker, address: string): void {
    const lane = worker.lanes.get(address);
    if (lane === undefined || lane.running || !worker.active) return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    const head = lane.ids[0] === undefined ? undefined : worker.records.get(lane.ids[0]);
    if (head === undefined) {
      if (lane.ids.length === 0) {
        worker.lanes.delete(address);
        return;
      }
      lane.ids.shift();
      this.#schedule(worker, address);
      return;
    }
    const delay = Math.max(0, (head.nextAttemptAt ?? 0) - Date.now());
    if (delay === 0) {
      void this.#run(worker, address, lane);
      return;
    }
    lane.timer = setTimeout(() => this.#schedule(worker, address), Math.min(delay, 2_147_483_647));
    lane.timer.unref();
  }

  async #run(worker: Worker, address: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (worker.active) {
        const id = lane.ids[0];
        if (id === undefined) break;
        const record = worker.records.get(id);
        if (record === undefined) {
          lane.ids.shift();
          continue;
        }
        if ((record.nextAttemptAt ?? 0) > Date.now()) break;
        if (!this.#canSend(worker.channel)) {
          // The channel's connection moved to another instance: let that one work the queue.
          await this.#stopWorker(worker, "the channel is not sendable here");
          break;
        }
        const { waiter, ...plain } = record;
        let result: SendResult | undefined;
        let failure: ChannelError | undefined;
        try {
          result = await this.#host.send(plain);
        } catch (error) {
          failure = toChannelError(error);
        }
        // Even when the lease was lost meanwhile the outcome is offered: the fence decides.
        const applied = await this.#finish(worker, plain, waiter, result, failure);
        if (applied === "fenced") {
          await this.#stopWorker(worker, "fenced off by a later holder");
          break;
        }
        if (applied === "again") break;
        if (lane.ids[0] === id) lane.ids.shift();
        worker.records.delete(id);
      }
    } catch (error) {
      this.#fail(worker, error);
    } finally {
      lane.running = false;
    }
    if (worker.active) this.#schedule(worker, address);
  }

  /**
   * Records an attempt's outcome (fenced) and tells the host and the waiting sender.
   *
   * @returns `done` when the message left the queue (or was dropped meanwhile), `again` when it
   *   stays for a later attempt, `fenced` when this worker's lease is stale.
   */
  async #finish(
    worker: Worker,
    record: DeliveryRecord,
    waiter: string | undefined,
    result: SendResult | undefined,
    failure: ChannelError | undefined,
  ): Promise<"done" | "again" | "fenced"> {
    const config = this.#host.config();
    let mode: "sent" | "refused" | "retry" | "dead";
    let stored: Stored | undefined;
    let outcome: Outcome | undefined;
    if (result !== undefined) {
      mode = "sent";
      outcome = { status: "sent", deliveryId: record.id, messageId: result.messageId };
    } else {
      const error = failure!;
      const attempts = record.attempts + 1;
      const lastError = { code: error.code, message: error.message, at: Date.now() };
      const failed: Outcome = {
        status: "failed",
        deliveryId: record.id,
        error: {
          code: error.code,
          message: error.message,
          ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        },
      };
      if (!RETRYABLE.has(error.code) && waiter !== undefined) {
        mode = "refused";
        outcome = failed;
      } else if (!RETRYABLE.has(error.code) || attempts >= config.maxAttempts) {
        mode = "dead";
        outcome = failed;
        const { seq: _seq, nextAttemptAt: _next, ...rest } = record;
        stored = { ...rest, attempts, lastError, status: "dead" };
      } else {
        mode = "retry";
        outcome = { status: "queued", deliveryId: record.id, reason: error.code };
        const backoff = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** (attempts - 1));
        const { seq: _seq, ...rest } = record;
        stored = {
          ...rest,
          attempts,
          lastError,
          nextAttemptAt:
            Date.now() + Math.max(backoff, Math.min(error.retryAfterMs ?? 0, config.backoffMaxMs)),
        };
      }
    }
    let reply: Array<number | string>;
    try {
      reply = (await this.#redis.eval(
        FINISH,
        8,
        ...this.#queueKeys(record.channel),
        this.#key("dead"),
        this.#key(`delivered:${record.id}`),
        this.#key(`fence:${record.channel}`),
        worker.lease.token,
        record.id,
        record.address,
        record.channel,
        mode,
        stored === undefined ? "" : JSON.stringify(stored),
        result?.messageId ?? "",
        this.#deliveredIdTtlMs,
        waiter === undefined ? "" : this.#key(`outcome:${waiter}`),
        JSON.stringify(outcome),
        config.maxDeadLetters,
        record.seq,
      )) as Array<number | string>;
    } catch (error) {
      throw redisUnavailable(`recording the outcome of delivery ${record.id}`, error);
    }
    if (reply[0] === -1) return "fenced";
    if (reply[0] === 0) return "done";
    if (mode === "sent") this.#host.onSent(record, result!, waiter !== undefined);
    else if (mode === "retry") {
      worker.records.set(record.id, { ...stored!, seq: record.seq });
      this.#host.logger.debug(
        { deliveryId: record.id, channel: record.channel, attempts: stored!.attempts, code: failure!.code },
        "delivery attempt failed; will retry",
      );
      return "again";
    } else if (mode === "dead") {
      const dead: DeliveryRecord = { ...stored!, seq: record.seq };
      this.#host.logger.warn(
        {
          deliveryId: dead.id,
          channel: dead.channel,
          address: dead.address,
          attempts: dead.attempts,
          error: dead.lastError,
        },
        "delivery given up; moved to the dead-letter list",
      );
      this.#host.onDead(dead);
      for (const dropped of reply.slice(1))
        this.#host.logger.warn({ deliveryId: dropped }, "dead letter dropped (limit reached)");
    }
    return "done";
  }
}

function toDelivery(stored: Stored): Delivery {
  const { waiter: _waiter, seq: _seq, ...delivery } = stored as Stored & { seq?: number };
  return delivery;
}
