/**
 * The broadcast seam, modelled on socket.io's `Adapter`: connections join rooms (one per scope, per
 * node, per connection) and events go to rooms. {@link InMemoryAdapter} serves one process; an
 * adapter backed by a message bus would let several gateway instances share their audiences.
 */

/** A room of the connection with this id. */
export const connectionRoom = (connectionId: string): string => `conn:${connectionId}`;
/** A room of the connections holding this scope (one string per scope, shared by every connection). */
export const scopeRoom = (scope: string): string => {
  let room = SCOPE_ROOMS.get(scope);
  if (room === undefined) {
    room = `scope:${scope}`;
    if (SCOPE_ROOMS.size < MAX_SCOPE_ROOMS) SCOPE_ROOMS.set(scope, room);
  }
  return room;
};
/** Scope room names remembered (the catalogue has a handful of scopes). */
const MAX_SCOPE_ROOMS = 256;
const SCOPE_ROOMS = new Map<string, string>();
/** A room of the connections subscribed to a built-in chat (`chat.subscribe`). */
export const chatRoom = (conversationId: string): string => `chat:${conversationId}`;
/** A room of the connections of this node. */
export const nodeRoom = (nodeId: string): string => `node:${nodeId}`;

/** What an adapter needs of a connection. */
export interface AdapterMember {
  readonly id: string;
  /** Sends an encoded frame (bytes are sent as a text frame); false when it was not sent. */
  send(frame: Buffer): boolean;
  /** Closes the connection. */
  close(code: number, reason: string): void;
  /**
   * Holds the member's writes until {@link uncork} (optional): an adapter sending a member several
   * frames in a row corks it, so that they leave in one system call instead of one each.
   */
  cork?(): void;
  /** Writes what was held since {@link cork}. */
  uncork?(): void;
}

/** One encoded event and its audience. */
export interface BroadcastPacket {
  /**
   * The frame, encoded once to bytes. The {@link Broadcaster}'s packets encode it when first read:
   * an adapter reads it during `broadcast` (to send or publish it), and only if someone gets it.
   */
  readonly bytes: Buffer;
  /** Who receives it: members of any of these rooms. */
  rooms: readonly string[];
  /** Connection ids left out (the one whose request caused the event). */
  except?: ReadonlySet<string> | undefined;
  /** For this instance's members only: an adapter shared by several instances does not forward it. */
  local?: boolean;
}

/** Who {@link Adapter.disconnect} closes. */
export interface DisconnectOptions {
  rooms: readonly string[];
  except?: ReadonlySet<string> | undefined;
  /** The WebSocket close code. */
  code: number;
  reason: string;
}

/** Where a node's connection is held. */
export interface NodeLocation {
  /** The gateway instance holding it ({@link Adapter.instanceId} when it is this one). */
  instanceId: string;
}

/** Rooms and fan-out of a gateway's connections. */
export interface Adapter {
  /** This gateway instance's id. */
  readonly instanceId: string;
  /** Adds a member to rooms (joining a room twice is harmless). */
  join(member: AdapterMember, rooms: readonly string[]): void;
  /** Removes a member from a room. */
  leave(memberId: string, room: string): void;
  /** Removes a member from every room. */
  leaveAll(memberId: string): void;
  /** The rooms a member is in. */
  rooms(memberId: string): ReadonlySet<string>;
  /** The members of any of these rooms, each once. */
  members(rooms: readonly string[]): Iterable<AdapterMember>;
  /**
   * Sends packets to their rooms in one pass: each member gets its frames one after the other.
   * A member in several of a packet's rooms gets it once.
   */
  broadcast(packets: readonly BroadcastPacket[]): void;
  /** Closes the members of these rooms. @returns How many were closed here. */
  disconnect(options: DisconnectOptions): number;
  /** Which instance holds a connection of this node, if any does. */
  locateNode(nodeId: string): Promise<NodeLocation | undefined>;
  /** Releases what the adapter holds. */
  close(): Promise<void> | void;
}
