import { isIP } from "node:net";

/**
 * The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
 * (RFC 7235 §2.1), so `bearer` and `BEARER` work too.
 *
 * @param header - The header's value, if any.
 * @returns The token, or `undefined` when the header is absent, empty or of another scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bearer\s+(\S.*?)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * The host name of a `Host` header (or an origin's host), without port and brackets, lower case.
 *
 * @param host - E.g. `localhost:18789`, `[::1]:18789`, `Example.COM`.
 * @returns E.g. `localhost`, `::1`, `example.com`; `undefined` for an empty value.
 */
export function hostName(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const trimmed = host.trim().toLowerCase();
  if (trimmed === "") return undefined;
  if (trimmed.startsWith("[")) {
    const end = trimmed.indexOf("]");
    return end === -1 ? undefined : trimmed.slice(1, end);
  }
  const colon = trimmed.lastIndexOf(":");
  // More than one colon and no brackets: a bare IPv6 address without a port.
  if (colon !== -1 && trimmed.indexOf(":") === colon) return trimmed.slice(0, colon);
  return trimmed.replace(/\.$/, "");
}

/**
 * Whether browsers may treat this `Host` as the gateway itself: an IP address (DNS rebinding needs a
 * name), a loopback name (`localhost`, `*.localhost`), or a name listed in `security.allowedHosts`.
 *
 * @param host - The request's `Host` header.
 * @param allowedHosts - `security.allowedHosts`.
 * @returns Whether same-origin requests under this host are trusted.
 */
export function isAllowedHost(host: string | undefined, allowedHosts: readonly string[]): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  if (isIP(name) !== 0) return true;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  return allowedHosts.some((allowed) => allowed.toLowerCase().replace(/\.$/, "") === name);
}

/**
 * Whether a browser `Origin` may open a WebSocket: listed in `security.allowedOrigins`, or the
 * gateway's own origin (same host as the request, and that host trusted by {@link isAllowedHost}).
 *
 * @returns Whether the upgrade may go on.
 */
export function isAllowedOrigin(
  origin: string,
  host: string | undefined,
  security: { allowedOrigins: readonly string[]; allowedHosts: readonly string[] },
): boolean {
  if (security.allowedOrigins.includes(origin)) return true;
  if (host === undefined) return false;
  const sameOrigin = origin === `http://${host}` || origin === `https://${host}`;
  return sameOrigin && isAllowedHost(host, security.allowedHosts);
}

/** Limits of {@link AuthFailures}. */
export interface AuthFailureLimits {
  /** Failed logins per minute from one address before it is refused. */
  maxPerMinute: number;
  /** How long an address stays refused. */
  blockMs: number;
}

/** Addresses whose failures are tracked at once; the oldest are forgotten first. */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** At most one refusal log line per address in this window; the rest are counted into the next one. */
export const AUTH_LOG_INTERVAL_MS = 10_000;

interface Source {
  failures: number[];
  blockedUntil: number;
  /** Refusals since the last log line, and when that line was written. */
  unlogged: number;
  loggedAt: number;
}

/**
 * Failed logins by source address: after `maxPerMinute` failures an address is refused for
 * `blockMs`, without affecting other addresses. Also decides when a refusal is worth a log line, so
 * that a flood of wrong tokens is visible in the log without flooding it.
 */
export class AuthFailures {
  readonly #sources = new Map<string, Source>();

  /**
   * @param limits - The limits in force (read at every failure, so reloads apply).
   * @param logger - Where refusals are logged.
   */
  constructor(
    private readonly limits: () => AuthFailureLimits,
    private readonly logger: { warn(fields: object, message: string): void },
  ) {}

  /**
   * How long this address is still refused.
   *
   * @returns Milliseconds, or 0 when it may try.
   */
  blockedFor(address: string, now = Date.now()): number {
    const source = this.#sources.get(address);
    if (source === undefined) return 0;
    return Math.max(0, source.blockedUntil - now);
  }

  /**
   * Records a refused login and logs it (never the token): at most one line per address every
   * {@link AUTH_LOG_INTERVAL_MS}, counting the refusals it stands for, and one when the address
   * becomes blocked.
   *
   * @param address - Where the login came from.
   * @param reason - Why it was refused (`token_missing`, `token_mismatch`, …).
   * @param via - The surface it came in on.
   */
  refuse(address: string, reason: string, via: "websocket" | "http", now = Date.now()): void {
    const { log, count, blocked } = this.#fail(address, now);
    if (!log) return;
    this.logger.warn(
      { address, reason, via, refusals: count, blocked },
      blocked ? "login refused; too many failures, the address is refused for a while" : "login refused",
    );
  }

  #fail(address: string, now: number): { log: boolean; count: number; blocked: boolean } {
    const { maxPerMinute, blockMs } = this.limits();
    let source = this.#sources.get(address);
    if (source === undefined) {
      source = { failures: [], blockedUntil: 0, unlogged: 0, loggedAt: 0 };
      if (this.#sources.size >= MAX_TRACKED_ADDRESSES) {
        const oldest = this.#sources.keys().next().value;
        if (oldest !== undefined) this.#sources.delete(oldest);
      }
    } else {
      this.#sources.delete(address); // re-inserted last: ordered by recent failure
    }
    this.#sources.set(address, source);
    while (source.failures.length > 0 && source.failures[0]! <= now - 60_000) source.failures.shift();
    source.failures.push(now);
    let blocked = false;
    if (source.failures.length >= maxPerMinute && source.blockedUntil <= now) {
      source.blockedUntil = now + blockMs;
      source.failures = [];
      blocked = true;
    }
    source.unlogged += 1;
    if (blocked || now - source.loggedAt >= AUTH_LOG_INTERVAL_MS) {
      const count = source.unlogged;
      source.unlogged = 0;
      source.loggedAt = now;
      return { log: true, count, blocked };
    }
    return { log: false, count: 0, blocked };
  }

  /** Forgets addresses with nothing to remember (called from the heartbeat). */
  sweep(now = Date.now()): void {
    for (const [address, source] of this.#sources) {
      if (source.blockedUntil <= now && source.failures.every((at) => at <= now - 60_000))
        this.#sources.delete(address);
    }
  }
}

/** Counts things by a key (connections by address), forgetting keys that reach zero. */
export class Counter {
  readonly #counts = new Map<string, number>();
  #total = 0;

  /** The count of one key. */
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** The sum over all keys. */
  get total(): number {
    return this.#total;
  }

  add(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
    this.#total += 1;
  }

  remove(key: string): void {
    const count = this.get(key);
    if (count === 0) return;
    if (count === 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
    this.#total -= 1;
  }
}
