import type { ClientInfo, Role, Scope } from "@openclaw/protocol";
import { CloseCode } from "@openclaw/protocol";
import type { WebSocket } from "ws";
import type { ConnectionCounters } from "../metrics/Metrics";
import type { RateLimiter } from "./RateLimiter";

/**
 * How long a slow consumer's socket gets to flush its close frame before it is terminated.
 * @defaultValue 1000
 */
export const SLOW_CONSUMER_TERMINATE_MS = 1000;

/** What a connection's handshake granted: the token level, a paired device, or pairing only. */
export type Grant = "admin" | "operator" | "node" | "pairing";

/** The identity a successful handshake gives a connection. */
export interface Session {
  grant: Grant;
  role: Role;
  scopes: ReadonlySet<Scope>;
  client: ClientInfo;
  /** The operator or admin token it logged in with (checked again when tokens rotate). */
  token: string | undefined;
  /** For nodes: the id registered in the node registry. */
  nodeId: string | undefined;
}

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  id: string;
  socket: WebSocket;
  /** The socket's peer (a reverse proxy's address, behind one). */
  remoteAddress: string;
  /** The source its per-source limits count against (see `requestSource`). */
  source: string;
  /** The `Authorization: Bearer` token of the upgrade request, if any. */
  bearerToken: string | undefined;
  /** Requests allowed on this connection. */
  limiter: RateLimiter;
  /** Unsent bytes above which the client is too slow and is closed (read at each send). */
  maxBufferedBytes: () => number;
  /** The TCP socket under `socket`, for {@link Connection.cork}; without it, cork does nothing. */
  transport?: { cork(): void; uncork(): void } | undefined;
  /** Counts frames sent, broadcast deliveries and slow-consumer closes. @defaultValue none */
  counters?: ConnectionCounters | undefined;
}

