import { randomUUID } from "node:crypto";
import type { Adapter, AdapterMember, BroadcastPacket, DisconnectOptions, NodeLocation } from "./Adapter";
import { nodeRoom } from "./Adapter";

/** Options of an {@link InMemoryAdapter}. */
export interface InMemoryAdapterOptions {
  /**
   * This instance's id, as {@link Adapter.locateNode} reports it.
   * @defaultValue a random UUID
   */
  instanceId?: string;
  /**
   * Members a broadcast reaches per event-loop turn. A larger audience is delivered over several
   * turns, so that the loop keeps answering requests, heartbeats and Redis meanwhile (one
   * synchronous pass over 16,000 sockets held a loop for seconds); each member still gets every
   * frame in the order it was broadcast.
   * @defaultValue {@link IN_MEMORY_ADAPTER_DEFAULTS}.membersPerTurn (1000)
   */
  membersPerTurn?: number;
  /**
   * Deliveries (one member, one broadcast) that may wait for a later turn. A broadcast that would
   * queue more first delivers everything waiting, in one pass, then itself: memory stays bounded
   * when broadcasts outpace the sockets, and the loop blocks as it would without slicing.
   * @defaultValue {@link IN_MEMORY_ADAPTER_DEFAULTS}.maxQueuedDeliveries (1,000,000)
   */
  maxQueuedDeliveries?: number;
}

/** Defaults of {@link InMemoryAdapterOptions}. */
export const IN_MEMORY_ADAPTER_DEFAULTS = {
  membersPerTurn: 1000,
  maxQueuedDeliveries: 1_000_000,
} as const;

/** A broadcast whose audience is being delivered over several event-loop turns. */
interface Delivery {
  readonly packets: readonly BroadcastPacket[];
  /** Its audience when it was broadcast, less the members already served. */
  readonly members: readonly AdapterMember[];
  /**
   * The one room of every packet, if they share one (a member that left it meanwhile is skipped);
   * otherwise each member's rooms are checked per packet.
   */
  readonly room: string | undefined;
  /** The next member to serve. */
  next: number;
}

const NO_ROOMS: ReadonlySet<string> = new Set();

/**
 * A room's members: the member itself while it is alone (every connection's own room, a node's
 * room), a map by id once there are more. Tens of thousands of connections then cost no map each.
 */
type Room = AdapterMember | Map<string, AdapterMember>;

/** The members of a room, as a list. */
function membersOf(room: Room | undefined): Iterable<AdapterMember> {
  if (room === undefined) return [];
  return room instanceof Map ? room.values() : [room];
}

/**
 * The default {@link Adapter}: rooms in this process's memory. A broadcast makes one pass over the
 * members of its rooms, sending each member all its packets in a row (at thousands of connections
 * a pass per event costs a quarter of the throughput), and never encodes anything itself.
 *
 * The pass is sliced: the first {@link InMemoryAdapterOptions.membersPerTurn} members are served at
 * once, the rest of the audience (as it was when broadcast) in later turns of the event loop. While
 * a delivery is under way, later broadcasts wait behind it, so every member gets its frames in the
 * order they were broadcast. A member's rooms are read when it is served: one that left the
 * broadcast's rooms meanwhile (unsubscribed, closed) gets nothing, and one that joined meanwhile is
 * not in the audience. Frames sent straight to a connection (answers to its requests) do not
 * wait: during a large delivery an answer may overtake an event broadcast before it.
 *
 * @example
 * ```ts
 * const adapter = new InMemoryAdapter();
 * adapter.join(connection, [scopeRoom("operator.read"), connectionRoom(connection.id)]);
 * adapter.broadcast([{ bytes: Buffer.from(frame), rooms: [scopeRoom("operator.read")] }]);
 * ```
 */
export class InMemoryAdapter implements Adapter {
  readonly instanceId: string;
  readonly #rooms = new Map<string, Room>();
  readonly #memberRooms = new Map<string, Set<string>>();
  readonly #membersPerTurn: number;
  readonly #maxQueued: number;
  /** Deliveries waiting for a later turn, oldest first. */
  readonly #queue: Delivery[] = [];
  /** Members (one per delivery) in {@link #queue} still to be served. */
  #queued = 0;
  #drainTimer: ReturnType<typeof setImmediate> | undefined;

