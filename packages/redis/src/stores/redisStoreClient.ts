import { redactUrl } from "@openclaw/config";
import { ProtocolError } from "@openclaw/protocol";
import { Redis, type RedisOptions } from "ioredis";
import { MalformedMessages, type MalformedMessagesLogger } from "../untrusted";

/**
 * Defaults of the client the Redis stores write through ({@link connectRedisStoreClient}): a down
 * Redis fails a write fast instead of queueing it.
 */
export const REDIS_STORE_CLIENT_DEFAULTS = {
  /** Retries of one command across a reconnect before it fails. */
  maxRetriesPerRequest: 1,
  /** Commands sent while disconnected fail at once instead of waiting in a queue. */
  enableOfflineQueue: false,
  /** How long one command may take before it fails. */
  commandTimeoutMs: 5_000,
  /** How long connecting may take. */
  connectTimeoutMs: 5_000,
} as const;

/** Options of {@link connectRedisStoreClient}. */
export interface RedisStoreClientOptions {
  /**
   * Retries of one command across a reconnect before it fails.
   * @defaultValue `REDIS_STORE_CLIENT_DEFAULTS.maxRetriesPerRequest` (1)
   */
  maxRetriesPerRequest?: number;
  /**
   * Whether commands sent while disconnected wait in a queue. Leave it off so a down Redis fails a
   * write at once with `redis_unavailable`.
   * @defaultValue `REDIS_STORE_CLIENT_DEFAULTS.enableOfflineQueue` (false)
   */
  enableOfflineQueue?: boolean;
  /**
   * How long one command may take before it fails.
   * @defaultValue `REDIS_STORE_CLIENT_DEFAULTS.commandTimeoutMs` (5 s)
   */
  commandTimeoutMs?: number;
  /**
   * How long connecting may take.
   * @defaultValue `REDIS_STORE_CLIENT_DEFAULTS.connectTimeoutMs` (5 s)
   */
  connectTimeoutMs?: number;
  /** Further ioredis options (they override the ones above). */
  redis?: RedisOptions;
}

/**
 * The typed error of every Redis store operation that Redis could not serve: `UNAVAILABLE`,
 * `details: {reason: "redis_unavailable", retryable: true}`, the Redis error kept as `cause`.
 *
 * @param what - What failed, for the message.
 * @param cause - The ioredis error.
 * @returns The error to reject with.
 */
export function redisUnavailable(what: string, cause: unknown): ProtocolError<"UNAVAILABLE"> {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ProtocolError("UNAVAILABLE", redactUrl(`Redis is unavailable: ${what} failed (${reason})`), {
    details: { reason: "redis_unavailable", retryable: true },
    cause,
  });
}

/**
 * Runs a Redis call, turning any failure into {@link redisUnavailable}.
 *
 * @param what - What is attempted, for the message.
 * @param call - The call.
 * @returns Its result.
 */
export async function viaRedis<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw redisUnavailable(what, error);
  }
}

/**
 * Connects an ioredis client made for the Redis stores: one retry per command, no offline queue
 * and a command timeout, so a write to a down Redis rejects within a bounded time (and the client
 * keeps reconnecting in the background).
 *
 * @param url - `redis://host:port[/db]`.
 * @param options - Limits and further ioredis options.
 * @returns The connected client; the caller owns it (`quit()` it when done).
 * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when it cannot connect.
 *
 * @example
 * ```ts
 * const redis = await connectRedisStoreClient("redis://127.0.0.1:6379");
 * const devices = new RedisDeviceStore(redis);
 * ```
 */
export async function connectRedisStoreClient(
  url: string,
  options: RedisStoreClientOptions = {},
): Promise<Redis> {
  const client = new Redis(url, {
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? REDIS_STORE_CLIENT_DEFAULTS.maxRetriesPerRequest,
    enableOfflineQueue: options.enableOfflineQueue ?? REDIS_STORE_CLIENT_DEFAULTS.enableOfflineQueue,
    commandTimeout: options.commandTimeoutMs ?? REDIS_STORE_CLIENT_DEFAULTS.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? REDIS_STORE_CLIENT_DEFAULTS.connectTimeoutMs,
    lazyConnect: true,
    ...options.redis,
  });
  // Connection errors are reported through the commands that fail; keep them from being unhandled.
  // Until connected, the last one says why connecting failed (the rejection only says "Connection
  // is closed.").
  let lastError: unknown;
  const remember = (error: unknown) => {
    lastError = error;
  };
  client.on("error", () => {});
  client.on("error", remember);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw redisUnavailable(`connecting to ${url}`, explainConnectFailure(url, lastError ?? error));
  } finally {
    client.off("error", remember);
  }
  return client;
}

