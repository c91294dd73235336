import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ProtocolError } from "@openclaw/protocol";
import { Counter } from "../auth/guards";
import { sourceKey } from "./sources";
import { refusalResponse, type UpgradeRefusal } from "./upgradeChecks";

/** How long a refused client should wait, by reason of refusal. */
export const SOCKET_RETRY_AFTER_MS = {
  /** `gateway.maxPendingSocketsPerSource` is reached. */
  tooManyPendingSockets: 1000,
  /** Every socket the descriptor limit allows (`maxSockets`) is taken. */
  tooManyConnections: 5000,
} as const;

/**
 * How long a socket must have been pending (connected without completing a request) before a
 * newcomer may take its place when every socket is taken: a client that sends its request at once
 * is never displaced, a socket that idles or trickles is.
 * @defaultValue 1000
 */
export const PENDING_EVICTION_AGE_MS = 1000;

/**
 * How long a refused socket is kept after its `503` is written, reading and dropping what the client
 * sends, so that closing it does not reset the connection before the client read the answer. It is
 * closed as soon as the client closes its end.
 * @defaultValue 1000
 */
export const REFUSAL_LINGER_MS = 1000;

/**
 * Body bytes read and dropped after a request was answered before its whole body arrived (a `401`
 * or `404` to a `POST`): a small body finishes arriving and the connection is kept (the client
 * still writing it is not reset before reading the answer); past this the connection is closed, so
 * a large body is not read for nothing (a `413` included).
 * @defaultValue 262144
 */
export const EARLY_ANSWER_DRAIN_BYTES = 256 * 1024;

/**
 * Reads and drops the rest of an answered request's body; past {@link EARLY_ANSWER_DRAIN_BYTES}
 * closes the connection once the answer is written.
 */
function drainThenClose(request: IncomingMessage, response: ServerResponse): void {
  let dropped = 0;
  const onData = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped <= EARLY_ANSWER_DRAIN_BYTES) return;
    request.off("data", onData);
    request.pause();
    const close = () => request.socket.destroy();
    if (response.writableFinished) close();
    else response.once("finish", close);
  };
  request.on("data", onData);
  request.once("end", () => request.off("data", onData));
  request.resume(); // also when the route paused it (`stopReading`)
}

/** Options of a {@link SocketGate}. */
export interface SocketGateOptions {
  /** `gateway.maxPendingSocketsPerSource`, read at each accept. */
  maxPendingPerSource: () => number;
  /** Sockets the server holds at once (`undefined`: no cap); see `connectionCapacity`. */
  maxSockets: () => number | undefined;
  /**
   * Refused sockets kept lingering at once (see {@link REFUSAL_LINGER_MS}); beyond it a refused
   * socket is closed as soon as its answer is written.
   */
  maxLingering: () => number;
  /** Each socket refused because every socket was taken. */
  onRefusedAtCap: () => void;
}

/** What the gate knows of one accepted socket. */
interface Entry {
  source: string;
  /** Requests whose whole body has arrived and whose answer is not finished. */
  active: number;
  /** Taken over by the WebSocket server. */
  upgraded: boolean;
  /** Since when it is pending (`undefined`: not pending). */
  pendingSince: number | undefined;
}

/**
 * Guards an HTTP server's sockets before its HTTP parser sees them: bounds the sockets of each
 * source (`sourceKey`: an IPv4 address, an IPv6 /64) that have not completed a request ("pending":
 * connected and silent, sending a head or a body slowly, idle between keep-alive requests), and
 * holds every socket under the server's cap,
 * making room by closing the oldest pending socket (pending for {@link PENDING_EVICTION_AGE_MS} at
 * least) rather than refusing a newcomer that may be an admin or a `/health` probe. A socket it
 * refuses gets a typed `503` (`OVERLOADED`, `Retry-After`, `Connection: close`), never a bare reset.
 * A request answered before its whole body arrived has its connection closed once
 * {@link EARLY_ANSWER_DRAIN_BYTES} more have arrived: a body is never read whole after its answer.
 */
export class SocketGate {
  readonly #options: SocketGateOptions;
  readonly #open = new Map<Socket, Entry>();
  /** Pending sockets, oldest first. */
  readonly #pending = new Set<Socket>();
  readonly #pendingBySource = new Counter();
  #lingering = 0;

  constructor(options: SocketGateOptions) {
    this.#options = options;
  }

