import type { BindingStore, BindingStoreChange } from "@openclaw/backend";
import { ProtocolError } from "@openclaw/protocol";
import type { Redis } from "ioredis";
import type { RedisChangeFeed } from "../RedisChangeFeed";
import type { MalformedMessages } from "../untrusted";
import { RedisHashState } from "./RedisHashState";
import { keyPrefix, type RedisStoreOptions, storeMalformed } from "./redisStoreClient";

/** The router snapshot a {@link BindingStore} keeps. */
type Snapshot = Parameters<BindingStore["save"]>[0];
type Binding = Snapshot["bindings"][number];

/** Options of a {@link RedisBindingStore}. */
export interface RedisBindingStoreOptions extends RedisStoreOptions {
  /**
   * The change feed of the namespace: saves publish their changes, and {@link RedisBindingStore.watch}
   * reports other instances' (cluster mode).
   * @defaultValue none: the store sees only its own saves
   */
  feed?: RedisChangeFeed;
}

/**
 * A {@link BindingStore} on Redis: each binding as JSON in the hash `openclaw:<namespace>:bindings`
 * by id, in the order first saved (`...:bindings:order`).
 *
 * The gateway saves the router's whole snapshot; this store writes only what changed against what
 * this instance last knew (its own saves and, with a `feed`, the other instances' notices), in one
 * script with its change notice: bindings added on two instances at once are both kept, and a
 * binding removed elsewhere is not written back. See `RedisHashState`.
 *
 * @example
 * ```ts
 * const bindingStore = new RedisBindingStore(redis, { namespace, feed });
 * ```
 */
export class RedisBindingStore implements BindingStore {
  /** The Redis key of the hash. */
  readonly key: string;
  readonly #state: RedisHashState;
  readonly #malformed: MalformedMessages;

  /**
   * @param redis - The client (see `connectRedisStoreClient`); the caller owns it.
   * @param options - The key namespace and the change feed.
   */
  constructor(redis: Redis, options: RedisBindingStoreOptions = {}) {
    this.key = `${keyPrefix(options.namespace)}bindings`;
    this.#malformed = storeMalformed(options, "bindings");
    this.#state = new RedisHashState(redis, { key: this.key, what: "the bindings", feed: options.feed });
  }

  /**
   * An entry that is not a binding (someone else wrote it) is left out, with a rate-limited warning.
   *
   * @returns The bindings, or `undefined` when none was ever saved.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be read.
   */
  async load(): Promise<Snapshot | undefined> {
    const { written, entries } = await this.#state.load();
    if (!written) return undefined;
    const bindings: Binding[] = [];
    for (const [id, json] of entries) {
      try {
        bindings.push(parseBinding(this.key, id, json));
      } catch (error) {
        this.#malformed.drop(String(error), { key: this.key, field: id, message: json });
      }
    }
    return { version: 1, bindings };
  }

  /** @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be written. */
  save(snapshot: Snapshot): Promise<void> {
    return this.#state.save(
      snapshot.bindings.map((binding) => [binding.id, JSON.stringify(binding)] as const),
    );
  }

  /** Other instances' changes (with a `feed`); unreadable bindings are left out. */
  watch(listener: (change: BindingStoreChange) => void): () => void {
    return this.#state.watch(({ put, removed }) => {
      const bindings: Binding[] = [];
      for (const [id, json] of put) {
        try {
          bindings.push(parseBinding(this.key, id, json));
        } catch {
          // Not a binding: nothing another instance's router could have made.
        }
      }
      listener({ put: bindings, removed });
    });
  }
}

function parseBinding(key: string, id: string, json: string): Binding {
  let binding: Partial<Binding> | null;
  try {
    binding = JSON.parse(json) as Partial<Binding> | null;
  } catch (error) {
    throw invalid(key, id, error);
  }
  if (
    binding === null ||
    typeof binding !== "object" ||
    binding.id !== id ||
    typeof binding.level !== "string"
  ) {
    throw invalid(key, id);
  }
  return binding as Binding;
}

function invalid(key: string, id: string, cause?: unknown): ProtocolError<"INTERNAL"> {
  return new ProtocolError("INTERNAL", `Redis hash ${key} does not hold a valid binding at ${id}`, {
    details: { reason: "redis_state_invalid" },
    cause,
  });
}