/**
 * Why connecting to Redis failed, in words: no password given, the password refused, nothing
 * listening, a host name that does not resolve, no answer in time; otherwise the client's error.
 *
 * @param url - The URL connected to (only its host and port are shown).
 * @param error - The client's error.
 * @returns An error saying which (its `cause` is the client's).
 */
export function explainConnectFailure(url: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  let host = "the Redis host";
  let address = host;
  try {
    const parsed = new URL(url);
    host = parsed.hostname;
    address = `${parsed.hostname}:${parsed.port === "" ? "6379" : parsed.port}`;
  } catch {
    // Not a URL ioredis could have used either: the client's own message says more.
  }
  let explained: string;
  if (message.startsWith("NOAUTH")) {
    explained = "Redis requires a password, and the URL has none (redis://:password@host:port)";
  } else if (message.startsWith("WRONGPASS") || /invalid (password|username-password)/i.test(message)) {
    explained = `Redis refused the password (or user name) in the URL (${message})`;
  } else if (code === "ECONNREFUSED") {
    explained = `nothing accepts connections at ${address} (connection refused)`;
  } else if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME" || code === "EAI_FAIL") {
    explained = `the host ${host} cannot be resolved (DNS: ${String(code)})`;
  } else if (code === "ETIMEDOUT" || /timed? ?out/i.test(message)) {
    explained = `no answer from ${address} in time (${message})`;
  } else {
    return error instanceof Error ? error : new Error(message);
  }
  return new Error(explained, { cause: error });
}

/** What every Redis store is opened with. */
export interface RedisStoreOptions {
  /**
   * The key namespace: keys are `openclaw:<namespace>:...`, so gateways sharing a Redis with
   * different namespaces share nothing.
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * Where a store reports what it drops as unreadable: stored values and change notices that do
   * not hold what the store writes (someone else wrote them).
   * @defaultValue nowhere (only dropped)
   */
  logger?: MalformedMessagesLogger | undefined;
  /**
   * At most one such warning per store per this many milliseconds.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  malformedWarnIntervalMs?: number | undefined;
}

/** The default {@link RedisStoreOptions.namespace}. */
export const DEFAULT_REDIS_NAMESPACE = "openclaw";

/**
 * The prefix of every key of a namespace.
 *
 * @param namespace - The namespace.
 * @returns `openclaw:<namespace>:`.
 */
export function keyPrefix(namespace: string = DEFAULT_REDIS_NAMESPACE): string {
  return `openclaw:${namespace}:`;
}

/** The error a closed Redis store answers every write with. */
export function storeClosed(): ProtocolError<"SHUTTING_DOWN"> {
  return new ProtocolError("SHUTTING_DOWN", "the Redis store is closed", {
    details: { reason: "store_closed" },
  });
}

/** The writes a store has in flight, so that `close()` can wait for them. */
export class PendingWrites {
  readonly #pending = new Set<Promise<unknown>>();

  /**
   * Tracks a write until it settles.
   *
   * @returns The same promise (its failure still goes to its caller).
   */
  track(write: Promise<void>): Promise<void> {
    this.#pending.add(write);
    const done = () => this.#pending.delete(write);
    write.then(done, done);
    return write;
  }

  /** Waits until no write is in flight (writes started meanwhile included). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}

/**
 * Closes a connection this package opened: `QUIT` when it is up (pending replies arrive first),
 * a plain disconnect otherwise (a `QUIT` to a down server would wait for the reconnect).
 *
 * @param client - The connection; closing one that has ended does nothing.
 */
export async function quitClient(client: Redis): Promise<void> {
  if (client.status === "end") return;
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/**
 * What a store drops as unreadable (stored values, notices), reported with a rate-limited warning.
 *
 * @param options - The store's logger and warning interval.
 * @param store - Names the store in the warnings.
 * @returns The store's {@link MalformedMessages}.
 */
export function storeMalformed(options: RedisStoreOptions, store: string): MalformedMessages {
  return new MalformedMessages({
    source: `store ${store}`,
    logger: options.logger,
    warnIntervalMs: options.malformedWarnIntervalMs,
  });
}
