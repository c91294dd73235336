import type { DeviceStore, DeviceStoreChange, PairedDevice } from "@openclaw/backend";
import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import type { RedisChangeFeed } from "../RedisChangeFeed";
import type { MalformedMessages } from "../untrusted";
import { RedisHashState } from "./RedisHashState";
import { keyPrefix, type RedisStoreOptions, storeMalformed } from "./redisStoreClient";

/** Options of a {@link RedisDeviceStore}. */
export interface RedisDeviceStoreOptions extends RedisStoreOptions {
  /**
   * The change feed of the namespace: saves publish their changes, and {@link RedisDeviceStore.watch}
   * reports other instances' (cluster mode).
   * @defaultValue none: the store sees only its own saves
   */
  feed?: RedisChangeFeed;
}

/**
 * A {@link DeviceStore} on Redis: each paired device (its token only as a SHA-256 hash) as JSON in
 * the hash `openclaw:<namespace>:devices` by node id, in the order of pairing (`...:devices:order`).
 *
 * The gateway saves its whole list; this store writes only what changed against what this instance
 * last knew (its own saves and, with a `feed`, the other instances' notices), in one script with its
 * change notice: two instances approving or revoking at once both keep their change, and a stale
 * copy of a device revoked elsewhere is not written back. See `RedisHashState`.
 *
 * @example
 * ```ts
 * const deviceStore = new RedisDeviceStore(redis, { namespace, feed });
 * ```
 */
export class RedisDeviceStore implements DeviceStore {
  /** The Redis key of the hash. */
  readonly key: string;
  readonly #state: RedisHashState;
  readonly #malformed: MalformedMessages;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace and the change feed.
   */
  constructor(redis: Redis, options: RedisDeviceStoreOptions = {}) {
    this.key = `${keyPrefix(options.namespace)}devices`;
    this.#malformed = storeMalformed(options, "devices");
    this.#state = new RedisHashState(redis, {
      key: this.key,
      what: "the paired devices",
      feed: options.feed,
    });
  }

  /**
   * An entry that is not a device (someone else wrote it) is left out, with a rate-limited warning.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  async load(): Promise<PairedDevice[]> {
    const { entries } = await this.#state.load();
    const devices: PairedDevice[] = [];
    for (const [field, json] of entries) {
      try {
        devices.push(parseDevice(this.key, field, json));
      } catch (error) {
        this.#malformed.drop(String(error), { key: this.key, field, message: json });
      }
    }
    return devices;
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written. */
  save(devices: readonly PairedDevice[]): Promise<void> {
    // Serialised now, so later changes to the caller's objects change nothing stored.
    return this.#state.save(devices.map((device) => [device.nodeId, JSON.stringify(device)] as const));
  }

  /** Other instances' changes (with a `feed`); unreadable devices are left out. */
  watch(listener: (change: DeviceStoreChange) => void): () => void {
    return this.#state.watch(({ put, removed }) => {
      const devices: PairedDevice[] = [];
      for (const [field, json] of put) {
        try {
          devices.push(parseDevice(this.key, field, json));
        } catch {
          // Not a device: nothing another instance could have paired.
        }
      }
      listener({ put: devices, removed });
    });
  }
}

function parseDevice(key: string, field: string, json: string): PairedDevice {
  let device: Partial<PairedDevice> | null;
  try {
    device = JSON.parse(json) as Partial<PairedDevice> | null;
  } catch (error) {
    throw invalid(key, field, error);
  }
  if (typeof device?.nodeId !== "string" || typeof device.tokenHash !== "string" || device.nodeId !== field) {
    throw invalid(key, field);
  }
  return device as PairedDevice;
}

function invalid(key: string, field: string, cause?: unknown): ProtocolError<"INTERNAL"> {
  return new ProtocolError("INTERNAL", `Redis hash ${key} does not hold a paired device at ${field}`, {
    details: { reason: "redis_state_invalid" },
    cause,
  });
}
