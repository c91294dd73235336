import { EventEmitter } from "eventemitter3";
import type { Redis } from "ioredis";
import { keyPrefix } from "./stores/redisStoreClient";

/** Defaults of {@link ClusterMembershipOptions}. */
export const CLUSTER_MEMBERSHIP_DEFAULTS = {
  /**
   * How long an instance counts as alive after its last heartbeat. An instance that is killed is
   * seen as down by the others within this time plus one {@link heartbeatMs}.
   */
  ttlMs: 5_000,
  /** How often an instance renews its own entry and looks at the others'. */
  heartbeatMs: 1_000,
  /** How long the entry of a dead instance is kept (so that every instance sees it die) before it is removed. */
  forgetAfterMs: 60_000,
} as const;

/** Options of a {@link ClusterMembership}. */
export interface ClusterMembershipOptions {
  /** A Redis client (the membership never closes it). */
  redis: Redis;
  /** This instance's id. */
  instanceId: string;
  /**
   * The key namespace (`openclaw:<namespace>:instances`).
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * How long an instance counts as alive after its last heartbeat.
   * @defaultValue `CLUSTER_MEMBERSHIP_DEFAULTS.ttlMs` (5 s)
   */
  ttlMs?: number;
  /**
   * How often this instance renews its entry and checks the others'.
   * @defaultValue `CLUSTER_MEMBERSHIP_DEFAULTS.heartbeatMs` (1 s)
   */
  heartbeatMs?: number;
  /**
   * How long a dead instance's entry is kept before it is removed.
   * @defaultValue `CLUSTER_MEMBERSHIP_DEFAULTS.forgetAfterMs` (60 s)
   */
  forgetAfterMs?: number;
}

/** Listeners of a {@link ClusterMembership}'s events. */
export interface ClusterMembershipEventMap {
  /** An instance was seen for the first time (or again after it was down). */
  up: (instanceId: string) => void;
  /** An instance missed its heartbeats for `ttlMs`: it is dead (or cut off from Redis). */
  down: (instanceId: string) => void;
  /**
   * Whether this instance could renew its own entry: `false` once it failed to for `ttlMs`
   * (the others now see it as down), `true` again once it succeeds.
   */
  alive: (alive: boolean) => void;
}

/**
 * Renews this instance's entry (score: its expiry on Redis's clock) and returns every entry with
 * Redis's current time. KEYS: the instances zset. ARGV: instance id, ttl ms, forget-after ms.
 */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
table.insert(entries, 1, tostring(now))
return entries
`;

/**
 * Which gateway instances of a cluster are alive, from heartbeats in one Redis sorted set
 * (`openclaw:<namespace>:instances`, scored by expiry on Redis's own clock, so instances' clocks
 * need not agree). Emits `down` when an instance stops renewing, which is how the others learn to
 * take over its node calls, deliveries and leases.
 */
export class ClusterMembership extends EventEmitter<ClusterMembershipEventMap> {
  readonly instanceId: string;
  /** The sorted set of heartbeats. */
  readonly key: string;
  readonly #redis: Redis;
  readonly #ttlMs: number;
  readonly #heartbeatMs: number;
  readonly #forgetAfterMs: number;
  /** Instances last seen alive (this one included once its first heartbeat landed). */
  readonly #alive = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #lastRenewed = 0;
  #selfAlive = false;
  #beating: Promise<void> | undefined;

  constructor(options: ClusterMembershipOptions) {
    super();
    this.#redis = options.redis;
    this.instanceId = options.instanceId;
    this.key = `${keyPrefix(options.namespace)}instances`;
    this.#ttlMs = options.ttlMs ?? CLUSTER_MEMBERSHIP_DEFAULTS.ttlMs;
    this.#heartbeatMs = options.heartbeatMs ?? CLUSTER_MEMBERSHIP_DEFAULTS.heartbeatMs;
    this.#forgetAfterMs = options.forgetAfterMs ?? CLUSTER_MEMBERSHIP_DEFAULTS.forgetAfterMs;
  }

  /** How long an instance counts as alive after its last heartbeat. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Whether this instance's own entry is current (false once it failed to renew it for `ttlMs`). */
  get selfAlive(): boolean {
    return this.#selfAlive;
  }

  /** Writes the first heartbeat (rejects when Redis cannot be reached) and keeps beating. */
  async start(): Promise<void> {
    await this.#beat(true);
    this.#timer ??= setInterval(() => void this.#beat(false), this.#heartbeatMs);
    this.#timer.unref();
  }

  /**
   * Whether an instance is alive, as of the last heartbeat.
   *
   * @param instanceId - The instance.
   */
  isAlive(instanceId: string): boolean {
    return this.#alive.has(instanceId);
  }

  /** The instances alive as of the last heartbeat. */
  members(): string[] {
    return [...this.#alive];
  }

  /** Renews now and reports what changed (also called by the timer). */
  async refresh(): Promise<void> {
    await this.#beat(false);
  }

  /** Stops beating and removes this instance's entry, so the others see it leave at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    try {
      await this.#redis.zrem(this.key, this.instanceId);
    } catch {
      // Redis is gone: the entry expires by itself.
    }
  }

  async #beat(strict: boolean): Promise<void> {
    if (this.#beating !== undefined) return this.#beating;
    this.#beating = this.#renew(strict).finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #renew(strict: boolean): Promise<void> {
    let entries: string[];
    try {
      entries = (await this.#redis.eval(
        HEARTBEAT,
        1,
        this.key,
        this.instanceId,
        this.#ttlMs,
        this.#forgetAfterMs,
      )) as string[];
    } catch (error) {
      if (strict) throw error;
      if (this.#selfAlive && Date.now() - this.#lastRenewed >= this.#ttlMs) {
        this.#selfAlive = false;
        this.emit("alive", false);
      }
      return;
    }
    this.#lastRenewed = Date.now();
    if (!this.#selfAlive) {
      this.#selfAlive = true;
      this.emit("alive", true);
    }
    const now = Number(entries[0]);
    const seen = new Set<string>();
    for (let index = 1; index + 1 < entries.length; index += 2) {
      if (Number(entries[index + 1]) > now) seen.add(entries[index] as string);
    }
    for (const id of seen) {
      if (!this.#alive.has(id)) {
        this.#alive.add(id);
        if (id !== this.instanceId) this.emit("up", id);
      }
    }
    for (const id of [...this.#alive]) {
      if (!seen.has(id)) {
        this.#alive.delete(id);
        if (id !== this.instanceId) this.emit("down", id);
      }
    }
  }
}