  constructor(options: InMemoryAdapterOptions = {}) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.#membersPerTurn = positiveInteger(
      options.membersPerTurn ?? IN_MEMORY_ADAPTER_DEFAULTS.membersPerTurn,
      "membersPerTurn",
    );
    this.#maxQueued = positiveInteger(
      options.maxQueuedDeliveries ?? IN_MEMORY_ADAPTER_DEFAULTS.maxQueuedDeliveries,
      "maxQueuedDeliveries",
    );
  }

  /** Member deliveries waiting for a later event-loop turn (0 when every broadcast is out). */
  get queuedDeliveries(): number {
    return this.#queued;
  }

  join(member: AdapterMember, rooms: readonly string[]): void {
    let joined = this.#memberRooms.get(member.id);
    if (joined === undefined) {
      joined = new Set();
      this.#memberRooms.set(member.id, joined);
    }
    for (const room of rooms) {
      joined.add(room);
      const members = this.#rooms.get(room);
      if (members === undefined || (!(members instanceof Map) && members.id === member.id))
        this.#rooms.set(room, member);
      else if (members instanceof Map) members.set(member.id, member);
      else
        this.#rooms.set(
          room,
          new Map([
            [members.id, members],
            [member.id, member],
          ]),
        );
    }
  }

  /** Takes a member out of one room's members (not out of its list of rooms). */
  #remove(room: string, memberId: string): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    if (members instanceof Map) {
      members.delete(memberId);
      if (members.size === 0) this.#rooms.delete(room);
    } else if (members.id === memberId) this.#rooms.delete(room);
  }

  leave(memberId: string, room: string): void {
    this.#memberRooms.get(memberId)?.delete(room);
    this.#remove(room, memberId);
  }

  leaveAll(memberId: string): void {
    const joined = this.#memberRooms.get(memberId);
    if (joined === undefined) return;
    for (const room of joined) this.#remove(room, memberId);
    this.#memberRooms.delete(memberId);
  }

  rooms(memberId: string): ReadonlySet<string> {
    return this.#memberRooms.get(memberId) ?? NO_ROOMS;
  }

  members(rooms: readonly string[]): Iterable<AdapterMember> {
    if (rooms.length === 1) return membersOf(this.#rooms.get(rooms[0]!));
    const union = new Map<string, AdapterMember>();
    for (const room of rooms) {
      for (const member of membersOf(this.#rooms.get(room))) union.set(member.id, member);
    }
    return union.values();
  }

  broadcast(packets: readonly BroadcastPacket[]): void {
    if (packets.length === 0) return;
    const all = new Set<string>();
    for (const packet of packets) for (const room of packet.rooms) all.add(room);
    const rooms = [...all];
    // One room in all: every member of it receives every packet (but its exceptions).
    const sameRoom = rooms.length === 1;
    const audience = this.members(rooms);
    if (this.#queue.length === 0) {
      // Nothing waiting: serve the first slice now, queue the rest.
      const iterator = audience[Symbol.iterator]();
      for (let served = 0; served < this.#membersPerTurn; served++) {
        const next = iterator.next();
        if (next.done === true) return;
        this.#deliver(next.value, packets, sameRoom);
      }
      this.#enqueue(packets, Array.from({ [Symbol.iterator]: () => iterator }), rooms);
    } else {
      this.#enqueue(packets, Array.from(audience), rooms);
    }
  }

  /** Sends a member the packets meant for it, in order. */
  #deliver(member: AdapterMember, packets: readonly BroadcastPacket[], sameRoom: boolean): void {
    const joined = sameRoom ? undefined : this.#memberRooms.get(member.id);
    // Served from the queue, a member may have left every room since (it closed): nothing for it.
    if (!sameRoom && joined === undefined) return;
    // Several frames for one member leave in one write.
    const corked = packets.length > 1 && member.cork !== undefined;
    if (corked) member.cork!();
    try {
      for (const packet of packets) {
        if (packet.except?.has(member.id) === true) continue;
        if (joined !== undefined && !inAny(joined, packet.rooms)) continue;
        member.send(packet.bytes);
      }
    } finally {
      if (corked) member.uncork?.();
    }
  }

  #enqueue(packets: readonly BroadcastPacket[], members: AdapterMember[], rooms: readonly string[]): void {
    if (members.length === 0) return;
    const delivery: Delivery = { packets, members, room: rooms.length === 1 ? rooms[0] : undefined, next: 0 };
    if (this.#queued + members.length > this.#maxQueued) {
      // Over the bound: catch up now, in order, then serve this one in full.
      this.#drain(Number.POSITIVE_INFINITY);
      this.#serve(delivery, members.length);
      return;
    }
    this.#queue.push(delivery);
    this.#queued += members.length;
    this.#drainTimer ??= setImmediate(this.#drainTurn);
  }

  readonly #drainTurn = (): void => {
    this.#drainTimer = undefined;
    this.#drain(this.#membersPerTurn);
    if (this.#queue.length > 0) this.#drainTimer = setImmediate(this.#drainTurn);
  };

  /** Serves up to `budget` queued members, oldest delivery first. */
  #drain(budget: number): void {
    while (budget > 0 && this.#queue.length > 0) {
      const delivery = this.#queue[0]!;
      const served = this.#serve(delivery, budget);
      budget -= served;
      this.#queued -= served;
      if (delivery.next === delivery.members.length) this.#queue.shift();
    }
  }

  /** Serves up to `budget` members of a delivery from where it stands. @returns How many. */
  #serve(delivery: Delivery, budget: number): number {
    const { members, packets, room } = delivery;
    const start = delivery.next;
    const end = Math.min(members.length, start + budget);
    for (let i = start; i < end; i++) {
      const member = members[i]!;
      // A member that left the room since the broadcast (unsubscribed, closed) is skipped.
      if (room !== undefined && this.#memberRooms.get(member.id)?.has(room) !== true) continue;
      this.#deliver(member, packets, room !== undefined);
    }
    delivery.next = end;
    return end - start;
  }

  disconnect(options: DisconnectOptions): number {
    let closed = 0;
    // Closing may make members leave their rooms: take the list first.
    for (const member of [...this.members(options.rooms)]) {
      if (options.except?.has(member.id) === true) continue;
      member.close(options.code, options.reason);
      closed += 1;
    }
    return closed;
  }

  async locateNode(nodeId: string): Promise<NodeLocation | undefined> {
    const members = this.#rooms.get(nodeRoom(nodeId));
    return members === undefined || (members instanceof Map && members.size === 0)
      ? undefined
      : { instanceId: this.instanceId };
  }

  close(): void {
    // Frames still queued are dropped: the connections are going away.
    if (this.#drainTimer !== undefined) clearImmediate(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#rooms.clear();
    this.#memberRooms.clear();
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function inAny(joined: ReadonlySet<string>, rooms: readonly string[]): boolean {
  for (const room of rooms) if (joined.has(room)) return true;
  return false;
}
