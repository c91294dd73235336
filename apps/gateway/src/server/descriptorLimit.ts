import { readdirSync, readFileSync } from "node:fs";

/**
 * The connection cap when neither `gateway.maxConnections` is set nor the process's descriptor limit
 * can be read (not Linux, or no `/proc`).
 * @defaultValue 20000
 */
export const FALLBACK_MAX_CONNECTIONS = 20_000;

/**
 * The smallest descriptor reserve: descriptors the gateway keeps for itself (its journals and state
 * files, `/health` and other HTTP requests, outbound platform and Redis sockets, DNS) beyond the
 * WebSocket clients it accepts. The default reserve is the larger of this and
 * {@link DESCRIPTOR_RESERVE_SHARE} of the limit.
 * @defaultValue 64
 */
export const MIN_DESCRIPTOR_RESERVE = 64;

/**
 * The share of the descriptor limit kept in reserve by default (500 of 20,000).
 * @defaultValue 0.025
 */
export const DESCRIPTOR_RESERVE_SHARE = 0.025;

/**
 * Reads the soft limit on open files (`Max open files` in `/proc/self/limits`).
 *
 * @param text - The file's text (read from `/proc/self/limits` when omitted).
 * @returns The limit, or `undefined` when it is unlimited or cannot be read.
 */
export function readDescriptorLimit(text?: string): number | undefined {
  let limits = text;
  if (limits === undefined) {
    try {
      limits = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return undefined;
    }
  }
  const line = limits.split("\n").find((row) => row.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  const value = Number(soft);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * Counts the descriptors this process holds now (entries of `/proc/self/fd`).
 *
 * @returns The count, or `undefined` where it cannot be read (not Linux, or no `/proc`).
 */
export function countOpenDescriptors(): number | undefined {
  try {
    // The listing itself holds one descriptor while it reads.
    return Math.max(0, readdirSync("/proc/self/fd").length - 1);
  } catch {
    return undefined;
  }
}

/** How many WebSocket connections the gateway accepts, and why. */
export interface ConnectionCapacity {
  /** WebSocket connections accepted at once (admins may use `adminConnections` more). */
  maxConnections: number;
  /** Extra connections for upgrades that carry the admin token in `Authorization: Bearer`. */
  adminConnections: number;
  /** HTTP connections (WebSockets included) the server holds at once; `undefined`: no cap. */
  maxSockets: number | undefined;
  /** The process's descriptor limit, when known. */
  descriptorLimit: number | undefined;
  /** Descriptors kept free for the gateway's own use. */
  reserve: number;
  /** Where `maxConnections` comes from. */
  source: "config" | "descriptor_limit" | "fallback";
}

/**
 * Derives the connection cap from the descriptor limit: the limit minus the reserve, or the
 * configured `gateway.maxConnections` when that is lower.
 *
 * @param options.descriptorLimit - The soft limit on open files (`undefined`: unknown).
 * @param options.configured - `gateway.maxConnections`, if set.
 * @param options.reserve - `gateway.descriptorReserve`, if set.
 * @param options.adminConnections - `gateway.adminConnections`.
 * @returns The capacity.
 */
export function connectionCapacity(options: {
  descriptorLimit: number | undefined;
  configured?: number | undefined;
  reserve?: number | undefined;
  adminConnections: number;
}): ConnectionCapacity {
  const { descriptorLimit, configured, adminConnections } = options;
  if (descriptorLimit === undefined)
    return {
      maxConnections: configured ?? FALLBACK_MAX_CONNECTIONS,
      adminConnections,
      maxSockets: undefined,
      descriptorLimit,
      reserve: 0,
      source: configured === undefined ? "fallback" : "config",
    };
  const reserve =
    options.reserve ??
    Math.max(MIN_DESCRIPTOR_RESERVE, Math.ceil(descriptorLimit * DESCRIPTOR_RESERVE_SHARE));
  const allowed = Math.max(1, descriptorLimit - reserve);
  const fromLimit = configured === undefined || configured > allowed;
  // A quarter of the reserve is for sockets beyond the WebSocket cap (admins' connections, at most
  // an eighth, then `/health` and other HTTP requests); three quarters stay for the process's own
  // descriptors (about 30 for a bare gateway: stdio, the event loop, journals, state writes) and
  // its outbound platform and Redis sockets.
  return {
    maxConnections: fromLimit ? allowed : configured,
    adminConnections: Math.max(0, Math.min(adminConnections, Math.floor(reserve / 8))),
    maxSockets: Math.max(1, descriptorLimit - Math.ceil((reserve * 3) / 4)),
    descriptorLimit,
    reserve,
    source: fromLimit ? "descriptor_limit" : "config",
  };
}
