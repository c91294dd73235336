import { randomBytes } from "node:crypto";
import {
  type ClientInfo,
  CloseCode,
  DEFAULT_MAX_FRAME_BYTES,
  encodeRequest,
  MAX_ID_LENGTH,
  type NodeInfo,
  ProtocolError,
  parseFrame,
  type ResponseFrame,
  TRACEPARENT_PATTERN,
} from "@openclaw/protocol";
import { EventEmitter } from "eventemitter3";
import { NodeRegistryError } from "./NodeRegistryError";
import type { NodeSocket } from "./NodeSocket";

/** Options of a {@link NodeRegistry}. Every limit is named here. */
export interface NodeRegistryOptions {
  /**
   * Time limit of an `invoke` without its own `timeoutMs`.
   * @defaultValue 30000
   */
  defaultTimeoutMs?: number;
  /**
   * Largest `timeoutMs` an `invoke` may ask for.
   * @defaultValue 600000 (10 minutes)
   */
  maxTimeoutMs?: number;
  /**
   * Calls that may be pending on one node; more are refused with `RATE_LIMITED`.
   * @defaultValue 1000
   */
  maxPendingPerNode?: number;
  /**
   * When a node's socket has more than this many bytes queued, new calls are refused with
   * `RATE_LIMITED` instead of piling up in memory.
   * @defaultValue 4194304 (4 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Nodes the registry holds; `register` beyond it throws `CONFLICT`.
   * @defaultValue 10000
   */
  maxNodes?: number;
  /**
   * Largest response frame accepted from a node, in bytes.
   * @defaultValue 1048576
   */
  maxFrameBytes?: number;
  /**
   * How long the calls pending on a node that disconnected wait for it to come back. A node that
   * registers again within it gets each of them again, with the same request id (so it can tell a
   * repeat); past it they fail with `NODE_OFFLINE`. `0` fails them the moment the node disconnects.
   * The calls' own timeouts keep running meanwhile.
   * @defaultValue 0
   */
  reconnectGraceMs?: number;
  /**
   * Clock for `connectedAt`.
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/** The defaults of {@link NodeRegistryOptions}. */
export const DEFAULT_NODE_REGISTRY_OPTIONS = Object.freeze({
  defaultTimeoutMs: 30_000,
  maxTimeoutMs: 600_000,
  maxPendingPerNode: 1000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxNodes: 10_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  reconnectGraceMs: 0,
});

/** Extra facts recorded with a node at {@link NodeRegistry.register}. */
export interface RegisterOptions {
  /** A human name ("Ana's phone"); `resolve` matches it case-insensitively. */
  displayName?: string;
  /** What the node reported in its `connect`. */
  client?: ClientInfo;
}

/** Options of one {@link NodeRegistry.invoke}. */
export interface InvokeOptions {
  /** Time limit of this call. */
  timeoutMs?: number;
  /** Aborting rejects the call with the signal's reason and forgets it. */
  signal?: AbortSignal;
  /**
   * The request id to send instead of a fresh one (1 to `MAX_ID_LENGTH` characters, not pending on
   * this node already). A gateway instance that forwards a call made on another instance keeps its
   * caller's id, so a node that moved between instances sees a repeated call under the same id and
   * can tell it is one.
   * @defaultValue a fresh id, unique across registries
   */
  id?: string;
  /**
   * The caller's W3C trace context, sent as the frame's `traceparent` so that the node's spans join
   * the caller's trace. Left out when it is not a valid `traceparent`.
   * @defaultValue none
   */
  traceparent?: string | undefined;
}

/** Why a node went offline. */
export type OfflineReason = "disconnected" | "replaced" | "revoked" | "timeout" | "shutdown";

/** Event names of a {@link NodeRegistry}, matching the gateway's wire events. */
export const NodeRegistryEvents = {
  NodeOnline: "node.online",
  NodeOffline: "node.offline",
} as const;

/** Listeners of a {@link NodeRegistry}'s events. */
export interface NodeRegistryEventMap {
  "node.online": (node: NodeInfo) => void;
  "node.offline": (event: { nodeId: string; reason: OfflineReason }) => void;
}

/** What {@link NodeRegistry.receive} did with a frame. */
export type ReceiveResult =
  /** A response that settled a pending call. */
  | "settled"
  /** A response to a call that has already timed out or been cancelled: ignored. */
  | "late"
  /** Not a response to one of our calls (an event, a request, a foreign id): the caller handles it. */
  | "not-a-response"
  /** Not a valid frame; if its id named a pending call, that call failed with `INVALID_FRAME`. */
  | "malformed";

interface Pending {
  readonly method: string;
  /** The request as sent, to send again after a reconnect. */
  readonly frame: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly cleanup: () => void;
}

interface NodeEntry {
  readonly info: NodeInfo;
  readonly socket: NodeSocket;
  readonly capabilities: ReadonlySet<string>;
  readonly pending: Map<string, Pending>;
  /** Ids we issued on this node that timed out or were cancelled, so a late answer is recognised. */
  readonly expired: Set<string>;
}

const UNKNOWN_CLIENT: ClientInfo = Object.freeze({ name: "unknown", version: "0.0.0", platform: "unknown" });
/** A node advertising this capability handles every command. */
const ANY_COMMAND = "*";
/** How many expired call ids are remembered per node to tell late answers from foreign ones. */
const MAX_EXPIRED_IDS = 1024;

/**
 * Which devices ("nodes") are online, what they can do, and RPC to them. The transport is a
 * {@link NodeSocket}; the owner of the connection feeds the node's frames to {@link NodeRegistry.receive}
 * and calls {@link NodeRegistry.unregister} when it closes.
 *
 * `invoke` sends a `req` frame and settles on the matching `res`: the result, the node's own typed
 * error, `TIMEOUT`, or `NODE_OFFLINE` the moment the node disconnects. Nothing is left in memory
 * after a call settles.
 *
 * @example
 * ```ts
 * const registry = new NodeRegistry();
 * wss.on("connection", (ws) => {
 *   registry.register("mobile-device-1", ws, ["agent.run"]);
 *   ws.on("message", (data) => registry.receive("mobile-device-1", data as Buffer));
 *   ws.on("close", () => registry.unregister("mobile-device-1", "disconnected", ws));
 * });
 * const node = registry.resolve(undefined, "agent.run");
 * if (node) console.log(await registry.invoke(node.nodeId, "agent.run", { input: "hi" }, { timeoutMs: 10_000 }));
 * ```
 */
export class NodeRegistry extends EventEmitter<NodeRegistryEventMap> {
  readonly #options: Required<NodeRegistryOptions>;
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #byCapability = new Map<string, Set<string>>();
  readonly #byDisplayName = new Map<string, Set<string>>();
  /** Nodes that disconnected with calls pending, within the reconnect grace period. */
  readonly #waiting = new Map<string, { entry: NodeEntry; timer: ReturnType<typeof setTimeout> }>();
  /** Call ids are unique across registries (and gateway restarts), so a node's dedupe by id is safe. */
  readonly #callPrefix = `inv-${randomBytes(4).toString("hex")}-`;
  #nextCallId = 0;

