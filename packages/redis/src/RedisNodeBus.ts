import { randomBytes } from "node:crypto";
import type { ClusterNode, NodeCallOptions, NodeHost, RemoteNodes } from "@openclaw/backend";
import {
  type ErrorShape,
  ErrorShapeSchema,
  type NodeInfo,
  NodeInfoSchema,
  ProtocolError,
  TraceparentSchema,
  toProtocolError,
} from "@openclaw/protocol";
import { Redis } from "ioredis";
import * as v from "valibot";
import type { ClusterMembership } from "./ClusterMembership";
import { DEFAULT_REDIS_NAMESPACE, keyPrefix, quitClient, redisUnavailable } from "./stores/redisStoreClient";
import { MalformedMessages } from "./untrusted";

/** Defaults of {@link RedisNodeBusOptions}. */
export const REDIS_NODE_BUS_DEFAULTS = {
  /** The key and channel prefix: `openclaw:<namespace>:…`. */
  namespace: DEFAULT_REDIS_NAMESPACE,
  /** Time limit of a call without its own `timeoutMs` (the node registry's default). */
  defaultTimeoutMs: 30_000,
  /** Largest `timeoutMs` a call may ask for (the node registry's limit). */
  maxTimeoutMs: 600_000,
  /** Calls this instance may have waiting on nodes at once; more are refused with `RATE_LIMITED`. */
  maxPendingCalls: 10_000,
  /** The largest bus message accepted from Redis, in bytes. */
  maxMessageBytes: 64 * 1024 * 1024,
} as const;

/** Where {@link RedisNodeBus} logs what goes wrong with Redis. */
export interface RedisNodeBusLogger {
  warn(object: object, message: string): void;
}

/** Options of a {@link RedisNodeBus}: `redisUrl` or `redis` is required. */
export interface RedisNodeBusOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379/0`. Used when `redis` is not given. */
  redisUrl?: string;
  /**
   * A Redis client whose settings the bus copies: it opens its own two connections with
   * `duplicate()` and never closes this one.
   */
  redis?: Redis;
  /** This instance's id (the one its `ClusterMembership` heartbeats under). */
  instanceId: string;
  /**
   * Instances share nodes only within one namespace.
   * @defaultValue `"openclaw"`
   */
  namespace?: string;
  /**
   * Which instances are alive, started: a node of an instance that is not alive is not offered,
   * and the calls waiting on an instance that goes `down` wait for their node to reappear elsewhere.
   */
  membership: Pick<ClusterMembership, "isAlive" | "on" | "off">;
  /**
   * Time limit of a call without its own `timeoutMs`.
   * @defaultValue `REDIS_NODE_BUS_DEFAULTS.defaultTimeoutMs` (30 s)
   */
  defaultTimeoutMs?: number;
  /**
   * Largest `timeoutMs` a call may ask for.
   * @defaultValue `REDIS_NODE_BUS_DEFAULTS.maxTimeoutMs` (10 min)
   */
  maxTimeoutMs?: number;
  /**
   * Calls made on this instance that may wait for their node at once (calls forwarded here are
   * bounded by the registry's `maxPendingPerNode`).
   * @defaultValue `REDIS_NODE_BUS_DEFAULTS.maxPendingCalls` (10,000)
   */
  maxPendingCalls?: number;
  /**
   * Bus messages larger than this many bytes are dropped with a warning.
   * @defaultValue 64 MiB
   */
  maxMessageBytes?: number;
  /** Where Redis failures are logged. @defaultValue nowhere */
  logger?: RedisNodeBusLogger;
  /**
   * At most one warning about malformed messages (and presence entries) per this many
   * milliseconds, per kind (presence, calls); the others are counted.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  malformedWarnIntervalMs?: number;
}

/** A node as stored in the presence hash: the instance holding it and its info. */
interface Entry {
  i: string;
  n: NodeInfo;
}

/** A presence notice on `openclaw:<ns>:node-presence`. */
type Notice =
  | { k: "on"; i: string; n: NodeInfo }
  | { k: "off"; i: string; id: string }
  /** An instance's nodes changed wholesale (republished, or purged after it died): reload the hash. */
  | { k: "sync"; i: string };

/**
 * A request: call id, node id, method, time left (ms), params, and the caller's W3C `traceparent`
 * when it traces (55 characters, passed on to the node's request frame).
 */
type Request =
  | [id: string, nodeId: string, method: string, timeoutMs: number, data: unknown]
  | [id: string, nodeId: string, method: string, timeoutMs: number, data: unknown, traceparent: string];
/** A reply: call id, then `1` and the result or `0` and the error. */
type Reply = [id: string, ok: 1, result: unknown] | [id: string, ok: 0, error: ErrorShape];

/** A message on an instance's channel: from whom, requests for it, replies to its calls. */
interface BusMessage {
  i: string;
  q?: Request[];
  r?: Reply[];
}

/** A presence entry, as stored in the hash. */
const ENTRY = v.object({ i: v.string(), n: NodeInfoSchema });

/** A presence notice, as read from Redis. */
const NOTICE = v.variant("k", [
  v.object({ k: v.literal("on"), i: v.string(), n: NodeInfoSchema }),
  v.object({ k: v.literal("off"), i: v.string(), id: v.string() }),
  v.object({ k: v.literal("sync"), i: v.string() }),
]);

/** A bus message, as read from Redis. */
const BUS_MESSAGE = v.object({
  i: v.string(),
  q: v.exactOptional(
    v.array(
      // With the caller's traceparent first: a plain tuple drops items past its own.
      v.union([
        v.tuple([
          v.string(),
          v.string(),
          v.string(),
          v.pipe(v.number(), v.finite(), v.minValue(0)),
          v.unknown(),
          TraceparentSchema,
        ]),
        v.tuple([
          v.string(),
          v.string(),
          v.string(),
          v.pipe(v.number(), v.finite(), v.minValue(0)),
          v.unknown(),
        ]),
      ]),
    ),
  ),
  r: v.exactOptional(
    v.array(
      v.union([
        v.tuple([v.string(), v.literal(1), v.unknown()]),
        v.tuple([v.string(), v.literal(0), ErrorShapeSchema]),
      ]),
    ),
  ),
});

/** Registers a node and says so. KEYS: hash, channel. ARGV: node id, entry, notice. */
const NODE_UP = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
`;

