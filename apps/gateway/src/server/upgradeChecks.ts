import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { ERROR_CODE_INFO, ProtocolError } from "@openclaw/protocol";
import { isAllowedOrigin } from "../auth/guards";

/** How long a refused client should wait, by reason of refusal. */
export const UPGRADE_RETRY_AFTER_MS = {
  /** The gateway is shutting down. */
  shuttingDown: 1000,
  /** The connection cap (`gateway.maxConnections`, or what the descriptor limit allows) is reached. */
  tooManyConnections: 5000,
  /** `gateway.maxHandshakesPerSource` is reached. */
  tooManyHandshakes: 1000,
} as const;

/** What the upgrade checks look at: the request and the gateway's counts, read before accepting. */
export interface UpgradeFacts {
  /** Whether the gateway accepts new connections. */
  running: boolean;
  /** The request's `Origin` header. */
  origin: string | undefined;
  /** The request's `Host` header. */
  host: string | undefined;
  /** How much longer the client's address is refused for failed logins (0: not refused). */
  blockedForMs: number;
  /** Connections open now. */
  connections: number;
  /** WebSocket connections accepted at once (see `connectionCapacity`). */
  maxConnections: number;
  /** Connections beyond `maxConnections` this upgrade may take (it carries the admin token). */
  extraConnections: number;
  /** Handshakes unfinished now from the client's address. */
  handshakesFromSource: number;
}

/** The config the upgrade checks read (a subset of `Config`). */
export interface UpgradeLimits {
  security: { allowedOrigins: readonly string[]; allowedHosts: readonly string[] };
  gateway: { maxHandshakesPerSource: number };
}

/** A refused upgrade: the error answered (with its HTTP status) and an optional `Retry-After`. */
export interface UpgradeRefusal {
  error: ProtocolError;
  retryAfterMs?: number;
  /** The HTTP status, when not the one of the error's code. */
  status?: number;
}

/**
 * Decides whether a WebSocket upgrade may proceed, in order: shutting down, origin, failed logins,
 * connection limit, handshakes per address.
 *
 * @param facts - The request and the counts.
 * @param config - The config in force (`security`, `gateway`).
 * @returns The refusal, or `null` to accept.
 */
export function checkUpgrade(facts: UpgradeFacts, config: UpgradeLimits): UpgradeRefusal | null {
  if (!facts.running)
    return {
      error: new ProtocolError("SHUTTING_DOWN", "gateway shutting down", {
        details: { reason: "shutting_down" },
      }),
      retryAfterMs: UPGRADE_RETRY_AFTER_MS.shuttingDown,
    };
  if (facts.origin !== undefined && !isAllowedOrigin(facts.origin, facts.host, config.security))
    return {
      error: new ProtocolError("FORBIDDEN", `origin ${facts.origin} is not allowed`, {
        details: {
          reason: "origin_not_allowed",
          nextStep: "add the origin to security.allowedOrigins, or its host to security.allowedHosts",
        },
      }),
    };
  if (facts.blockedForMs > 0)
    return {
      error: new ProtocolError("RATE_LIMITED", "too many failed logins from this address", {
        details: { reason: "too_many_failed_logins", retryAfterMs: facts.blockedForMs },
      }),
      retryAfterMs: facts.blockedForMs,
    };
  const { maxHandshakesPerSource } = config.gateway;
  const { maxConnections } = facts;
  if (facts.connections >= maxConnections + facts.extraConnections) {
    const retryAfterMs = UPGRADE_RETRY_AFTER_MS.tooManyConnections;
    return {
      error: new ProtocolError("OVERLOADED", "too many connections", {
        details: { reason: "too_many_connections", limit: maxConnections, retryAfterMs },
      }),
      retryAfterMs,
    };
  }
  if (facts.handshakesFromSource >= maxHandshakesPerSource) {
    const retryAfterMs = UPGRADE_RETRY_AFTER_MS.tooManyHandshakes;
    return {
      error: new ProtocolError("OVERLOADED", "too many unfinished handshakes from this address", {
        details: { reason: "too_many_handshakes_from_source", limit: maxHandshakesPerSource, retryAfterMs },
      }),
      retryAfterMs,
    };
  }
  return null;
}

/**
 * The raw HTTP response refusing an upgrade: the error's status, JSON body, `Retry-After` in seconds.
 *
 * @param refusal - What {@link checkUpgrade} decided.
 * @returns The response text, ready for the socket.
 */
export function refusalResponse(refusal: UpgradeRefusal): string {
  const status = refusal.status ?? ERROR_CODE_INFO[refusal.error.code].httpStatus;
  const retryAfter =
    refusal.retryAfterMs === undefined
      ? ""
      : `Retry-After: ${Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))}\r\n`;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\n${retryAfter}Connection: close\r\n\r\n${JSON.stringify({ error: refusal.error.toJSON() })}`;
}

/**
 * Ends an upgrade's socket with the refusal and frees its descriptor as soon as the answer is
 * written, without waiting for the client to close its end.
 *
 * Node's HTTP server takes its own `error` listener off a socket it hands to `upgrade`: without one
 * here, a client resetting the connection (as clients in a reconnect storm do) would throw
 * `ECONNRESET` out of the process.
 */
export function refuseUpgrade(socket: Duplex, refusal: UpgradeRefusal): void {
  socket.on("error", () => socket.destroy());
  socket.once("finish", () => socket.destroy());
  socket.end(refusalResponse(refusal));
}