  /**
   * Puts the gate in front of the server's HTTP parser: the server's own `connection` listeners run
   * only for sockets it admits.
   */
  attach(server: Server): void {
    const parsers = server.listeners("connection") as Array<(socket: Socket) => void>;
    server.removeAllListeners("connection");
    server.on("connection", (socket: Socket) => {
      if (!this.#admit(socket)) return;
      for (const listener of parsers) listener.call(server, socket);
    });
    server.on("request", (request: IncomingMessage, response: ServerResponse) =>
      this.#request(request, response),
    );
    server.on("upgrade", (request: IncomingMessage) => {
      const entry = this.#open.get(request.socket);
      if (entry === undefined) return;
      entry.upgraded = true;
      this.#update(request.socket, entry);
    });
  }

  #admit(socket: Socket): boolean {
    // Before any header is read: the socket's peer, grouped as every per-source limit groups it.
    const source = sourceKey(socket.remoteAddress);
    const perSource = this.#options.maxPendingPerSource();
    if (this.#pendingBySource.get(source) >= perSource) {
      const retryAfterMs = SOCKET_RETRY_AFTER_MS.tooManyPendingSockets;
      this.#refuse(socket, {
        error: new ProtocolError("OVERLOADED", "too many sockets from this source without a request", {
          details: { reason: "too_many_pending_sockets", limit: perSource, retryAfterMs },
        }),
        retryAfterMs,
      });
      return false;
    }
    const maxSockets = this.#options.maxSockets();
    if (maxSockets !== undefined && this.#open.size >= maxSockets) {
      const oldest = this.#pending.values().next().value;
      const entry = oldest === undefined ? undefined : this.#open.get(oldest);
      if (
        oldest !== undefined &&
        entry?.pendingSince !== undefined &&
        Date.now() - entry.pendingSince >= PENDING_EVICTION_AGE_MS
      ) {
        this.#forget(oldest);
        oldest.destroy();
      } else {
        const retryAfterMs = SOCKET_RETRY_AFTER_MS.tooManyConnections;
        this.#options.onRefusedAtCap();
        this.#refuse(socket, {
          error: new ProtocolError("OVERLOADED", "too many connections", {
            details: { reason: "too_many_connections", limit: maxSockets, retryAfterMs },
          }),
          retryAfterMs,
        });
        return false;
      }
    }
    const entry: Entry = { source, active: 0, upgraded: false, pendingSince: undefined };
    this.#open.set(socket, entry);
    this.#update(socket, entry);
    socket.once("close", () => this.#forget(socket));
    return true;
  }

  /**
   * Tracks a request: its socket stops being pending once the whole body is in, until the answer
   * ends. A request answered before its whole body arrived has the rest read and dropped up to
   * {@link EARLY_ANSWER_DRAIN_BYTES}, then its connection closed.
   */
  #request(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    const entry = this.#open.get(socket);
    if (entry === undefined) return;
    let counted = false;
    let finished = false;
    const arrived = () => {
      if (counted || finished) return;
      counted = true;
      entry.active++;
      this.#update(socket, entry);
    };
    const done = () => {
      if (finished) return;
      finished = true;
      if (!counted) return;
      entry.active--;
      this.#update(socket, entry);
    };
    const length = request.headers["content-length"];
    const hasBody =
      request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
    if (hasBody) request.once("end", arrived);
    else arrived();
    response.once("close", done); // after the answer is written, or when the socket went away
    // Before Node's own handling of an unread body (which reads it all to keep the connection). The
    // request listener may have answered already (synchronously, before this listener ran).
    const answered = () => {
      if (!request.complete && !request.readableEnded) drainThenClose(request, response);
    };
    if (response.writableEnded) answered();
    else response.once("prefinish", answered);
  }

  /** Moves a socket in or out of the pending set after a change. */
  #update(socket: Socket, entry: Entry): void {
    const pending = !entry.upgraded && entry.active === 0;
    if (pending === (entry.pendingSince !== undefined)) return;
    if (pending) {
      entry.pendingSince = Date.now();
      this.#pending.add(socket);
      this.#pendingBySource.add(entry.source);
    } else {
      entry.pendingSince = undefined;
      this.#pending.delete(socket);
      this.#pendingBySource.remove(entry.source);
    }
  }

  #forget(socket: Socket): void {
    const entry = this.#open.get(socket);
    if (entry === undefined) return;
    this.#open.delete(socket);
    if (entry.pendingSince !== undefined) {
      this.#pending.delete(socket);
      this.#pendingBySource.remove(entry.source);
    }
  }

  /**
   * Answers a socket the HTTP parser never sees with the refusal and closes it: once the client
   * closes its end, after {@link REFUSAL_LINGER_MS}, or right after the answer when too many linger.
   */
  #refuse(socket: Socket, refusal: UpgradeRefusal): void {
    socket.on("error", () => socket.destroy());
    if (this.#lingering >= this.#options.maxLingering()) {
      socket.once("finish", () => socket.destroy());
      socket.end(refusalResponse(refusal));
      return;
    }
    this.#lingering++;
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    timer.unref();
    socket.once("close", () => {
      this.#lingering--;
      clearTimeout(timer);
    });
    socket.once("end", () => socket.destroy());
    socket.end(refusalResponse(refusal));
    socket.resume(); // what the client sent is read and dropped
  }
}