/** Removes a node if this instance still holds it, and says so. KEYS: hash, channel. ARGV: node id, instance, notice. */
const NODE_DOWN = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v).i == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('PUBLISH', KEYS[2], ARGV[3])
  return 1
end
return 0
`;

/**
 * Replaces every node of one instance with the given ones (none: a purge) and says so when anything
 * changed. KEYS: hash, channel. ARGV: instance, notice, then node id / entry pairs.
 */
const INSTANCE_SYNC = `
local all = redis.call('HGETALL', KEYS[1])
local changed = 0
for index = 1, #all, 2 do
  local ok, entry = pcall(cjson.decode, all[index + 1])
  if not ok or entry.i == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[index])
    changed = changed + 1
  end
end
for index = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[index], ARGV[index + 1])
  changed = changed + 1
end
if changed > 0 then redis.call('PUBLISH', KEYS[2], ARGV[2]) end
return changed
`;

/** Errors of a call's current attempt after which the call looks for its node elsewhere. */
const FOLLOW_REASONS: ReadonlySet<unknown> = new Set(["not_connected", "shutdown", "instance_unreachable"]);

interface OutCall {
  readonly id: string;
  readonly nodeId: string;
  readonly method: string;
  readonly data: unknown;
  readonly timeoutMs: number;
  /** The caller's trace context, for the node's request frame. */
  readonly traceparent: string | undefined;
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
  /** The instance of the current attempt (this one for a local attempt); undefined while the node is away. */
  at: string | undefined;
  /** Aborts the current attempt when it is on this instance's registry. */
  local: AbortController | undefined;
  /** Fails the call when its node does not come back within the grace period. */
  grace: NodeJS.Timeout | undefined;
}

/**
 * The {@link RemoteNodes} of a cluster on Redis: which nodes every instance holds, and calls to them.
 *
 * - **Presence.** Each instance writes its nodes to the hash `openclaw:<ns>:node-info`
 *   (node id → `{i: instanceId, n: NodeInfo}`) and announces each change on
 *   `openclaw:<ns>:node-presence`, in one script so the notice and the write cannot part. Every
 *   instance keeps a view of the others' nodes in memory from the hash (read at start and after
 *   every reconnect) and the notices, so resolving a `target` and `node.list` cost no Redis round
 *   trip. A node of an instance its `ClusterMembership` does not see alive is never offered.
 * - **Calls.** Request/reply over pub/sub on one channel per instance, `openclaw:<ns>:rpc:<instanceId>`:
 *   the caller publishes `[id, node, method, time left, data]` to the holder's channel, the holder
 *   runs it on its registry under the same id and publishes the answer to the caller's channel.
 *   A request or reply goes out at once when nothing sent to its instance awaits Redis's
 *   acknowledgement; otherwise the requests and replies to that instance queued within the turn of
 *   the event loop travel as one message at its end.
 *   Pub/sub (not a stream) because a call is worth nothing once its caller is gone: nothing needs
 *   to outlive the two instances, and one `PUBLISH` is the cheapest hop Redis has.
 * - **Following the node.** A call waits for its node, not for an instance: when the holder goes
 *   `down` (membership), cannot be reached (nobody subscribed to its channel) or shuts down, the call
 *   waits up to the gateway's `nodeReconnectGraceMs` for the node to appear on any instance (this
 *   one included) and is sent there again under the same id (the node can tell a repeat); past the
 *   grace it fails with `NODE_OFFLINE`. A node that moves while its holder lives is followed the
 *   same way. So a caller learns of a dead holder within the membership's `ttlMs` + `heartbeatMs`
 *   + `nodeReconnectGraceMs`, and never later than the call's own `timeoutMs`.
 * - **Redis trouble.** While its subscription is down the bus cannot see the cluster: lookups of
 *   other instances' nodes and calls to them fail with `UNAVAILABLE` (`redis_unavailable`,
 *   retryable), calls whose answers could be lost fail the same way; calls to this instance's nodes
 *   go on.
 *
 * @example
 * ```ts
 * const membership = new ClusterMembership({ redis, instanceId: "gw-1" });
 * await membership.start();
 * const remoteNodes = new RedisNodeBus({ redis, instanceId: "gw-1", membership });
 * const gateway = new Gateway({ config, adapter, remoteNodes });
 * ```
 */
export class RedisNodeBus implements RemoteNodes {
  readonly instanceId: string;
  /** The presence hash. */
  readonly nodesKey: string;
  /** This instance's request/reply channel. */
  readonly channel: string;
  /** The presence notices' channel. */
  readonly presenceChannel: string;
  readonly #prefix: string;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #membership: RedisNodeBusOptions["membership"];
  readonly #logger: RedisNodeBusLogger | undefined;
  readonly #defaultTimeoutMs: number;
  readonly #maxTimeoutMs: number;
  readonly #maxPendingCalls: number;
  readonly #maxMessageBytes: number;
  /** Malformed presence notices and entries. */
  readonly #badPresence: MalformedMessages;
  /** Malformed request/reply messages. */
  readonly #badCalls: MalformedMessages;
  /** Other instances' nodes. */
  readonly #view = new Map<string, Entry>();
  /** This instance's calls, by id. */
  readonly #calls = new Map<string, OutCall>();
  readonly #callsByNode = new Map<string, Set<OutCall>>();
  /** Calls forwarded here and running on the registry: where their answer goes. */
  readonly #serving = new Map<string, { replyTo: string }>();
  /** Messages to send at the end of this turn, by instance. */
  readonly #outbox = new Map<string, { q: Request[]; r: Reply[] }>();
  /** Publishes to each instance that Redis has not acknowledged yet. */
  readonly #unacked = new Map<string, number>();
  /** Redis writes in flight, so that `close` can wait for them. */
  readonly #writes = new Set<Promise<unknown>>();
  readonly #callPrefix = `rn-${randomBytes(4).toString("hex")}-`;
  #nextCallId = 0;
  #host: NodeHost | undefined;
  #flushScheduled = false;
  /** Whether the view is current (false before start, while the subscription is down, after close). */
  #synced = false;
  #resyncing: Promise<void> | undefined;
  /** A resync was asked for while one ran: run again once it is done. */
  #resyncAgain = false;
  #closed = false;
  readonly #onOnline = (node: NodeInfo) => this.#nodeUp(node);
  readonly #onOffline = (event: { nodeId: string }) => this.#nodeDown(event.nodeId);
  readonly #onDown = (instanceId: string) => this.#instanceDown(instanceId);
  readonly #onAlive = (alive: boolean) => {
    if (alive) this.#resync();
  };

  constructor(options: RedisNodeBusOptions) {
    if (options.redis === undefined && options.redisUrl === undefined) {
      throw new TypeError("RedisNodeBus needs `redisUrl` or `redis`");
    }
    this.instanceId = options.instanceId;
    this.#prefix = keyPrefix(options.namespace ?? REDIS_NODE_BUS_DEFAULTS.namespace);
    this.nodesKey = `${this.#prefix}node-info`;
    this.channel = `${this.#prefix}rpc:${this.instanceId}`;
    this.presenceChannel = `${this.#prefix}node-presence`;
    this.#membership = options.membership;
    this.#logger = options.logger;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? REDIS_NODE_BUS_DEFAULTS.defaultTimeoutMs;
    this.#maxTimeoutMs = options.maxTimeoutMs ?? REDIS_NODE_BUS_DEFAULTS.maxTimeoutMs;
    this.#maxPendingCalls = options.maxPendingCalls ?? REDIS_NODE_BUS_DEFAULTS.maxPendingCalls;
    this.#maxMessageBytes = options.maxMessageBytes ?? REDIS_NODE_BUS_DEFAULTS.maxMessageBytes;
    const logger = options.logger === undefined ? undefined : { warn: this.#warn.bind(this) };
    const warnIntervalMs = options.malformedWarnIntervalMs;
    this.#badPresence = new MalformedMessages({ source: "node presence", logger, warnIntervalMs });
    this.#badCalls = new MalformedMessages({ source: "node bus", logger, warnIntervalMs });
    // The publisher fails fast while Redis is down (no offline queue): a call is refused at once
    // rather than sent late. The subscriber renews its subscriptions on reconnect.
    const connection = { lazyConnect: true, enableOfflineQueue: false } as const;
    if (options.redis !== undefined) {
      this.#pub = options.redis.duplicate(connection);
      this.#sub = options.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true });
    } else {
      this.#pub = new Redis(options.redisUrl!, connection);
      this.#sub = new Redis(options.redisUrl!, { lazyConnect: true, enableOfflineQueue: true });
    }
    for (const client of [this.#pub, this.#sub]) {
      client.on("error", (error: Error) => this.#warn({ err: error.message }, "node bus: connection error"));
      client.on("ready", () => {
        if (this.#host !== undefined) this.#resync();
      });
    }
    this.#sub.on("close", () => this.#lostSubscription());
    this.#sub.on(
      "message",
      this.#badCalls.guard((channel: string, message: string) => this.#receive(channel, message)),
    );
  }

  /** True while the bus cannot see the other instances (Redis unreachable). */
  get degraded(): boolean {
    return !this.#synced;
  }

  /** Calls of this instance still waiting for an answer. */
  get pendingCount(): number {
    return this.#calls.size;
  }

  /**
   * Connects, subscribes, publishes this instance's nodes and reads the others'.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when Redis cannot be reached.
   */
  async start(host: NodeHost): Promise<void> {
    if (this.#host !== undefined) return;
    this.#host = host;
    try {
      await Promise.all([this.#pub.connect(), this.#sub.connect()]);
      await this.#sub.subscribe(this.channel, this.presenceChannel);
    } catch (error) {
      throw redisUnavailable("starting the node bus", error);
    }
    host.registry.on("node.online", this.#onOnline);
    host.registry.on("node.offline", this.#onOffline);
    this.#membership.on("down", this.#onDown);
    this.#membership.on("alive", this.#onAlive);
    await this.#resyncing;
    await this.#doResync();
    if (!this.#synced) throw redisUnavailable("reading the cluster's nodes", "not synced");
  }

  resolve(target: string | undefined, command?: string): ClusterNode | null {
    this.#requireSynced();
    let candidates: Iterable<Entry>;
    if (target !== undefined) {
      const byId = this.#view.get(target);
      if (byId !== undefined) {
        candidates = [byId];
      } else {
        const name = target.toLowerCase();
        candidates = [...this.#view.values()].filter((entry) => entry.n.displayName?.toLowerCase() === name);
      }
    } else if (command !== undefined) {
      candidates = this.#view.values();
    } else {
      return null;
    }
    let best: Entry | undefined;
    for (const entry of candidates) {
      if (!this.#membership.isAlive(entry.i)) continue;
      const { capabilities } = entry.n;
      if (command !== undefined && !capabilities.includes(command) && !capabilities.includes("*")) continue;
      if (best === undefined || isNewer(entry.n, best.n)) best = entry;
    }
    return best === undefined ? null : { ...copyInfo(best.n), instanceId: best.i };
  }

  list(): NodeInfo[] {
    this.#requireSynced();
    const nodes: NodeInfo[] = [];
    for (const entry of this.#view.values()) {
      if (this.#membership.isAlive(entry.i)) nodes.push(copyInfo(entry.n));
    }
    return nodes;
  }

  invoke(node: ClusterNode, method: string, data: unknown, options: NodeCallOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > this.#maxTimeoutMs) {
      return Promise.reject(
        new ProtocolError("INVALID_PARAMS", `timeoutMs must be between 1 and ${this.#maxTimeoutMs}`, {
          details: { reason: "invalid_timeout" },
        }),
      );
    }
    if (this.#closed || this.#host === undefined) {
      return Promise.reject(
        new ProtocolError("UNAVAILABLE", "the node bus is not running", { details: { reason: "shutdown" } }),
      );
    }
    if (this.#calls.size >= this.#maxPendingCalls) {
      return Promise.reject(
        new ProtocolError("RATE_LIMITED", `${this.#calls.size} node calls are pending on this instance`, {
          details: { reason: "too_many_pending", maxPendingCalls: this.#maxPendingCalls, retryAfterMs: 1000 },
        }),
      );
    }
    const { nodeId } = node;
    return new Promise<unknown>((resolve, reject) => {
      const id = `${this.#callPrefix}${++this.#nextCallId}`;
      const timer = setTimeout(() => {
        const call = this.#calls.get(id);
        if (call === undefined) return;
        this.#settle(call);
        reject(
          new ProtocolError("TIMEOUT", `node ${nodeId} did not answer ${method} within ${timeoutMs} ms`, {
            details: { reason: "node_timeout", nodeId, method, timeoutMs },
          }),
        );
      }, timeoutMs);
      const call: OutCall = {
        ...{ id, nodeId, method, data, timeoutMs, deadline: Date.now() + timeoutMs, resolve, reject, timer },
        traceparent: options.traceparent,
        at: undefined,
        local: undefined,
        grace: undefined,
      };
      this.#calls.set(id, call);
      let calls = this.#callsByNode.get(nodeId);
      if (calls === undefined) {
        calls = new Set();
        this.#callsByNode.set(nodeId, calls);
      }
      calls.add(call);
      this.#dispatch(call, node.instanceId ?? this.instanceId);
    });
  }

  /**
   * Stops serving: sends the answers of the calls forwarded here (their registry has failed them by
   * now), fails this instance's own waiting calls with `NODE_OFFLINE` (`shutdown`), removes this
   * instance's nodes from the hash and quits both connections. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#synced = false;
    const host = this.#host;
    host?.registry.off("node.online", this.#onOnline);
    host?.registry.off("node.offline", this.#onOffline);
    this.#membership.off("down", this.#onDown);
    this.#membership.off("alive", this.#onAlive);
    for (const call of [...this.#calls.values()]) {
      this.#settle(call);
      call.reject(
        new ProtocolError(
          "NODE_OFFLINE",
          `this gateway is shutting down before node ${call.nodeId} answered`,
          {
            details: { reason: "shutdown", nodeId: call.nodeId },
          },
        ),
      );
    }
    // Answers settled in this turn are still in the outbox.
    await new Promise((resolve) => setImmediate(resolve));
    this.#flush();
    if (this.#pub.status === "ready") {
      this.#track(
        this.#pub.eval(
          INSTANCE_SYNC,
          2,
          this.nodesKey,
          this.presenceChannel,
          this.instanceId,
          JSON.stringify({ k: "sync", i: this.instanceId } satisfies Notice),
        ),
        "removing this instance's nodes",
      );
    }
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes]);
    await Promise.allSettled([quitClient(this.#pub), quitClient(this.#sub)]);
  }

  /** Sends a call's next attempt to `instanceId` (this one: its own registry). */
  #dispatch(call: OutCall, instanceId: string): void {
    clearTimeout(call.grace);
    call.grace = undefined;
    call.local?.abort();
    call.local = undefined;
    call.at = instanceId;
    const timeoutMs = Math.max(1, Math.min(call.timeoutMs, call.deadline - Date.now()));
    if (instanceId === this.instanceId) {
      const controller = new AbortController();
      call.local = controller;
      this.#host!.registry.invoke(call.nodeId, call.method, call.data, {
        timeoutMs,
        id: call.id,
        signal: controller.signal,
        traceparent: call.traceparent,
      }).then(
        (result) => {
          if (call.local !== controller) return;
          this.#settle(call);
          call.resolve(result);
        },
        (error: unknown) => {
          if (call.local === controller) this.#attemptFailed(call, this.instanceId, error);
        },
      );
      return;
    }
    if (this.#pub.status !== "ready") {
      this.#settle(call);
      call.reject(redisUnavailable(`forwarding ${call.method} to node ${call.nodeId}`, "not connected"));
      return;
    }
    this.#enqueue(instanceId).q.push(
      call.traceparent === undefined
        ? [call.id, call.nodeId, call.method, timeoutMs, call.data]
        : [call.id, call.nodeId, call.method, timeoutMs, call.data, call.traceparent],
    );
    this.#flushIfIdle(instanceId);
  }

  /** An attempt failed: the error is the call's, unless it says the node is not there (then it is followed). */
  #attemptFailed(call: OutCall, at: string, error: unknown): void {
    const reason = error instanceof ProtocolError ? error.details?.reason : undefined;
    if (error instanceof ProtocolError && error.code === "NODE_OFFLINE" && FOLLOW_REASONS.has(reason)) {
      this.#follow(call, at, String(reason), error);
      return;
    }
    this.#settle(call);
    call.reject(error);
  }

  /**
   * The call's node left `from`: send the call to wherever the node is now, or wait for it there
   * up to the reconnect grace period.
   */
  #follow(call: OutCall, from: string, reason: string, error?: unknown): void {
    if (this.#calls.get(call.id) !== call) return;
    call.local?.abort();
    call.local = undefined;
    call.at = undefined;
    const now = this.#whereIs(call.nodeId);
    if (now !== undefined && now !== from) {
      this.#dispatch(call, now);
      return;
    }
    const graceMs = this.#host?.reconnectGraceMs() ?? 0;
    const fail = () => {
      this.#settle(call);
      call.reject(
        error !== undefined && graceMs === 0
          ? error
          : new ProtocolError(
              "NODE_OFFLINE",
              `node ${call.nodeId} went offline before answering ${call.method}`,
              {
                details: { reason, nodeId: call.nodeId, instanceId: from, reconnectGraceMs: graceMs },
              },
            ),
      );
    };
    if (graceMs <= 0) {
      fail();
      return;
    }
    call.grace ??= setTimeout(fail, graceMs);
  }

  /** The instance holding a node now, as far as this one knows (this one first). */
  #whereIs(nodeId: string): string | undefined {
    if (this.#host?.registry.get(nodeId) !== undefined) return this.instanceId;
    const entry = this.#view.get(nodeId);
    return entry !== undefined && this.#membership.isAlive(entry.i) ? entry.i : undefined;
  }

  /** A node appeared on `instanceId`: the calls waiting for it, or sent to where it was, go there. */
  #nodeAppeared(nodeId: string, instanceId: string): void {
    const calls = this.#callsByNode.get(nodeId);
    if (calls === undefined) return;
    for (const call of [...calls]) {
      if (call.at !== instanceId) this.#dispatch(call, instanceId);
    }
  }

  #settle(call: OutCall): void {
    if (this.#calls.get(call.id) !== call) return;
    this.#calls.delete(call.id);
    const calls = this.#callsByNode.get(call.nodeId);
    calls?.delete(call);
    if (calls?.size === 0) this.#callsByNode.delete(call.nodeId);
    clearTimeout(call.timer);
    clearTimeout(call.grace);
    call.local?.abort();
    call.local = undefined;
  }

  #nodeUp(node: NodeInfo): void {
    this.#view.delete(node.nodeId);
    this.#nodeAppeared(node.nodeId, this.instanceId);
    const entry: Entry = { i: this.instanceId, n: node };
    const notice: Notice = { k: "on", i: this.instanceId, n: node };
    this.#write(
      () =>
        this.#pub.eval(
          NODE_UP,
          2,
          this.nodesKey,
          this.presenceChannel,
          node.nodeId,
          JSON.stringify(entry),
          JSON.stringify(notice),
        ),
      "node presence",
    );
  }

  #nodeDown(nodeId: string): void {
    const notice: Notice = { k: "off", i: this.instanceId, id: nodeId };
    this.#write(
      () =>
        this.#pub.eval(
          NODE_DOWN,
          2,
          this.nodesKey,
          this.presenceChannel,
          nodeId,
          this.instanceId,
          JSON.stringify(notice),
        ),
      "node removal",
    );
  }

  #instanceDown(instanceId: string): void {
    for (const [nodeId, entry] of [...this.#view]) if (entry.i === instanceId) this.#view.delete(nodeId);
    for (const call of [...this.#calls.values()]) {
      if (call.at === instanceId) this.#follow(call, instanceId, "instance_down");
    }
    // Every survivor purges the dead instance's nodes; the first one to do so tells the others.
    this.#write(
      () =>
        this.#pub.eval(
          INSTANCE_SYNC,
          2,
          this.nodesKey,
          this.presenceChannel,
          instanceId,
          JSON.stringify({ k: "sync", i: instanceId } satisfies Notice),
        ),
      "purging a dead instance's nodes",
    );
  }

  /** The subscription dropped: answers may be lost, and the view goes stale. */
  #lostSubscription(): void {
    if (this.#closed || this.#host === undefined) return;
    this.#synced = false;
    for (const call of [...this.#calls.values()]) {
      if (call.at === undefined || call.at === this.instanceId) continue;
      this.#settle(call);
      call.reject(redisUnavailable(`waiting for node ${call.nodeId} on ${call.at}`, "subscription lost"));
    }
  }

  /** Republishes this instance's nodes and reloads the others' (at start, and after Redis came back). */
  #resync(): void {
    if (this.#closed) return;
    if (this.#resyncing !== undefined) {
      this.#resyncAgain = true;
      return;
    }
    this.#resyncing = this.#doResync().finally(() => {
      this.#resyncing = undefined;
      if (this.#resyncAgain) {
        this.#resyncAgain = false;
        this.#resync();
      }
    });
  }

  async #doResync(): Promise<void> {
    if (this.#pub.status !== "ready" || this.#sub.status !== "ready") return;
    const pairs: string[] = [];
    for (const node of this.#host?.registry.list() ?? []) {
      pairs.push(node.nodeId, JSON.stringify({ i: this.instanceId, n: node } satisfies Entry));
    }
    try {
      await this.#pub.eval(
        INSTANCE_SYNC,
        2,
        this.nodesKey,
        this.presenceChannel,
        this.instanceId,
        JSON.stringify({ k: "sync", i: this.instanceId } satisfies Notice),
        ...pairs,
      );
      await this.#reload();
      if (!this.#closed) this.#synced = true;
    } catch (error) {
      this.#warn({ err: String(error) }, "node bus: resync failed (retried when Redis is back)");
    }
  }

  /** Replaces the view with the hash. */
  async #reload(): Promise<void> {
    const all = await this.#pub.hgetall(this.nodesKey);
    this.#view.clear();
    for (const [nodeId, text] of Object.entries(all)) {
      const entry = this.#badPresence.parse(ENTRY, text, this.nodesKey);
      if (entry === undefined || entry.i === this.instanceId) continue;
      if (entry.n.nodeId !== nodeId) {
        this.#badPresence.drop("the entry's node id is not its field", { key: this.nodesKey, field: nodeId });
        continue;
      }
      this.#view.set(nodeId, entry);
      this.#nodeAppeared(nodeId, entry.i);
    }
  }

  #receive(channel: string, message: string): void {
    const malformed = channel === this.presenceChannel ? this.#badPresence : this.#badCalls;
    if (message.length > this.#maxMessageBytes) {
      malformed.drop("over maxMessageBytes", { channel, bytes: message.length });
      return;
    }
    if (channel === this.presenceChannel) {
      const notice = malformed.parse(NOTICE, message, channel);
      if (notice !== undefined) this.#notice(notice);
    } else if (channel === this.channel) {
      const busMessage = malformed.parse(BUS_MESSAGE, message, channel);
      if (busMessage !== undefined) this.#busMessage(busMessage as BusMessage);
    }
  }

  #notice(notice: Notice): void {
    if (notice.i === this.instanceId) return;
    if (notice.k === "on") {
      this.#view.set(notice.n.nodeId, { i: notice.i, n: notice.n });
      this.#nodeAppeared(notice.n.nodeId, notice.i);
    } else if (notice.k === "off") {
      if (this.#view.get(notice.id)?.i === notice.i) this.#view.delete(notice.id);
    } else if (notice.k === "sync") {
      this.#pub.status === "ready" &&
        this.#reload().catch((error: unknown) =>
          this.#warn({ err: String(error) }, "node bus: reloading the nodes failed"),
        );
    }
  }

  #busMessage(message: BusMessage): void {
    const from = message.i;
    for (const reply of message.r ?? []) {
      const call = this.#calls.get(reply[0]);
      if (call === undefined) continue; // answered, timed out or moved on already
      if (reply[1] === 1) {
        this.#settle(call);
        call.resolve(reply[2]);
      } else if (call.at === from) {
        this.#attemptFailed(call, from, ProtocolError.fromShape(reply[2]));
      }
    }
    for (const request of message.q ?? []) this.#serve(from, request);
  }

  /** Runs a call forwarded by `from` on this instance's registry and sends the answer back. */
  #serve(from: string, [id, nodeId, method, timeoutMs, data, traceparent]: Request): void {
    const serving = this.#serving.get(id);
    if (serving !== undefined) {
      serving.replyTo = from; // sent again (the caller lost track of it): one run, one answer
      return;
    }
    const host = this.#host;
    if (host === undefined || this.#closed) return;
    const entry = { replyTo: from };
    this.#serving.set(id, entry);
    // The registry sends the caller's traceparent on only when it is a valid one.
    const trace = typeof traceparent === "string" ? { traceparent } : {};
    host.registry.invoke(nodeId, method, data, { timeoutMs, id, ...trace }).then(
      (result) => {
        this.#serving.delete(id);
        this.#enqueue(entry.replyTo).r.push([id, 1, result]);
        this.#flushIfIdle(entry.replyTo);
      },
      (error: unknown) => {
        this.#serving.delete(id);
        this.#enqueue(entry.replyTo).r.push([id, 0, toProtocolError(error).toJSON()]);
        this.#flushIfIdle(entry.replyTo);
      },
    );
  }

  #enqueue(instanceId: string): { q: Request[]; r: Reply[] } {
    let box = this.#outbox.get(instanceId);
    if (box === undefined) {
      box = { q: [], r: [] };
      this.#outbox.set(instanceId, box);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return box;
  }

  /**
   * Sends what is queued for `instanceId` at once when nothing sent to it is still unacknowledged
   * (one call in flight: no wait for the end of the turn); otherwise it waits for the turn's end and
   * travels with whatever else is queued by then, so that bursts still go as one message.
   */
  #flushIfIdle(instanceId: string): void {
    if ((this.#unacked.get(instanceId) ?? 0) > 0) return;
    const box = this.#outbox.get(instanceId);
    if (box === undefined) return;
    this.#outbox.delete(instanceId);
    this.#publish(instanceId, box);
  }

  /** Publishes what this turn queued, one message per instance. */
  #flush(): void {
    this.#flushScheduled = false;
    for (const [instanceId, box] of this.#outbox) this.#publish(instanceId, box);
    this.#outbox.clear();
  }

  /** Publishes one bus message with the requests and replies queued for `instanceId`. */
  #publish(instanceId: string, box: { q: Request[]; r: Reply[] }): void {
    {
      const message: BusMessage = { i: this.instanceId };
      if (box.q.length > 0) message.q = box.q;
      if (box.r.length > 0) message.r = box.r;
      const requests = box.q.map((request) => request[0]);
      let text: string;
      try {
        text = JSON.stringify(message);
      } catch (error) {
        this.#failRequests(
          requests,
          instanceId,
          new ProtocolError("INVALID_PARAMS", "data is not JSON-serialisable", {
            details: { reason: "unserialisable" },
            cause: error,
          }),
        );
        return;
      }
      this.#unacked.set(instanceId, (this.#unacked.get(instanceId) ?? 0) + 1);
      const acked = () => {
        const left = (this.#unacked.get(instanceId) ?? 1) - 1;
        if (left > 0) this.#unacked.set(instanceId, left);
        else this.#unacked.delete(instanceId);
      };
      const published = this.#pub.publish(`${this.#prefix}rpc:${instanceId}`, text).then(
        (receivers) => {
          acked();
          // Nobody subscribed: the instance is dead or cut off from Redis. Its calls follow their node.
          if (receivers === 0 && requests.length > 0) {
            for (const id of requests) {
              const call = this.#calls.get(id);
              if (call?.at === instanceId) this.#follow(call, instanceId, "instance_unreachable");
            }
          }
        },
        (error: unknown) => {
          acked();
          this.#warn({ err: String(error), instanceId }, "node bus: publish failed");
          this.#failRequests(
            requests,
            instanceId,
            redisUnavailable(`forwarding calls to ${instanceId}`, error),
          );
        },
      );
      this.#track(published, "publish");
    }
  }

  #failRequests(ids: readonly string[], instanceId: string, error: unknown): void {
    for (const id of ids) {
      const call = this.#calls.get(id);
      if (call?.at !== instanceId) continue;
      this.#settle(call);
      call.reject(error);
    }
  }

  #requireSynced(): void {
    if (!this.#synced) {
      throw redisUnavailable("looking up the other instances' nodes", "the node bus is not connected");
    }
  }

  #write(command: () => Promise<unknown>, what: string): void {
    if (this.#pub.status !== "ready") return; // put back by the resync once Redis is reachable
    this.#track(command(), what);
  }

  #track(write: Promise<unknown>, what: string): void {
    const tracked = write.catch((error: unknown) =>
      this.#warn({ err: String(error) }, `node bus: ${what} failed`),
    );
    this.#writes.add(tracked);
    void tracked.finally(() => this.#writes.delete(tracked));
  }

  #warn(object: object, message: string): void {
    this.#logger?.warn({ instanceId: this.instanceId, ...object }, message);
  }
}

function isNewer(a: NodeInfo, b: NodeInfo): boolean {
  return a.connectedAt > b.connectedAt || (a.connectedAt === b.connectedAt && a.nodeId < b.nodeId);
}

function copyInfo(info: NodeInfo): NodeInfo {
  return { ...info, capabilities: [...info.capabilities], client: { ...info.client } };
}
