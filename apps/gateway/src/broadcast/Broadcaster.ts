import { type Adapter, type BroadcastPacket, scopeRoom } from "@openclaw/backend";
import { EVENTS, type EventData, type EventName, encodeEvent, type Scope } from "@openclaw/protocol";
import type { Metrics } from "../metrics/Metrics";

/** Who receives a broadcast besides the event's own audience rules. */
export interface BroadcastOptions {
  /** Leave out this connection (the one whose request caused the event). */
  except?: { readonly id: string } | undefined;
  /** Send only to connections holding one of these scopes, instead of the event's catalogue scopes. */
  scopes?: readonly Scope[];
  /** Send only to the members of these rooms (e.g. a chat's subscribers); overrides `scopes`. */
  rooms?: readonly string[];
  /**
   * Deliver to this instance's connections only, never to other instances of a cluster. For events
   * every instance produces for its own connections (the heartbeat `tick`): published, each client
   * would get one per instance.
   */
  local?: boolean;
}

/** One event of a broadcast, with its audience rules. */
export type BroadcastEvent = {
  [E in EventName]: { event: E; data: EventData<E> } & BroadcastOptions;
}[EventName];

/** Sends events to their audience. What services need to tell the clients something. */
export interface EventSink {
  /** Sends one event to every ready connection whose scopes receive it. */
  broadcast<E extends EventName>(event: E, data: EventData<E>, options?: BroadcastOptions): void;
  /** Sends several events in one pass over the connections. */
  broadcastAll(events: readonly BroadcastEvent[]): void;
}

/**
 * Turns events into packets for an {@link Adapter}: each event is encoded once, to bytes, so that no
 * socket converts it again, and goes to the rooms of its scopes.
 */
export class Broadcaster implements EventSink {
  readonly #adapter: Adapter;
  readonly #roomsOf = new Map<readonly Scope[], readonly string[]>();
  readonly #metrics: Pick<Metrics, "broadcast"> | undefined;

  /**
   * @param adapter - Where packets go.
   * @param metrics - Counts the events broadcast. @defaultValue none
   */
  constructor(adapter: Adapter, metrics?: Pick<Metrics, "broadcast">) {
    this.#adapter = adapter;
    this.#metrics = metrics;
  }

  broadcast<E extends EventName>(event: E, data: EventData<E>, options: BroadcastOptions = {}): void {
    this.broadcastAll([{ event, data, ...options } as BroadcastEvent]);
  }

  broadcastAll(events: readonly BroadcastEvent[]): void {
    if (this.#metrics !== undefined) for (const item of events) this.#metrics.broadcast(item.event);
    const packets: BroadcastPacket[] = events.map(
      (item) =>
        new EventPacket(
          item,
          item.rooms ?? this.#rooms(item.scopes ?? EVENTS[item.event].scopes),
          item.except === undefined ? undefined : new Set([item.except.id]),
          item.local === true,
        ),
    );
    this.#adapter.broadcast(packets);
  }

  /** The rooms of a list of scopes, computed once per list (catalogue lists are constants). */
  #rooms(scopes: readonly Scope[]): readonly string[] {
    let rooms = this.#roomsOf.get(scopes);
    if (rooms === undefined) {
      rooms = scopes.map(scopeRoom);
      if (this.#roomsOf.size < MAX_CACHED_SCOPE_LISTS) this.#roomsOf.set(scopes, rooms);
    }
    return rooms;
  }
}

/**
 * A packet whose frame is encoded the first time an adapter reads {@link bytes}, once for every
 * member: an event nobody receives (no client connected, an empty room) is never encoded.
 */
class EventPacket implements BroadcastPacket {
  readonly #event: BroadcastEvent;
  #bytes: Buffer | undefined;

  constructor(
    event: BroadcastEvent,
    readonly rooms: readonly string[],
    readonly except: ReadonlySet<string> | undefined,
    readonly local: boolean,
  ) {
    this.#event = event;
  }

  get bytes(): Buffer {
    this.#bytes ??= Buffer.from(encodeEvent(this.#event.event, this.#event.data));
    return this.#bytes;
  }
}

/** Scope lists whose rooms are remembered (the catalogue has a few dozen). */
const MAX_CACHED_SCOPE_LISTS = 256;