  /**
   * @param options - Limits and clock; see {@link NodeRegistryOptions}.
   */
  constructor(options: NodeRegistryOptions = {}) {
    super();
    this.#options = { ...DEFAULT_NODE_REGISTRY_OPTIONS, now: Date.now, ...stripUndefined(options) };
  }

  /** Number of nodes online. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * Registers a node. A node already registered under `nodeId` is replaced: its pending calls fail
   * with `NODE_OFFLINE` (`details.reason: "replaced"`) and its old socket is closed.
   *
   * @param nodeId - The node's stable id.
   * @param socket - Its connection.
   * @param capabilities - Commands it can execute (`"*"` for all).
   * @param options - Display name and client info.
   * @returns What the registry now knows of the node.
   * @throws {@link NodeRegistryError} `INVALID_PARAMS` for a bad id or capability list, `CONFLICT` when `maxNodes` is reached.
   */
  register(
    nodeId: string,
    socket: NodeSocket,
    capabilities: readonly string[],
    options: RegisterOptions = {},
  ): NodeInfo {
    if (typeof nodeId !== "string" || nodeId.length === 0 || nodeId.length > MAX_ID_LENGTH) {
      throw new NodeRegistryError("INVALID_PARAMS", `node id must be 1-${MAX_ID_LENGTH} characters`, {
        details: { reason: "invalid_node_id" },
      });
    }
    if (
      !Array.isArray(capabilities) ||
      capabilities.length > 256 ||
      !capabilities.every((c) => typeof c === "string" && c.length > 0 && c.length <= 128)
    ) {
      throw new NodeRegistryError(
        "INVALID_PARAMS",
        "capabilities must be at most 256 strings of 1-128 characters",
        {
          details: { reason: "invalid_capabilities" },
        },
      );
    }
    const existing = this.#nodes.get(nodeId);
    if (existing !== undefined) {
      // A newer connection of the same node: its calls move over when there is a grace period.
      this.#remove(existing, "replaced", this.#options.reconnectGraceMs > 0);
      try {
        existing.socket.close(CloseCode.Normal, "replaced by a newer connection");
      } catch {
        // already closed
      }
    } else if (this.#nodes.size >= this.#options.maxNodes) {
      throw new NodeRegistryError(
        "CONFLICT",
        `the registry holds its maximum of ${this.#options.maxNodes} nodes`,
        {
          details: { reason: "limit_reached", maxNodes: this.#options.maxNodes },
        },
      );
    }
    const info: NodeInfo = {
      nodeId,
      capabilities: [...new Set(capabilities)],
      client: options.client ?? UNKNOWN_CLIENT,
      connectedAt: this.#options.now(),
    };
    if (options.displayName !== undefined) info.displayName = options.displayName;
    const waiting = this.#waiting.get(nodeId);
    if (waiting !== undefined) {
      clearTimeout(waiting.timer);
      this.#waiting.delete(nodeId);
    }
    const entry: NodeEntry = {
      info,
      socket,
      capabilities: new Set(capabilities),
      // Calls left pending by the node's previous connection carry on here (their timers hold the same map).
      pending: waiting?.entry.pending ?? new Map(),
      expired: waiting?.entry.expired ?? new Set(),
    };
    this.#nodes.set(nodeId, entry);
    for (const capability of entry.capabilities) addTo(this.#byCapability, capability, nodeId);
    if (info.displayName !== undefined) addTo(this.#byDisplayName, info.displayName.toLowerCase(), nodeId);
    this.emit("node.online", copyInfo(info));
    if (waiting !== undefined) this.#redeliver(entry);
    return copyInfo(info);
  }

  /**
   * Removes a node: every pending call fails with `NODE_OFFLINE` at once. Pass the socket from
   * a close handler, so that a stale connection closing cannot remove the node's newer one.
   *
   * @param nodeId - The node.
   * @param reason - Why; reported in `node.offline` and in the failed calls' `details.reason`.
   * @param socket - When given, the node is removed only if this is still its socket.
   * @returns `true` when a node was removed.
   */
  unregister(nodeId: string, reason: OfflineReason = "disconnected", socket?: NodeSocket): boolean {
    const entry = this.#nodes.get(nodeId);
    if (entry === undefined || (socket !== undefined && entry.socket !== socket)) return false;
    this.#remove(entry, reason);
    return true;
  }

  /**
   * Looks up a connected node by id.
   *
   * @param nodeId - The node.
   * @returns A copy of its info, or `undefined`.
   */
  get(nodeId: string): NodeInfo | undefined {
    const entry = this.#nodes.get(nodeId);
    return entry === undefined ? undefined : copyInfo(entry.info);
  }

  /**
   * Every connected node, most recently connected first.
   *
   * @returns Copies of their info.
   */
  list(): NodeInfo[] {
    return [...this.#nodes.values()]
      .sort((a, b) => b.info.connectedAt - a.info.connectedAt || compareIds(a, b))
      .map((entry) => copyInfo(entry.info));
  }

  /**
   * Finds the node that should run `command`.
   *
   * - With `target`: the node with that id, else the node(s) with that display name (case-insensitive).
   * - Without `target`: any node advertising `command`.
   *
   * The node must advertise `command` (or `"*"`) when one is given. Among several candidates the
   * registry picks the one with the fewest pending calls, then the most recently connected, then the
   * smallest id.
   *
   * @param target - Node id or display name; omit to match by capability alone.
   * @param command - The command to run; omit to match by target alone.
   * @returns The chosen node, or `null`.
   */
  resolve(target: string | undefined, command?: string): NodeInfo | null {
    let candidates: Iterable<string>;
    if (target !== undefined) {
      candidates = this.#nodes.has(target) ? [target] : (this.#byDisplayName.get(target.toLowerCase()) ?? []);
    } else if (command !== undefined) {
      candidates = [
        ...(this.#byCapability.get(command) ?? []),
        ...(this.#byCapability.get(ANY_COMMAND) ?? []),
      ];
    } else {
      return null;
    }
    let best: NodeEntry | undefined;
    for (const nodeId of candidates) {
      const entry = this.#nodes.get(nodeId);
      if (entry === undefined) continue;
      if (command !== undefined && !entry.capabilities.has(command) && !entry.capabilities.has(ANY_COMMAND))
        continue;
      if (best === undefined || isBetter(entry, best)) best = entry;
    }
    return best === undefined ? null : copyInfo(best.info);
  }

  /**
   * Calls `method` on a node and resolves with its answer.
   *
   * @param nodeId - The node.
   * @param method - The method name sent in the `req` frame.
   * @param data - The params.
   * @param options - Time limit and abort signal.
   * @returns The node's result.
   * @throws {@link NodeRegistryError} `NODE_OFFLINE`, `TIMEOUT`, `RATE_LIMITED`, `INVALID_FRAME` or
   * `INVALID_PARAMS`; or the node's own `ProtocolError`.
   */
  invoke(nodeId: string, method: string, data?: unknown, options: InvokeOptions = {}): Promise<unknown> {
    const entry = this.#nodes.get(nodeId);
    if (entry === undefined) {
      return Promise.reject(
        new NodeRegistryError("NODE_OFFLINE", `node ${nodeId} is not connected`, {
          details: {
            reason: "not_connected",
            nodeId,
            nextStep: "open the OpenClaw app on the device, or check `openclaw nodes`",
          },
        }),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#options.defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > this.#options.maxTimeoutMs) {
      return Promise.reject(
        new NodeRegistryError(
          "INVALID_PARAMS",
          `timeoutMs must be between 1 and ${this.#options.maxTimeoutMs}`,
          { details: { reason: "invalid_timeout" } },
        ),
      );
    }
    if (entry.pending.size >= this.#options.maxPendingPerNode) {
      return Promise.reject(
        new NodeRegistryError(
          "RATE_LIMITED",
          `node ${nodeId} already has ${entry.pending.size} calls pending`,
          {
            details: {
              reason: "too_many_pending",
              maxPendingPerNode: this.#options.maxPendingPerNode,
              retryAfterMs: 1000,
            },
          },
        ),
      );
    }
    if (entry.socket.bufferedAmount > this.#options.maxBufferedBytes) {
      return Promise.reject(
        new NodeRegistryError("RATE_LIMITED", `node ${nodeId} is not reading its connection`, {
          details: {
            reason: "node_backpressure",
            bufferedAmount: entry.socket.bufferedAmount,
            retryAfterMs: 1000,
          },
        }),
      );
    }
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason);
    if (
      options.id !== undefined &&
      (typeof options.id !== "string" ||
        options.id.length === 0 ||
        options.id.length > MAX_ID_LENGTH ||
        entry.pending.has(options.id))
    ) {
      return Promise.reject(
        new NodeRegistryError(
          "INVALID_PARAMS",
          `a call id must be 1-${MAX_ID_LENGTH} characters and not pending on the node already`,
          { details: { reason: "invalid_call_id" } },
        ),
      );
    }

    const id = options.id ?? `${this.#callPrefix}${++this.#nextCallId}`;
    let frame: string;
    try {
      const traceparent =
        typeof options.traceparent === "string" && TRACEPARENT_PATTERN.test(options.traceparent)
          ? options.traceparent
          : undefined;
      frame = encodeRequest(id, method, data, undefined, traceparent);
    } catch (error) {
      return Promise.reject(
        new NodeRegistryError("INVALID_PARAMS", "data is not JSON-serialisable", {
          details: { reason: "unserialisable" },
          cause: error,
        }),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = () => {
        this.#expire(entry, id);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        this.#expire(entry, id);
        reject(
          new NodeRegistryError("TIMEOUT", `node ${nodeId} did not answer ${method} within ${timeoutMs} ms`, {
            details: { reason: "node_timeout", nodeId, method, timeoutMs },
          }),
        );
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      entry.pending.set(id, {
        method,
        frame,
        resolve,
        reject,
        timer,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      });
      try {
        entry.socket.send(frame);
      } catch (error) {
        this.#settle(entry, id, () =>
          reject(
            new NodeRegistryError("NODE_OFFLINE", `could not send to node ${nodeId}`, {
              details: { reason: "send_failed", nodeId },
              cause: error,
            }),
          ),
        );
      }
    });
  }

  /**
   * Feeds a frame the node sent. Responses to pending calls settle them; anything else is left to
   * the caller (see {@link ReceiveResult}). Never throws.
   *
   * @param nodeId - The node the frame came from.
   * @param frame - The raw frame, or an already parsed response.
   * @returns What was done with it.
   */
  receive(nodeId: string, frame: string | Uint8Array | ResponseFrame): ReceiveResult {
    const entry = this.#nodes.get(nodeId);
    let response: ResponseFrame;
    if (typeof frame === "string" || frame instanceof Uint8Array) {
      const parsed = parseFrame(frame, { maxBytes: this.#options.maxFrameBytes });
      if (!parsed.ok) {
        if (entry !== undefined && parsed.id !== null && entry.pending.has(parsed.id)) {
          const pending = entry.pending.get(parsed.id)!;
          this.#settle(entry, parsed.id, () =>
            pending.reject(
              new NodeRegistryError(
                "INVALID_FRAME",
                `node ${nodeId} answered ${pending.method} with a malformed frame: ${parsed.error.message}`,
                {
                  details: { reason: "malformed_response", nodeId },
                  cause: parsed.error,
                },
              ),
            ),
          );
        }
        return "malformed";
      }
      if (parsed.frame.type !== "res") return "not-a-response";
      response = parsed.frame;
    } else {
      response = frame;
    }
    if (entry === undefined || response.id === null) return "not-a-response";
    const pending = entry.pending.get(response.id);
    if (pending === undefined) return entry.expired.has(response.id) ? "late" : "not-a-response";
    const error = response.error;
    this.#settle(entry, response.id, () => {
      if (error === null) pending.resolve(response.data);
      else pending.reject(ProtocolError.fromShape(error));
    });
    return "settled";
  }

  /**
   * Calls pending on one node, or on all.
   *
   * @param nodeId - The node; omit for the total.
   * @returns The count.
   */
  pendingCount(nodeId?: string): number {
    if (nodeId !== undefined) return this.#nodes.get(nodeId)?.pending.size ?? 0;
    let total = 0;
    for (const entry of this.#nodes.values()) total += entry.pending.size;
    return total;
  }

  /**
   * Removes every node (their pending calls fail with `NODE_OFFLINE`, reason `shutdown`).
   * Sockets are left to their owner.
   */
  close(): void {
    for (const entry of [...this.#nodes.values()]) this.#remove(entry, "shutdown");
    for (const [nodeId, waiting] of [...this.#waiting]) {
      clearTimeout(waiting.timer);
      this.#waiting.delete(nodeId);
      this.#failPending(waiting.entry, "shutdown");
    }
  }

  /**
   * Removes a node from the indexes. Its pending calls fail, or with `keep` (and for a plain
   * disconnect with a grace period) wait for the node to register again.
   */
  #remove(entry: NodeEntry, reason: OfflineReason, keep = false): void {
    const { nodeId } = entry.info;
    if (this.#nodes.get(nodeId) !== entry) return;
    this.#nodes.delete(nodeId);
    for (const capability of entry.capabilities) removeFrom(this.#byCapability, capability, nodeId);
    if (entry.info.displayName !== undefined)
      removeFrom(this.#byDisplayName, entry.info.displayName.toLowerCase(), nodeId);
    const graceMs = this.#options.reconnectGraceMs;
    if ((keep || reason === "disconnected") && graceMs > 0 && entry.pending.size > 0) {
      const timer = setTimeout(() => {
        if (this.#waiting.get(nodeId)?.entry !== entry) return;
        this.#waiting.delete(nodeId);
        this.#failPending(entry, reason, graceMs);
      }, graceMs);
      timer.unref?.();
      this.#waiting.set(nodeId, { entry, timer });
      this.emit("node.offline", { nodeId, reason });
      return;
    }
    this.#failPending(entry, reason);
    this.emit("node.offline", { nodeId, reason });
  }

  /** Sends every pending call again on the node's new connection, with the same ids. */
  #redeliver(entry: NodeEntry): void {
    for (const [id, pending] of [...entry.pending]) {
      try {
        entry.socket.send(pending.frame);
      } catch (error) {
        this.#settle(entry, id, () =>
          pending.reject(
            new NodeRegistryError("NODE_OFFLINE", `could not send to node ${entry.info.nodeId}`, {
              details: { reason: "send_failed", nodeId: entry.info.nodeId },
              cause: error,
            }),
          ),
        );
      }
    }
  }

  #failPending(entry: NodeEntry, reason: OfflineReason, graceMs?: number): void {
    const { nodeId } = entry.info;
    for (const [id, pending] of [...entry.pending]) {
      this.#settle(entry, id, () =>
        pending.reject(
          new NodeRegistryError(
            "NODE_OFFLINE",
            `node ${nodeId} went offline (${reason}) before answering ${pending.method}`,
            {
              details:
                graceMs === undefined ? { reason, nodeId } : { reason, nodeId, reconnectGraceMs: graceMs },
            },
          ),
        ),
      );
    }
    entry.expired.clear();
  }

  #settle(entry: NodeEntry, id: string, finish: () => void): void {
    const pending = entry.pending.get(id);
    if (pending === undefined) return;
    entry.pending.delete(id);
    clearTimeout(pending.timer);
    pending.cleanup();
    finish();
  }

  /** Forgets a call that timed out or was cancelled, remembering its id to recognise a late answer. */
  #expire(entry: NodeEntry, id: string): void {
    const pending = entry.pending.get(id);
    if (pending === undefined) return;
    entry.pending.delete(id);
    clearTimeout(pending.timer);
    pending.cleanup();
    entry.expired.add(id);
    if (entry.expired.size > MAX_EXPIRED_IDS) entry.expired.delete(entry.expired.values().next().value!);
  }
}

function isBetter(a: NodeEntry, b: NodeEntry): boolean {
  return (a.pending.size - b.pending.size || b.info.connectedAt - a.info.connectedAt || compareIds(a, b)) < 0;
}

function compareIds(a: NodeEntry, b: NodeEntry): number {
  return a.info.nodeId < b.info.nodeId ? -1 : a.info.nodeId > b.info.nodeId ? 1 : 0;
}

function copyInfo(info: NodeInfo): NodeInfo {
  return { ...info, capabilities: [...info.capabilities], client: { ...info.client } };
}

function addTo(index: Map<string, Set<string>>, key: string, nodeId: string): void {
  let ids = index.get(key);
  if (ids === undefined) {
    ids = new Set();
    index.set(key, ids);
  }
  ids.add(nodeId);
}

function removeFrom(index: Map<string, Set<string>>, key: string, nodeId: string): void {
  const ids = index.get(key);
  ids?.delete(nodeId);
  if (ids?.size === 0) index.delete(key);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}
