import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP } from "node:net";

/*
 * Where a client comes from, for every limit counted per source (handshakes, failed logins, pairing
 * slots and requests, chat sends, …). This module is the single place that decides it:
 * `requestSource` for an HTTP request or WebSocket upgrade (it honours forwarding headers from
 * trusted proxies), `sourceKey` for a bare socket address.
 */

/**
 * An IP address in canonical form: without brackets, zone or port, lower case, an IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`, `::ffff:c000:201`) as its IPv4 address.
 *
 * @param address - E.g. `::FFFF:127.0.0.1`, `[2001:db8::1]`, `fe80::1%eth0`.
 * @returns The address, or `undefined` when it is not an IP address.
 */
export function canonicalAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  let text = address.trim().toLowerCase();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  const groups = ipv6Groups(text);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  return text;
}

/**
 * The key per-source limits count by: an IPv4 address as is, an IPv6 address by its /64 (one
 * subscriber's network: a single host can use any address in it), an IPv4-mapped IPv6 address as
 * its IPv4 address.
 *
 * @param address - A client's address (a socket's `remoteAddress`, or one named by a trusted proxy).
 * @returns E.g. `192.0.2.1`, `2001:db8:1:2::/64`; what is not an IP address is its own key
 *   (`""` for none).
 */
export function sourceKey(address: string | undefined): string {
  const canonical = canonicalAddress(address);
  if (canonical === undefined) return address ?? "";
  if (isIP(canonical) === 4) return canonical;
  const prefix = ipv6Groups(canonical)
    .slice(0, 4)
    .map((group) => group.toString(16));
  return `${prefix.join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`isIP` said 6). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  // An embedded IPv4 address (`::ffff:192.0.2.1`) is the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const [a, b, c, d] = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, lastColon);
    if (text.endsWith(":")) text += ":"; // `::1.2.3.4`, `1::1.2.3.4`
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (part: string) =>
    part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16));
  const left = parse(head);
  const right = [...parse(rest ?? ""), ...tail];
  if (rest === undefined) return [...left, ...right];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** Trusted proxy lists, compiled once per list (the config's array; a reload brings a new one). */
const compiled = new WeakMap<readonly string[], BlockList>();

/**
 * Whether an address is one of the trusted proxies.
 *
 * @param address - A canonical address ({@link canonicalAddress}).
 * @param trustedProxies - `gateway.trustedProxies`: addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
 */
export function isTrustedProxy(address: string, trustedProxies: readonly string[]): boolean {
  if (trustedProxies.length === 0) return false;
  let list = compiled.get(trustedProxies);
  if (list === undefined) {
    list = new BlockList();
    for (const entry of trustedProxies) {
      const slash = entry.indexOf("/");
      const host = canonicalAddress(slash === -1 ? entry : entry.slice(0, slash));
      if (host === undefined) continue; // the config schema refuses these
      const type = isIP(host) === 4 ? "ipv4" : "ipv6";
      if (slash === -1) list.addAddress(host, type);
      else {
        // A mapped IPv4 range (`::ffff:10.0.0.0/104`) is matched as the IPv4 range it maps.
        let prefix = Number(entry.slice(slash + 1));
        if (type === "ipv4" && isIP(entry.slice(0, slash).replace(/^\[|\]$/g, "")) === 6) prefix -= 96;
        list.addSubnet(host, Math.max(0, prefix), type);
      }
    }
    compiled.set(trustedProxies, list);
  }
  return list.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
}

/**
 * The addresses an `X-Forwarded-For` header names, left (the first client) to right (the last
 * proxy's peer); an entry that is no address (`unknown`, garbage) is `undefined`.
 */
function forwardedForChain(header: string | string[] | undefined): Array<string | undefined> | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(",") : header;
  return text.split(",").map((entry) => hopAddress(entry.trim()));
}

/** The `for=` addresses of an RFC 7239 `Forwarded` header, left to right, as {@link forwardedForChain}. */
function forwardedChain(header: string | string[] | undefined): Array<string | undefined> | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(",") : header;
  return text.split(",").map((element) => {
    for (const pair of element.split(";")) {
      const equals = pair.indexOf("=");
      if (equals === -1 || pair.slice(0, equals).trim().toLowerCase() !== "for") continue;
      let value = pair.slice(equals + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
      return hopAddress(value);
    }
    return undefined;
  });
}

/** One hop's address: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]:80`; else `undefined`. */
function hopAddress(value: string): string | undefined {
  const direct = canonicalAddress(value);
  if (direct !== undefined) return direct;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed !== null) return canonicalAddress(bracketed[1]);
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(value);
  return withPort === null ? undefined : canonicalAddress(withPort[1]);
}

/**
 * The client at the far end of a chain of proxies: walking from the direct peer to the left, the
 * first address that is not a trusted proxy. A hop that names no address stops the walk at the
 * last trusted proxy (which then counts as the client); so does a chain of trusted proxies only.
 */
function walk(peer: string, chain: Array<string | undefined>, trustedProxies: readonly string[]): string {
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i];
    if (hop === undefined) return peer;
    if (!isTrustedProxy(hop, trustedProxies)) return hop;
  }
  return peer;
}

/**
 * The address of the client that sent a request. It is the socket's peer, unless the peer is a
 * trusted proxy (`gateway.trustedProxies`): then the right-most address in `X-Forwarded-For` or
 * `Forwarded` (RFC 7239, `for=`) that is not itself a trusted proxy. Headers from any other peer are
 * ignored, so a client cannot choose its own source. When a trusted proxy's request carries both
 * headers and they name different clients (the proxy wrote one, the client the other), neither is
 * believed: the request counts as the proxy's own.
 *
 * @param peer - The socket's `remoteAddress`.
 * @param headers - The request's headers.
 * @param trustedProxies - `gateway.trustedProxies`.
 * @returns The client's address (canonical), or the peer as given when it is no IP address.
 */
export function clientAddress(
  peer: string | undefined,
  headers: IncomingHttpHeaders,
  trustedProxies: readonly string[],
): string {
  const direct = canonicalAddress(peer);
  if (direct === undefined) return peer ?? "";
  if (!isTrustedProxy(direct, trustedProxies)) return direct;
  const candidates = [forwardedForChain(headers["x-forwarded-for"]), forwardedChain(headers.forwarded)]
    .filter((chain) => chain !== undefined)
    .map((chain) => walk(direct, chain, trustedProxies));
  const [first] = candidates;
  if (first === undefined || candidates.some((candidate) => candidate !== first)) return direct;
  return first;
}

/**
 * The source a request counts against in every per-source limit: {@link sourceKey} of its
 * {@link clientAddress}. WebSocket upgrades and HTTP requests (`/v1`, the token check) alike.
 *
 * @param request - The request (its socket's peer and its headers).
 * @param trustedProxies - `gateway.trustedProxies` (read at each request, so a reload applies).
 * @returns The source key, e.g. `203.0.113.7` or `2001:db8:1:2::/64`.
 */
export function requestSource(
  request: {
    readonly socket: { readonly remoteAddress?: string | undefined };
    readonly headers: IncomingHttpHeaders;
  },
  trustedProxies: readonly string[],
): string {
  return sourceKey(clientAddress(request.socket.remoteAddress, request.headers, trustedProxies));
}
