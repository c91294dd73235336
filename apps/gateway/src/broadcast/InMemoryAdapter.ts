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

  constructor(options: InMemoryAdapterOptions = {}) {
    this.instanceId = options.instanceId ?? randomUUID();
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
    for (const member of this.members(rooms)) {
      const joined = sameRoom ? undefined : this.#memberRooms.get(member.id);
      for (const packet of packets) {
        if (packet.except?.has(member.id) === true) continue;
        if (joined !== undefined && !inAny(joined, packet.rooms)) continue;
        member.send(packet.bytes);
      }
    }
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
    this.#rooms.clear();
    this.#memberRooms.clear();
  }
}

function inAny(joined: ReadonlySet<string>, rooms: readonly string[]): boolean {
  for (const room of rooms) if (joined.has(room)) return true;
  return false;
}
