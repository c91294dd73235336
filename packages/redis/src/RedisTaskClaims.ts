import type { Redis } from "ioredis";
import { keyPrefix, viaRedis } from "./stores/redisStoreClient";

/** Defaults of {@link RedisTaskClaimsOptions}. */
export const REDIS_TASK_CLAIMS_DEFAULTS = {
  /**
   * How long a claim is remembered. It must outlast the spread between the instances that run the
   * same schedule (clock skew, a busy event loop, a queue full of running tasks): an instance that
   * reaches an occurrence later than this after the winner would run it again.
   */
  claimTtlMs: 3_600_000,
} as const;

/** Options of {@link RedisTaskClaims}. */
export interface RedisTaskClaimsOptions {
  /** A Redis client (never closed by the claims); see `connectRedisStoreClient`. */
  redis: Redis;
  /** This instance's id, stored as the claim's holder (for inspection). */
  instanceId: string;
  /**
   * The key namespace (`openclaw:<namespace>:claim:<occurrence>`).
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * How long a claim is remembered.
   * @defaultValue `REDIS_TASK_CLAIMS_DEFAULTS.claimTtlMs` (1 hour)
   */
  claimTtlMs?: number;
}

/**
 * The task-queue claim seam (`TaskClaims` of `@openclaw/task-queue`) on Redis: one
 * `SET openclaw:<namespace>:claim:<occurrence> <instanceId> NX PX <claimTtlMs>` per occurrence, so
 * that of several gateway instances scheduling the same cron job, one runs each tick. Typed
 * structurally, so this package needs no dependency on the task queue.
 *
 * @example
 * ```ts
 * const claims = new RedisTaskClaims({ redis, instanceId: "gw-1" });
 * const queue = new TaskQueue({ store, claims });
 * ```
 */
export class RedisTaskClaims {
  readonly #redis: Redis;
  readonly #instanceId: string;
  readonly #prefix: string;
  readonly #ttlMs: number;

  /**
   * @param options - The client, this instance's id, the namespace and the claims' lifetime.
   */
  constructor(options: RedisTaskClaimsOptions) {
    this.#redis = options.redis;
    this.#instanceId = options.instanceId;
    this.#prefix = `${keyPrefix(options.namespace)}claim:`;
    this.#ttlMs = options.claimTtlMs ?? REDIS_TASK_CLAIMS_DEFAULTS.claimTtlMs;
  }

  /** The Redis key of an occurrence's claim. */
  key(occurrence: string): string {
    return this.#prefix + occurrence;
  }

  /**
   * Claims an occurrence for this instance.
   *
   * @param occurrence - Which run of which task (built by the task queue).
   * @returns `true` when this instance won it, `false` when another instance had claimed it.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be reached: the
   *   queue claims the same occurrence again later, and never runs it unclaimed.
   */
  async claim(occurrence: string): Promise<boolean> {
    const reply = await viaRedis(`claiming ${occurrence}`, () =>
      this.#redis.set(this.key(occurrence), this.#instanceId, "PX", this.#ttlMs, "NX"),
    );
    return reply === "OK";
  }
}
