import type { DeviceStore, PairedDevice } from "@openclaw/gateway";
import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import { keyPrefix, type RedisStoreOptions, viaRedis } from "./redisStoreClient";

/**
 * A {@link DeviceStore} on Redis: the paired devices (tokens only as SHA-256 hashes) as one JSON
 * string (`{"devices": [...]}`) at `openclaw:<namespace>:devices`, replaced whole by each save (one
 * `SET`: a failed save leaves the previous list whole, and saves made without waiting land in the
 * order they were made).
 *
 * @example
 * ```ts
 * const deviceStore = new RedisDeviceStore(await connectRedisStoreClient(url));
 * ```
 */
export class RedisDeviceStore implements DeviceStore {
  /** The Redis key of the list. */
  readonly key: string;
  readonly #redis: Redis;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace.
   */
  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.#redis = redis;
    this.key = `${keyPrefix(options.namespace)}devices`;
  }

  /**
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read, or
   *   `INTERNAL` (`redis_state_invalid`) when the key does not hold a list of devices.
   */
  async load(): Promise<PairedDevice[]> {
    const stored = await viaRedis("loading the paired devices", () => this.#redis.get(this.key));
    if (stored === null) return [];
    let parsed: { devices?: unknown } | null;
    try {
      parsed = JSON.parse(stored) as { devices?: unknown } | null;
    } catch (error) {
      throw invalid(this.key, error);
    }
    if (
      parsed === null ||
      typeof parsed !== "object" ||
      !Array.isArray(parsed.devices) ||
      !parsed.devices.every(
        (device: Partial<PairedDevice> | null) =>
          typeof device?.nodeId === "string" && typeof device.tokenHash === "string",
      )
    ) {
      throw invalid(this.key);
    }
    return parsed.devices as PairedDevice[];
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written. */
  async save(devices: readonly PairedDevice[]): Promise<void> {
    // Serialised now, so later changes to the caller's objects change nothing stored.
    const json = JSON.stringify({ devices });
    await viaRedis("saving the paired devices", () => this.#redis.set(this.key, json));
  }
}

function invalid(key: string, cause?: unknown): ProtocolError<"INTERNAL"> {
  return new ProtocolError("INTERNAL", `Redis key ${key} does not hold a list of paired devices`, {
    details: { reason: "redis_state_invalid" },
    cause,
  });
}
