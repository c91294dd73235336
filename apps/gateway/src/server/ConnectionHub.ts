import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { type Adapter, connectionRoom, nodeRoom, scopeRoom } from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import { CloseCode, encodeError, ProtocolError } from "@openclaw/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import type { AuthFailures } from "../auth/guards";
import { bearerToken, Counter } from "../auth/guards";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import { Connection, type Session } from "./Connection";
import {
  type ConnectionCapacity,
  connectionCapacity,
  countOpenDescriptors,
  readDescriptorLimit,
} from "./descriptorLimit";
import { RateLimiter } from "./RateLimiter";
import { requestSource } from "./sources";
import { checkUpgrade, refuseUpgrade } from "./upgradeChecks";

/** Options of a {@link ConnectionHub}. */
export interface ConnectionHubOptions {
  /** The config in force (read at each upgrade and accept). */
  config: () => Config;
  logger: Logger;
  /** Rooms and fan-out; the hub joins each connection to its rooms once it is ready. */
  adapter: Adapter;
  /** Failed logins by address: a blocked address is refused at the upgrade. */
  authFailures: AuthFailures;
  /** Whether new connections are accepted. */
  isRunning: () => boolean;
  /** Each message a connection receives. */
  onFrame: (connection: Connection, data: Buffer, isBinary: boolean) => void;
  /** After a connection closed and left the hub. */
  onClosed: (connection: Connection) => void;
  /** Counts connections' frames, refusals and slow consumers. @defaultValue none */
  metrics?: Metrics | undefined;
  /** Whether a token is the admin token (an upgrade carrying it may use `adminConnections`). */
  isAdminToken?: ((token: string) => boolean) | undefined;
  /**
   * The process's soft limit on open files, which caps the connections (see `connectionCapacity`).
   * @defaultValue read from `/proc/self/limits` (none where it cannot be read)
   */
  descriptorLimit?: number | undefined;
}

/**
 * Refusals for the connection cap are logged once per episode: it ends when the connections fall
 * below this share of the cap.
 * @defaultValue 0.9
 */
export const CAP_EPISODE_END_SHARE = 0.9;

/** How long a device whose pairing slot was given to another source should wait to reconnect. */
export const PAIRING_RECLAIM_RETRY_AFTER_MS = 5000;

/**
 * The gateway's WebSocket connections: upgrade checks, accept, the limited slots (handshakes and
 * unauthenticated pairing connections, per source), rooms once ready, and close. A connection's
 * source is decided once, at the upgrade (`requestSource`: the client's address as a trusted proxy
 * names it, grouped by `sourceKey`).
 */
export class ConnectionHub {
  readonly #options: ConnectionHubOptions;
  readonly #connections = new Map<string, Connection>();
  /** Connections still handshaking, by source. */
  readonly #handshakes = new Counter();
  /** Unauthenticated connections held to pair, by source, oldest first. */
  readonly #pairingSockets = new Map<string, Set<Connection>>();
  #pairingTotal = 0;
  #wss: WebSocketServer | undefined;
  readonly #descriptorLimit: number | undefined;
  #capacity: { of: Config["gateway"]; value: ConnectionCapacity } | undefined;
  /**
   * The refusals of the current episode at the cap (none: not at the cap): upgrades answered 503,
   * and sockets answered 503 as they were accepted (past `maxSockets`; see `SocketGate`).
   */
  #episode: { since: number; refused: number; dropped: number } | undefined;
  #acceptErrors = 0;

  constructor(options: ConnectionHubOptions) {
    this.#options = options;
    this.#descriptorLimit = "descriptorLimit" in options ? options.descriptorLimit : readDescriptorLimit();
  }

  /**
   * How many connections are accepted, from `gateway.maxConnections`, `descriptorReserve`,
   * `adminConnections` and the descriptor limit read at start.
   */
  get capacity(): ConnectionCapacity {
    const gateway = this.#options.config().gateway;
    if (this.#capacity?.of !== gateway) {
      const value = connectionCapacity({
        descriptorLimit: this.#descriptorLimit,
        configured: gateway.maxConnections,
        reserve: gateway.descriptorReserve,
        adminConnections: gateway.adminConnections,
      });
      this.#capacity = { of: gateway, value };
    }
    return this.#capacity.value;
  }

  /**
   * Clients refused at the cap since the current episode began (0: not at the cap): upgrades
   * answered 503, and sockets answered 503 as they were accepted because every socket was taken.
   */
  get refusedAtCap(): number {
    return this.#episode === undefined ? 0 : this.#episode.refused + this.#episode.dropped;
  }

  /** Connections open now (handshaking or ready). */
  get size(): number {
    return this.#connections.size;
  }

