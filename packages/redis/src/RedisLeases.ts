import type { Lease, LeaseProvider } from "@openclaw/backend";
import type { Redis } from "ioredis";
import { keyPrefix, viaRedis } from "./stores/redisStoreClient";

/** Defaults of {@link RedisLeasesOptions}. */
export const REDIS_LEASES_DEFAULTS = {
  /** How long a lease outlives its holder's last renewal; the takeover time after a holder dies. */
  ttlMs: 10_000,
  /** How often a holder renews its leases (a third of the TTL leaves two retries). */
  renewMs: 3_000,
  /**
   * How much earlier than the TTL a holder that could not renew gives its lease up (at most a tenth
   * of the TTL), so that its work has stopped before the key expires in Redis, whatever the timers'
   * lateness.
   */
  lossMarginMs: 500,
} as const;

/** Options of {@link RedisLeases}. */
export interface RedisLeasesOptions {
  /** A Redis client (never closed by the leases). */
  redis: Redis;
  /** This instance's id, stored as the holder. */
  instanceId: string;
  /**
   * The key namespace (`openclaw:<namespace>:lease:<name>`).
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * How long a lease outlives its holder's last renewal.
   * @defaultValue `REDIS_LEASES_DEFAULTS.ttlMs` (10 s)
   */
  ttlMs?: number;
  /**
   * How often held leases are renewed; must be well under `ttlMs`.
   * @defaultValue `REDIS_LEASES_DEFAULTS.renewMs` (3 s)
   */
  renewMs?: number;
  /**
   * How much earlier than `ttlMs` after its last renewal a holder that could not renew treats the
   * lease as lost.
   * @defaultValue `REDIS_LEASES_DEFAULTS.lossMarginMs` (500 ms), at most a tenth of `ttlMs`
   */
  lossMarginMs?: number;
}

/** Takes a free lease with the next fencing token. KEYS: lease, fence counter. ARGV: holder, ttl. */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
`;

/** Extends a lease still held with this value. KEYS: lease. ARGV: holder|token, ttl. */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** Deletes a lease still held with this value. KEYS: lease. ARGV: holder|token. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

interface Held {
  controller: AbortController;
  value: string;
  /** When the last renewal that succeeded was sent (local clock). */
  renewedAt: number;
  /** Fires when the lease must be taken as lost unless renewed before. */
  deadline?: NodeJS.Timeout | undefined;
}

/**
 * Leases on Redis: the key `openclaw:<namespace>:lease:<name>` holds `<instanceId>|<token>` with a
 * TTL, and `…:fence` counts the holders, so every new holder gets a larger fencing token. A holder
 * renews every `renewMs`; when it cannot (Redis down, or the lease was taken), it treats the lease
 * as lost once `ttlMs - lossMarginMs` has passed since the last renewal it sent (by a timer of its
 * own, not at the next renewal), which is before any other instance can take it (their TTL counts
 * from when Redis applied that renewal).
 */
export class RedisLeases implements LeaseProvider {
  readonly ttlMs: number;
  readonly #redis: Redis;
  readonly #instanceId: string;
  readonly #prefix: string;
  readonly #renewMs: number;
  readonly #lossMarginMs: number;
  readonly #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RedisLeasesOptions) {
    this.#redis = options.redis;
    this.#instanceId = options.instanceId;
    this.#prefix = `${keyPrefix(options.namespace)}lease:`;
    this.ttlMs = options.ttlMs ?? REDIS_LEASES_DEFAULTS.ttlMs;
    this.#renewMs = options.renewMs ?? Math.min(REDIS_LEASES_DEFAULTS.renewMs, Math.floor(this.ttlMs / 3));
    this.#lossMarginMs = Math.min(
      options.lossMarginMs ?? REDIS_LEASES_DEFAULTS.lossMarginMs,
      Math.floor(this.ttlMs / 10),
    );
  }

  /** The Redis key of a lease. */
  key(name: string): string {
    return this.#prefix + name;
  }

  async tryAcquire(name: string): Promise<Lease | undefined> {
    if (this.#closed || this.#held.has(name)) return undefined;
    const sentAt = Date.now();
    const token = Number(
      await viaRedis(`taking the lease ${name}`, () =>
        this.#redis.eval(ACQUIRE, 2, this.key(name), `${this.key(name)}:fence`, this.#instanceId, this.ttlMs),
      ),
    );
    if (token === 0) return undefined;
    const controller = new AbortController();
    const held: Held = { controller, value: `${this.#instanceId}|${token}`, renewedAt: sentAt };
    if (this.#closed) {
      await this.#release(name, held);
      return undefined;
    }
    this.#held.set(name, held);
    this.#armDeadline(name, held);
    this.#arm();
    return { name, token, lost: controller.signal, release: () => this.#release(name, held) };
  }

  async holder(name: string): Promise<string | undefined> {
    const value = await viaRedis(`reading the lease ${name}`, () => this.#redis.get(this.key(name)));
    if (value === null) return undefined;
    return value.slice(0, value.lastIndexOf("|"));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#held].map(([name, held]) => this.#release(name, held)));
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#renewAll(), this.#renewMs);
    this.#timer.unref();
  }

  async #renewAll(): Promise<void> {
    await Promise.all([...this.#held].map(([name, held]) => this.#renew(name, held)));
    if (this.#held.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async #renew(name: string, held: Held): Promise<void> {
    const sentAt = Date.now();
    try {
      const kept = await this.#redis.eval(RENEW, 1, this.key(name), held.value, this.ttlMs);
      if (kept === 1) {
        held.renewedAt = sentAt;
        if (this.#held.get(name) === held) this.#armDeadline(name, held);
        return;
      }
      this.#lose(name, held, "taken over");
    } catch {
      if (Date.now() - held.renewedAt >= this.ttlMs - this.#lossMarginMs)
        this.#lose(name, held, "not renewed in time");
    }
  }

  #armDeadline(name: string, held: Held): void {
    clearTimeout(held.deadline);
    const at = held.renewedAt + this.ttlMs - this.#lossMarginMs;
    held.deadline = setTimeout(
      () => this.#lose(name, held, "not renewed in time"),
      Math.max(0, at - Date.now()),
    );
    held.deadline.unref();
  }

  #lose(name: string, held: Held, why: string): void {
    if (this.#held.get(name) !== held) return;
    clearTimeout(held.deadline);
    this.#held.delete(name);
    held.controller.abort(new Error(`the lease ${name} was lost: ${why}`));
  }

  async #release(name: string, held: Held): Promise<void> {
    clearTimeout(held.deadline);
    if (this.#held.get(name) === held) this.#held.delete(name);
    try {
      await this.#redis.eval(RELEASE, 1, this.key(name), held.value);
    } catch {
      // Redis is gone: the lease expires by itself.
    }
  }
}
