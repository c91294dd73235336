import { randomUUID } from "node:crypto";
import {
  type Adapter,
  type AdapterMember,
  type BroadcastPacket,
  type DisconnectOptions,
  InMemoryAdapter,
  type InMemoryAdapterOptions,
  type NodeLocation,
  nodeRoom,
} from "@openclaw/backend";
import { EventEmitter } from "eventemitter3";
import { Redis } from "ioredis";
import * as v from "valibot";
import { DEFAULT_REDIS_NAMESPACE, quitClient } from "./stores/redisStoreClient";
import { MalformedMessages } from "./untrusted";

/** Defaults of {@link RedisAdapterOptions}. */
export const REDIS_ADAPTER_DEFAULTS = {
  /** The key and channel prefix: `openclaw:<namespace>:…` (the stores' default namespace too). */
  namespace: DEFAULT_REDIS_NAMESPACE,
  /** The largest cluster message this adapter accepts from Redis, in bytes. */
  maxMessageBytes: 64 * 1024 * 1024,
} as const;

/** Where {@link RedisAdapter} logs what goes wrong with Redis. */
export interface RedisAdapterLogger {
  warn(object: object, message: string): void;
}

/** Options of a {@link RedisAdapter}: `redisUrl` or `redis` is required. */
export interface RedisAdapterOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379/0`. Used when `redis` is not given. */
  redisUrl?: string;
  /**
   * A Redis client whose settings the adapter copies: it opens its own two connections with
   * `duplicate()` and never closes this one.
   */
  redis?: Redis;
  /**
   * This instance's id, in every message it publishes and in the node presence hash.
   * @defaultValue a random UUID
   */
  instanceId?: string;
  /**
   * Instances share events only within one namespace: channel `openclaw:<namespace>:broadcast`,
   * presence hash `openclaw:<namespace>:nodes`.
   * @defaultValue `"openclaw"` (the stores' `DEFAULT_REDIS_NAMESPACE`)
   */
  namespace?: string;
  /**
   * Cluster messages larger than this many bytes are dropped with a warning.
   * @defaultValue 64 MiB
   */
  maxMessageBytes?: number;
  /** Where Redis failures are logged. @defaultValue nowhere */
  logger?: RedisAdapterLogger;
  /**
   * At most one warning about malformed cluster messages per this many milliseconds; the others
   * are counted.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  malformedWarnIntervalMs?: number;
  /**
   * How this instance delivers to its own members, local broadcasts and those of other instances
   * alike: members per event-loop turn and queued deliveries (see `InMemoryAdapterOptions`).
   * @defaultValue `IN_MEMORY_ADAPTER_DEFAULTS` of `@openclaw/backend`
   */
  delivery?: Pick<InMemoryAdapterOptions, "membersPerTurn" | "maxQueuedDeliveries">;
}

/** The state of an adapter's link to Redis. */
export type RedisAdapterState = "connecting" | "ready" | "degraded" | "closed";

/** Names of the events of a {@link RedisAdapter}. */
export const RedisAdapterEvents = {
  /** The link to Redis changed state; the listener gets the new {@link RedisAdapterState}. */
  State: "state",
} as const;

/** Listeners of a {@link RedisAdapter}'s events. */
export interface RedisAdapterEventMap {
  state: (state: RedisAdapterState) => void;
}

/** Message kinds on the broadcast channel. */
const KIND_BROADCAST = "b";
const KIND_DISCONNECT = "d";

/** The JSON header of a cluster message; broadcast payloads follow it as raw bytes. */
type Header =
  | {
      /** The publishing instance. */
      i: string;
      k: typeof KIND_BROADCAST;
      /** Packets: rooms, exceptions and the byte length of each payload, in order. */
      p: Array<{ r: readonly string[]; e?: string[]; n: number }>;
    }
  | {
      i: string;
      k: typeof KIND_DISCONNECT;
      r: readonly string[];
      e?: string[];
      c: number;
      m: string;
    };

const ROOMS = v.array(v.string());

/** A {@link Header} as read from Redis: anything else is dropped. */
const HEADER = v.variant("k", [
  v.object({
    i: v.string(),
    k: v.literal(KIND_BROADCAST),
    p: v.array(
      v.object({
        r: ROOMS,
        e: v.exactOptional(ROOMS),
        n: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
      }),
    ),
  }),
  v.object({
    i: v.string(),
    k: v.literal(KIND_DISCONNECT),
    r: ROOMS,
    e: v.exactOptional(ROOMS),
    // A WebSocket close code a server may send, and its reason.
    c: v.pipe(v.number(), v.safeInteger(), v.minValue(1000), v.maxValue(4999)),
    m: v.pipe(v.string(), v.maxLength(123)),
  }),
]);

/** Deletes a presence entry only when this instance still holds it (a node may have moved on). */
const RELEASE_NODE = `if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then return redis.call("HDEL", KEYS[1], ARGV[1]) end return 0`;

const NODE_ROOM_PREFIX = nodeRoom("");

/**
 * An {@link Adapter} that makes several gateway instances one audience over Redis pub/sub. Rooms and
 * members stay local (an {@link InMemoryAdapter}); `broadcast` delivers locally and publishes its
 * packets once, as the bytes they were encoded to, on `openclaw:<namespace>:broadcast`, and every
 * other instance delivers them to its own members. `disconnect` works the same way. Node presence is
 * kept in the hash `openclaw:<namespace>:nodes` (node id → instance id) for `locateNode`.
 *
 * When Redis is unreachable, local delivery goes on, what would be published is dropped with a
 * logged warning, {@link RedisAdapter.degraded} is true and a `state` event says `"degraded"`.
 *
 * @example
 * ```ts
 * const adapter = new RedisAdapter({ redisUrl: "redis://127.0.0.1:6379", instanceId: "gw-1" });
 * await adapter.ready();
 * const gateway = new Gateway({ config, adapter });
 * ```
 */
export class RedisAdapter extends EventEmitter<RedisAdapterEventMap> implements Adapter {
  readonly instanceId: string;
  /** The pub/sub channel of this namespace. */
  readonly channel: string;
  /** The node presence hash of this namespace. */
  readonly nodesKey: string;
  readonly #local: InMemoryAdapter;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #maxMessageBytes: number;
  readonly #logger: RedisAdapterLogger | undefined;
  readonly #malformed: MalformedMessages;
  readonly #subscribed: Promise<void>;
  /** Node ids with a connection in this instance. */
  readonly #nodes = new Set<string>();
  #state: RedisAdapterState = "connecting";
  /**
   * Whether the subscriber's SUBSCRIBE is in force on its current connection: a connection is
   * `ready` before the SUBSCRIBE that follows a reconnect has been answered.
   */
  #listening = false;
  /** Publishes dropped since Redis was last reachable (logged once per outage, counted on recovery). */
  #dropped = 0;

  constructor(options: RedisAdapterOptions) {
    super();
    if (options.redis === undefined && options.redisUrl === undefined) {
      throw new TypeError("RedisAdapter needs `redisUrl` or `redis`");
    }
    this.instanceId = options.instanceId ?? randomUUID();
    const namespace = options.namespace ?? REDIS_ADAPTER_DEFAULTS.namespace;
    this.channel = `openclaw:${namespace}:broadcast`;
    this.nodesKey = `openclaw:${namespace}:nodes`;
    this.#maxMessageBytes = options.maxMessageBytes ?? REDIS_ADAPTER_DEFAULTS.maxMessageBytes;
    this.#logger = options.logger;
    this.#malformed = new MalformedMessages({
      source: "broadcast",
      logger: options.logger === undefined ? undefined : { warn: this.#warn.bind(this) },
      warnIntervalMs: options.malformedWarnIntervalMs,
    });
    this.#local = new InMemoryAdapter({ ...options.delivery, instanceId: this.instanceId });
    // The publisher fails fast while Redis is down (no offline queue): a broadcast is dropped, never
    // held back to arrive late. The subscriber queues its SUBSCRIBE and renews it on reconnect.
    const connection = { lazyConnect: false, enableOfflineQueue: false } as const;
    if (options.redis !== undefined) {
      this.#pub = options.redis.duplicate(connection);
      this.#sub = options.redis.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    } else {
      const url = options.redisUrl!;
      this.#pub = new Redis(url, connection);
      this.#sub = new Redis(url, { enableOfflineQueue: true });
    }
    // Registered first, so that the state computed on "close" already counts the subscription lost.
    this.#sub.on("close", () => {
      this.#listening = false;
    });
    for (const client of [this.#pub, this.#sub]) {
      client.on("error", (error: Error) =>
        this.#warn({ err: error.message }, "redis adapter: connection error"),
      );
      client.on("ready", () => this.#updateState());
      client.on("close", () => this.#updateState());
      client.on("end", () => this.#updateState());
    }
    // After a reconnect, put this instance's nodes back: writes failed while Redis was down, and a
    // restarted Redis may have lost the hash.
    this.#pub.on("ready", () => this.#republishNodes());
    this.#sub.on(
      "messageBuffer",
      this.#malformed.guard((channel: Buffer, message: Buffer) => {
        if (channel.toString() === this.channel) this.#receive(message);
      }),
    );
    // After a reconnect ioredis subscribes again; the adapter is ready once that is answered.
    this.#sub.on("ready", () => {
      if (this.#state !== "connecting") this.#listen();
    });
    this.#subscribed = this.#sub.subscribe(this.channel).then(
      () => {
        this.#listening = true;
        this.#updateState();
      },
      (error: unknown) => {
        this.#warn({ err: String(error) }, "redis adapter: subscribe failed");
        throw error;
      },
    );
    // Observed here so that a failure is never unhandled; `ready()` reports it.
    this.#subscribed.catch(() => {});
  }

  /** The link to Redis: `ready` when both connections are up. */
  get state(): RedisAdapterState {
    return this.#state;
  }

  /** True while Redis is unreachable: events reach only this instance's clients. */
  get degraded(): boolean {
    return this.#state === "degraded";
  }

  /**
   * Resolves once this instance is subscribed to the cluster's events and can publish its own (it
   * waits while Redis is unreachable: bound it with a timeout of your own when start-up must not
   * wait).
   * @returns Resolves when subscribed and connected; rejects if the subscription failed.
   */
  async ready(): Promise<void> {
    await this.#subscribed;
    if (this.#pub.status !== "ready") await new Promise((resolve) => this.#pub.once("ready", resolve));
  }

  join(member: AdapterMember, rooms: readonly string[]): void {
    this.#local.join(member, rooms);
    for (const room of rooms) {
      if (!room.startsWith(NODE_ROOM_PREFIX)) continue;
      const nodeId = room.slice(NODE_ROOM_PREFIX.length);
      this.#nodes.add(nodeId);
      this.#run(this.#pub.hset(this.nodesKey, nodeId, this.instanceId), "presence update");
    }
  }

  leave(memberId: string, room: string): void {
    this.#local.leave(memberId, room);
    if (room.startsWith(NODE_ROOM_PREFIX)) this.#releaseIfEmpty(room);
  }

  leaveAll(memberId: string): void {
    const nodeRooms = [...this.#local.rooms(memberId)].filter((room) => room.startsWith(NODE_ROOM_PREFIX));
    this.#local.leaveAll(memberId);
    for (const room of nodeRooms) this.#releaseIfEmpty(room);
  }

  rooms(memberId: string): ReadonlySet<string> {
    return this.#local.rooms(memberId);
  }

  members(rooms: readonly string[]): Iterable<AdapterMember> {
    return this.#local.members(rooms);
  }

  broadcast(packets: readonly BroadcastPacket[]): void {
    if (packets.length === 0) return;
    this.#local.broadcast(packets);
    const shared = packets.some((packet) => packet.local === true)
      ? packets.filter((packet) => packet.local !== true)
      : packets;
    if (shared.length === 0) return;
    const header: Header = {
      i: this.instanceId,
      k: KIND_BROADCAST,
      p: shared.map((packet) => ({
        r: packet.rooms,
        ...(packet.except === undefined || packet.except.size === 0 ? {} : { e: [...packet.except] }),
        n: packet.bytes.length,
      })),
    };
    this.#publish(
      header,
      shared.map((packet) => packet.bytes),
    );
  }

  disconnect(options: DisconnectOptions): number {
    const closed = this.#local.disconnect(options);
    this.#publish(
      {
        i: this.instanceId,
        k: KIND_DISCONNECT,
        r: options.rooms,
        ...(options.except === undefined || options.except.size === 0 ? {} : { e: [...options.except] }),
        c: options.code,
        m: options.reason,
      },
      [],
    );
    return closed;
  }

  async locateNode(nodeId: string): Promise<NodeLocation | undefined> {
    const local = await this.#local.locateNode(nodeId);
    if (local !== undefined) return local;
    if (this.#pub.status !== "ready") return undefined;
    try {
      const instanceId = await this.#pub.hget(this.nodesKey, nodeId);
      return instanceId === null ? undefined : { instanceId };
    } catch (error) {
      this.#warn({ err: String(error), nodeId }, "redis adapter: node lookup failed");
      return undefined;
    }
  }

  /** Removes this instance's nodes from the presence hash and quits both Redis connections. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    const nodes = [...this.#nodes];
    this.#nodes.clear();
    this.#local.close();
    if (this.#pub.status === "ready") {
      await Promise.allSettled(
        nodes.map((nodeId) => this.#pub.eval(RELEASE_NODE, 1, this.nodesKey, nodeId, this.instanceId)),
      );
    }
    this.#state = "closed";
    await Promise.allSettled([quitClient(this.#pub), quitClient(this.#sub)]);
    this.emit(RedisAdapterEvents.State, "closed");
    this.removeAllListeners();
  }

  #releaseIfEmpty(room: string): void {
    for (const _member of this.#local.members([room])) return;
    const nodeId = room.slice(NODE_ROOM_PREFIX.length);
    this.#nodes.delete(nodeId);
    this.#run(this.#pub.eval(RELEASE_NODE, 1, this.nodesKey, nodeId, this.instanceId), "presence removal");
  }

  #republishNodes(): void {
    if (this.#nodes.size === 0) return;
    const fields: string[] = [];
    for (const nodeId of this.#nodes) fields.push(nodeId, this.instanceId);
    this.#run(this.#pub.hset(this.nodesKey, ...fields), "presence refresh");
  }

  #publish(header: Header, payloads: readonly Buffer[]): void {
    // Dropped whenever the adapter says it is degraded (either connection lost), as documented,
    // not only once the publisher itself has noticed.
    if (this.#pub.status !== "ready" || this.#state === "degraded") {
      // Logged once per outage: at event rates a warning per drop would flood the log.
      if (this.#dropped === 0) {
        this.#warn(
          { kind: header.k },
          "redis adapter: Redis unreachable, events not shared with other instances",
        );
      }
      this.#dropped += 1;
      return;
    }
    const head = Buffer.from(JSON.stringify(header));
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(head.length, 0);
    this.#run(this.#pub.publish(this.channel, Buffer.concat([length, head, ...payloads])), "publish");
  }

  #receive(message: Buffer): void {
    if (message.length > this.#maxMessageBytes) {
      this.#malformed.drop("over maxMessageBytes", { channel: this.channel, bytes: message.length });
      return;
    }
    const headLength = message.length < 4 ? -1 : message.readUInt32BE(0);
    if (headLength < 0 || 4 + headLength > message.length) {
      this.#malformed.drop("shorter than its header length says", { channel: this.channel, message });
      return;
    }
    const header = this.#malformed.parse(HEADER, message.subarray(4, 4 + headLength), this.channel);
    if (header === undefined || header.i === this.instanceId) return;
    if (header.k === KIND_BROADCAST) {
      let offset = 4 + headLength;
      const packets: BroadcastPacket[] = [];
      for (const packet of header.p) {
        const end = offset + packet.n;
        if (end > message.length) {
          this.#malformed.drop("payload shorter than its header says", { channel: this.channel });
          return;
        }
        packets.push({
          bytes: message.subarray(offset, end),
          rooms: packet.r,
          except: packet.e === undefined ? undefined : new Set(packet.e),
        });
        offset = end;
      }
      this.#local.broadcast(packets);
    } else {
      this.#local.disconnect({
        rooms: header.r,
        except: header.e === undefined ? undefined : new Set(header.e),
        code: header.c,
        reason: header.m,
      });
    }
  }

  #run(command: Promise<unknown>, what: string): void {
    command.catch((error: unknown) => this.#warn({ err: String(error) }, `redis adapter: ${what} failed`));
  }

  #updateState(): void {
    if (this.#state === "closed") return;
    const next: RedisAdapterState =
      this.#pub.status === "ready" && this.#sub.status === "ready" && this.#listening
        ? "ready"
        : this.#state === "connecting" && !isDown(this.#pub) && !isDown(this.#sub)
          ? "connecting"
          : "degraded";
    if (next === this.#state) return;
    this.#state = next;
    if (next === "ready" && this.#dropped > 0) {
      this.#warn(
        { dropped: this.#dropped },
        "redis adapter: Redis reachable again, events dropped meanwhile",
      );
      this.#dropped = 0;
    }
    if (next === "degraded") this.#warn({}, "redis adapter: degraded, events reach only local clients");
    this.emit(RedisAdapterEvents.State, next);
  }

  /** Confirms the subscription on the subscriber's new connection, then updates the state. */
  #listen(): void {
    this.#sub.subscribe(this.channel).then(
      () => {
        this.#listening = true;
        this.#updateState();
      },
      (error: unknown) => this.#warn({ err: String(error) }, "redis adapter: subscribe failed"),
    );
  }

  #warn(object: object, message: string): void {
    this.#logger?.warn({ instanceId: this.instanceId, ...object }, message);
  }
}

function isDown(client: Redis): boolean {
  return client.status === "reconnecting" || client.status === "close" || client.status === "end";
}