  /** Unauthenticated pairing connections held now: from one source, and in all. */
  get pairingSlots(): { from(source: string): number; readonly total: number } {
    const bySource = this.#pairingSockets;
    return { from: (source) => bySource.get(source)?.size ?? 0, total: this.#pairingTotal };
  }

  values(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  get(id: string): Connection | undefined {
    return this.#connections.get(id);
  }

  /** Serves WebSocket upgrades of this HTTP server. */
  attach(server: Server): void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#options.config().gateway.maxFrameBytes,
      clientTracking: false,
    });
    this.#wss = wss;
    const capacity = this.capacity;
    server.on("upgrade", (request, socket, head) => this.#upgrade(wss, request, socket, head));
    // A failed accept must not end the process. (EMFILE never gets here: libuv accepts and closes
    // the pending connections itself, so clients see a reset; the reserve is what prevents it.)
    // Errors before listening (a port in use) are `listen`'s to report.
    server.on("error", (error: NodeJS.ErrnoException) => {
      if (server.listening && this.#acceptErrors++ === 0)
        this.#options.logger.error(
          { err: error.message, code: error.code, descriptorLimit: capacity.descriptorLimit },
          "the server could not accept a connection (logged once; see gateway.descriptorReserve)",
        );
    });
    const ownDescriptors = countOpenDescriptors();
    this.#options.logger.info(
      {
        maxConnections: capacity.maxConnections,
        adminConnections: capacity.adminConnections,
        descriptorLimit: capacity.descriptorLimit ?? null,
        reserve: capacity.reserve,
        ownDescriptors: ownDescriptors ?? null,
        source: capacity.source,
      },
      "connection cap",
    );
    // What the process holds already must fit in the share of the reserve kept for it, with room.
    const ownShare =
      capacity.descriptorLimit === undefined || capacity.maxSockets === undefined
        ? undefined
        : capacity.descriptorLimit - capacity.maxSockets;
    if (ownShare !== undefined && ownDescriptors !== undefined && ownDescriptors + 8 > ownShare)
      this.#options.logger.warn(
        { ownDescriptors, ownShare, reserve: capacity.reserve, descriptorLimit: capacity.descriptorLimit },
        "the descriptor reserve leaves little room for the gateway's own files and sockets: raise gateway.descriptorReserve or the limit (ulimit -n)",
      );
  }

  /** Counts a socket refused as it was accepted because every socket was taken (see `SocketGate`). */
  droppedAtCap(): void {
    this.#options.metrics?.refused("upgrade", "dropped_at_socket_cap");
    this.#refusedAtCap(this.capacity, this.#connections.size, "dropped");
  }

  /** Applies a new frame limit to connections accepted from now on. */
  setMaxPayload(maxFrameBytes: number): void {
    // ws reads maxPayload for each new connection.
    if (this.#wss !== undefined) (this.#wss.options as { maxPayload: number }).maxPayload = maxFrameBytes;
  }

  /** Marks a connection's handshake done and joins it to its rooms (its id, its scopes, its node). */
  ready(connection: Connection, session: Session): void {
    connection.authenticate(session);
    if (connection.state === "closed") return; // it went away meanwhile: it joins nothing
    const rooms = [connectionRoom(connection.id), ...[...session.scopes].map(scopeRoom)];
    if (session.nodeId !== undefined) rooms.push(nodeRoom(session.nodeId));
    this.#options.adapter.join(connection, rooms);
  }

  /** Moves a connection from the handshake slot to a pairing slot of its source. */
  holdPairingSlot(connection: Connection): void {
    this.releaseSlot(connection);
    connection.slot = "pairing";
    let held = this.#pairingSockets.get(connection.source);
    if (held === undefined) {
      held = new Set();
      this.#pairingSockets.set(connection.source, held);
    }
    held.add(connection);
    this.#pairingTotal += 1;
  }

  /**
   * Frees a pairing slot for a connection from `source` when all are taken, if that is fair: the
   * source holding the most slots gives up its oldest connection (answered `OVERLOADED`,
   * `pairing_slot_reclaimed`, and closed with 1013), provided `source` would still hold fewer than
   * it. So the slots are shared evenly among the sources that want them, and no group of sources
   * can keep one more source from pairing while any of them holds two or more.
   *
   * @param source - The source of the connection that wants a slot.
   * @returns Whether a slot was freed.
   */
  reclaimPairingSlot(source: string): boolean {
    const own = this.#pairingSockets.get(source)?.size ?? 0;
    let busiest: Set<Connection> | undefined;
    for (const held of this.#pairingSockets.values()) if (held.size > (busiest?.size ?? 0)) busiest = held;
    if (busiest === undefined || own + 1 >= busiest.size) return false;
    const oldest = busiest.values().next().value!;
    this.releaseSlot(oldest);
    oldest.send(
      encodeError(
        null,
        new ProtocolError("OVERLOADED", "this pairing slot was given to a device from another address", {
          details: {
            reason: "pairing_slot_reclaimed",
            retryAfterMs: PAIRING_RECLAIM_RETRY_AFTER_MS,
            nextStep: "reconnect later to pair",
          },
        }),
      ),
    );
    oldest.close(CloseCode.TryAgainLater, "pairing slot reclaimed");
    this.#options.logger.debug(
      { connectionId: oldest.id, source: oldest.source, for: source },
      "pairing slot reclaimed for another source",
    );
    return true;
  }

  /** Gives up the limited slot a connection holds (handshake or pairing), if any. */
  releaseSlot(connection: Connection): void {
    if (connection.slot === "handshake") this.#handshakes.remove(connection.source);
    else if (connection.slot === "pairing") {
      const held = this.#pairingSockets.get(connection.source);
      if (held?.delete(connection) === true) {
        this.#pairingTotal -= 1;
        if (held.size === 0) this.#pairingSockets.delete(connection.source);
      }
    }
    connection.slot = undefined;
  }

  /** Closes every connection politely. */
  closeAll(code: number, reason: string): void {
    for (const connection of this.#connections.values()) connection.close(code, reason);
  }

  /** Terminates every socket and forgets the connections. */
  terminateAll(): void {
    for (const connection of this.#connections.values()) connection.socket.terminate();
    this.#connections.clear();
  }

  #upgrade(wss: WebSocketServer, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const source = requestSource(request, this.#options.config().gateway.trustedProxies);
    const capacity = this.capacity;
    const connections = this.#connections.size;
    let extraConnections = 0;
    if (connections >= capacity.maxConnections && capacity.adminConnections > 0) {
      const token = bearerToken(request.headers.authorization);
      if (token !== undefined && this.#options.isAdminToken?.(token) === true)
        extraConnections = capacity.adminConnections;
    }
    const refusal = checkUpgrade(
      {
        running: this.#options.isRunning(),
        origin: request.headers.origin,
        host: request.headers.host,
        blockedForMs: this.#options.authFailures.blockedFor(source),
        connections,
        maxConnections: capacity.maxConnections,
        extraConnections,
        handshakesFromSource: this.#handshakes.get(source),
      },
      this.#options.config(),
    );
    if (refusal?.error.details?.reason === "too_many_connections")
      this.#refusedAtCap(capacity, connections, "refused");
    if (refusal !== null) this.#options.metrics?.refused("upgrade", refusal.error.details?.reason);
    if (refusal !== null) refuseUpgrade(socket, refusal);
    else wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request, source));
  }

  #accept(ws: WebSocket, request: IncomingMessage, source: string): void {
    const config = this.#options.config();
    const { requestsPerSecond, burst } = config.security.rateLimit;
    const connection = new Connection({
      id: randomUUID(),
      socket: ws,
      remoteAddress: request.socket.remoteAddress ?? "",
      source,
      bearerToken: bearerToken(request.headers.authorization),
      limiter: new RateLimiter(requestsPerSecond, burst),
      maxBufferedBytes: () => this.#options.config().gateway.maxBufferedBytes,
      // The socket the upgrade came on is the one ws writes to.
      transport: request.socket,
      counters: this.#options.metrics,
    });
    this.#connections.set(connection.id, connection);
    connection.slot = "handshake";
    this.#handshakes.add(connection.source);
    const timeoutMs = config.gateway.handshakeTimeoutMs;
    connection.handshakeTimer = setTimeout(() => {
      if (connection.state !== "handshaking") return;
      connection.send(
        encodeError(
          null,
          new ProtocolError("UNAUTHORIZED", `no connect within ${timeoutMs} ms`, {
            details: { reason: "handshake_timeout" },
          }),
        ),
      );
      this.#options.metrics?.refused("handshake", "handshake_timeout");
      connection.close(CloseCode.PolicyViolation, "handshake timeout");
    }, timeoutMs);
    ws.on("pong", () => connection.markAlive());
    ws.on("message", (data, isBinary) => this.#options.onFrame(connection, data as Buffer, isBinary));
    ws.on("close", () => this.#onClose(connection));
    ws.on("error", (error) => {
      // ws closes oversize frames with 1009 itself; other errors end the connection.
      this.#options.logger.debug({ connectionId: connection.id, err: error.message }, "websocket error");
    });
  }

  /** Counts a refusal at the cap (answered 503, or the socket dropped); the first of an episode is logged. */
  #refusedAtCap(capacity: ConnectionCapacity, connections: number, how: "refused" | "dropped"): void {
    if (this.#episode !== undefined) {
      this.#episode[how]++;
      return;
    }
    this.#episode = { since: Date.now(), refused: 0, dropped: 0 };
    this.#episode[how]++;
    this.#options.logger.warn(
      {
        connections,
        maxConnections: capacity.maxConnections,
        maxSockets: capacity.maxSockets ?? null,
        descriptorLimit: capacity.descriptorLimit ?? null,
        source: capacity.source,
        first: how === "refused" ? "upgrade answered 503" : "socket answered 503 as accepted",
      },
      "connection cap reached: refusing new WebSocket clients (503, Retry-After) until connections fall; logged once per episode",
    );
  }

  #onClose(connection: Connection): void {
    this.releaseSlot(connection);
    connection.closed();
    this.#connections.delete(connection.id);
    const episode = this.#episode;
    if (
      episode !== undefined &&
      this.#connections.size < this.capacity.maxConnections * CAP_EPISODE_END_SHARE
    ) {
      this.#episode = undefined;
      this.#options.logger.info(
        {
          refused: episode.refused,
          dropped: episode.dropped,
          durationMs: Date.now() - episode.since,
          connections: this.#connections.size,
        },
        "connection cap episode over: accepting again",
      );
    }
    this.#options.adapter.leaveAll(connection.id);
    this.#options.onClosed(connection);
  }
}
