import type { BindingStore } from "@openclaw/gateway";
import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import { keyPrefix, type RedisStoreOptions, viaRedis } from "./redisStoreClient";

/** The router snapshot a {@link BindingStore} keeps. */
type Snapshot = Parameters<BindingStore["save"]>[0];

/**
 * A {@link BindingStore} on Redis: the router's snapshot as one JSON string at
 * `openclaw:<namespace>:bindings`, replaced whole by each save (one `SET`, so a failed save leaves
 * the previous snapshot whole).
 *
 * @example
 * ```ts
 * const bindingStore = new RedisBindingStore(await connectRedisStoreClient(url));
 * ```
 */
export class RedisBindingStore implements BindingStore {
  /** The Redis key of the snapshot. */
  readonly key: string;
  readonly #redis: Redis;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace.
   */
  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.#redis = redis;
    this.key = `${keyPrefix(options.namespace)}bindings`;
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read, or
   *   `INTERNAL` (`redis_state_invalid`) when the key does not hold a snapshot.
   */
  async load(): Promise<Snapshot | undefined> {
    const stored = await viaRedis("loading the bindings", () => this.#redis.get(this.key));
    if (stored === null) return undefined;
    let snapshot: Partial<Snapshot> | null;
    try {
      snapshot = JSON.parse(stored) as Partial<Snapshot> | null;
    } catch (error) {
      throw invalid(this.key, error);
    }
    if (snapshot === null || typeof snapshot !== "object" || !Array.isArray(snapshot.bindings)) {
      throw invalid(this.key);
    }
    return snapshot as Snapshot;
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written. */
  async save(snapshot: Snapshot): Promise<void> {
    const json = JSON.stringify(snapshot);
    await viaRedis("saving the bindings", () => this.#redis.set(this.key, json));
  }
}

function invalid(key: string, cause?: unknown): ProtocolError<"INTERNAL"> {
  return new ProtocolError("INTERNAL", `Redis key ${key} does not hold valid bindings`, {
    details: { reason: "redis_state_invalid" },
    cause,
  });
}
