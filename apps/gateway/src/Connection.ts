import type { ClientInfo, Role, Scope } from "@openclaw/protocol";
import { CloseCode } from "@openclaw/protocol";
import type { WebSocket } from "ws";

/** A token bucket: `ratePerSecond` sustained, `burst` at once. */
export class RateLimiter {
  #tokens: number;
  #last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.#tokens = burst;
    this.#last = Date.now();
  }

  /**
   * Takes one token.
   *
   * @returns 0 when allowed, else the milliseconds until a token is available.
   */
  take(): number {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.ratePerSecond);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.ratePerSecond) * 1000);
  }
}

/** One WebSocket client of the gateway. */
export class Connection {
  state: "handshaking" | "ready" | "closed" = "handshaking";
  role: Role | undefined;
  scopes: ReadonlySet<Scope> = new Set();
  client: ClientInfo | undefined;
  /** For nodes: the id registered in the node registry. */
  nodeId: string | undefined;
  /** What the handshake granted: the token level, a paired device, or pairing only. */
  grant: "admin" | "operator" | "node" | "pairing" | undefined;
  /** The operator or admin token this connection logged in with (checked again when tokens rotate). */
  token: string | undefined;
  /** For pairing connections: how often `pairing.start` may be called. */
  pairingLimiter: RateLimiter | undefined;
  /** The limited slot the connection holds: still handshaking, or connected unauthenticated to pair. */
  slot: "handshake" | "pairing" | undefined;
  /** Set by ws-level pings: false once a ping went unanswered. */
  alive = true;
  handshakeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly remoteAddress: string,
    readonly bearerToken: string | undefined,
    public limiter: RateLimiter,
    private readonly maxBufferedBytes: () => number,
  ) {}

  /** Whether the connection holds any of these scopes. */
  hasAnyScope(scopes: readonly Scope[]): boolean {
    for (const scope of scopes) if (this.scopes.has(scope)) return true;
    return false;
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
    if (this.state === "closed" || this.socket.readyState !== this.socket.OPEN) return false;
    if (this.socket.bufferedAmount > this.maxBufferedBytes()) {
      this.close(CloseCode.PolicyViolation, "slow consumer: too much unread data");
      // The close frame waits behind the unread data; do not wait for the peer.
      setTimeout(() => this.socket.terminate(), 1000).unref();
      return false;
    }
    if (typeof frame === "string") this.socket.send(frame);
    else this.socket.send(frame, { binary: false });
    return true;
  }

  /** Closes the socket (politely) and marks the connection closed. */
  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
  }
}