/** One WebSocket client of the gateway: its socket, send with backpressure, liveness, close. */
export class Connection {
  readonly id: string;
  readonly socket: WebSocket;
  /** The socket's peer (a reverse proxy's address, behind one). */
  readonly remoteAddress: string;
  /**
   * The source every per-source limit counts this connection against: the client's address (as a
   * trusted proxy named it) grouped by `sourceKey`.
   */
  readonly source: string;
  readonly bearerToken: string | undefined;
  readonly limiter: RateLimiter;
  readonly #maxBufferedBytes: () => number;
  readonly #transport: { cork(): void; uncork(): void } | undefined;
  readonly #counters: ConnectionCounters | undefined;
  /** While corked: the bytes this batch added to `bufferedAmount` (held by the cork, not unread). */
  #corkedBytes: number | undefined;
  #state: "handshaking" | "ready" | "closed" = "handshaking";
  #session: Session | undefined;
  /** False once a ping went unanswered. */
  #alive = true;
  /** For pairing connections: how often `pairing.start` may be called. */
  pairingLimiter: RateLimiter | undefined;
  /** The limited slot the connection holds: still handshaking, or connected unauthenticated to pair. */
  slot: "handshake" | "pairing" | undefined;
  /** The handshake deadline, or for pairing connections the end of their window. */
  handshakeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ConnectionOptions) {
    this.id = options.id;
    this.socket = options.socket;
    this.remoteAddress = options.remoteAddress;
    this.source = options.source;
    this.bearerToken = options.bearerToken;
    this.limiter = options.limiter;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    this.#transport = options.transport;
    this.#counters = options.counters;
  }

  /** Where the connection is in its life. */
  get state(): "handshaking" | "ready" | "closed" {
    return this.#state;
  }

  get role(): Role | undefined {
    return this.#session?.role;
  }

  get scopes(): ReadonlySet<Scope> {
    return this.#session?.scopes ?? NO_SCOPES;
  }

  get client(): ClientInfo | undefined {
    return this.#session?.client;
  }

  get nodeId(): string | undefined {
    return this.#session?.nodeId;
  }

  get grant(): Grant | undefined {
    return this.#session?.grant;
  }

  get token(): string | undefined {
    return this.#session?.token;
  }

  /**
   * Marks the handshake done with what it granted. Identical sessions (same grant, scopes, token and
   * client, no node id) share one object, and the handshake's timer is let go unless the
   * connection keeps it (a pairing connection's window): thousands of connections of one app cost
   * no session each.
   */
  authenticate(session: Session): void {
    if (this.#state === "closed") return;
    this.#session = sharedSession(session);
    this.#state = "ready";
    if (session.grant !== "pairing") {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
    }
  }

  /** Whether the connection holds any of these scopes. */
  hasAnyScope(scopes: readonly Scope[]): boolean {
    const held = this.scopes;
    for (const scope of scopes) if (held.has(scope)) return true;
    return false;
  }

  /** Records a pong. */
  markAlive(): void {
    this.#alive = true;
  }

  /**
   * One heartbeat beat: a peer that did not answer the previous ping is terminated, others are pinged.
   *
   * @returns Whether the peer is still considered alive.
   */
  probe(): boolean {
    if (!this.#alive) {
      this.socket.terminate(); // missed a whole interval of pings: the peer is gone
      return false;
    }
    this.#alive = false;
    this.socket.ping();
    return true;
  }

  /**
   * Sends a frame. A client whose unsent bytes exceed the limit is too slow: it is closed with 1008
   * so that it never holds up the others or grows the gateway's memory.
   *
   * @param frame - The encoded frame: text, or its UTF-8 bytes (sent as a text frame; a broadcast
   *   encodes once to bytes so that no socket re-encodes it).
   * @returns Whether it was sent.
   */
  send(frame: string | Buffer): boolean {
    if (this.#state === "closed" || this.socket.readyState !== this.socket.OPEN) return false;
    // Frames held by this batch's cork are not the client's unread data: leave them out.
    const buffered = this.socket.bufferedAmount;
    if (buffered - (this.#corkedBytes ?? 0) > this.#maxBufferedBytes()) {
      if (this.#counters !== undefined) this.#counters.slowConsumerCloses++;
      this.close(CloseCode.PolicyViolation, "slow consumer: too much unread data");
      // The close frame waits behind the unread data; do not wait for the peer.
      setTimeout(() => this.socket.terminate(), SLOW_CONSUMER_TERMINATE_MS).unref();
      return false;
    }
    if (typeof frame === "string") this.socket.send(frame);
    else this.socket.send(frame, { binary: false });
    const counters = this.#counters;
    if (counters !== undefined) {
      counters.framesOut++;
      if (typeof frame !== "string") counters.eventDeliveries++; // broadcasts send encoded bytes
    }
    if (this.#corkedBytes !== undefined) this.#corkedBytes += this.socket.bufferedAmount - buffered;
    return true;
  }

  /** Holds this connection's writes until {@link uncork}, so that several frames leave in one write. */
  cork(): void {
    if (this.#transport === undefined) return;
    this.#corkedBytes ??= 0;
    this.#transport.cork();
  }

  /** Writes what was held since {@link cork}. */
  uncork(): void {
    if (this.#transport === undefined) return;
    this.#corkedBytes = undefined;
    this.#transport.uncork();
  }

  /** Closes the socket (politely) and marks the connection closed. */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.handshakeTimer);
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
  }

  /** Marks the connection closed once its socket is (no close frame sent). */
  closed(): void {
    this.#state = "closed";
    clearTimeout(this.handshakeTimer);
  }
}

const NO_SCOPES: ReadonlySet<Scope> = new Set();

/**
 * Distinct sessions remembered for sharing; past it the table starts over (sessions are compared
 * by value, so starting over only costs memory until the table fills again).
 */
const MAX_SHARED_SESSIONS = 1024;
const sharedSessions = new Map<string, Session>();

/**
 * The session equal to `session` already held by another connection, or `session` itself (then
 * remembered). Node sessions and clients with an instance id are unique: they are not shared.
 */
function sharedSession(session: Session): Session {
  if (session.nodeId !== undefined || session.client.instanceId !== undefined) return session;
  const key = `${session.grant}\n${session.role}\n${session.token ?? ""}\n${[...session.scopes].join(" ")}\n${JSON.stringify(session.client)}`;
  const shared = sharedSessions.get(key);
  if (shared !== undefined) return shared;
  if (sharedSessions.size >= MAX_SHARED_SESSIONS) sharedSessions.clear();
  sharedSessions.set(key, session);
  return session;
}
