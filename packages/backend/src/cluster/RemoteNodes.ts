/**
 * The node seam of cluster mode: which nodes the other gateway instances hold, and calls to them.
 * A single gateway has no other instances: {@link LocalNodes} finds nothing elsewhere and calls the
 * node registry directly, which is exactly what the gateway does without cluster mode.
 */
import type { InvokeOptions, NodeRegistry } from "@openclaw/node-registry";
import { type NodeInfo, ProtocolError } from "@openclaw/protocol";

/** A node somewhere in the cluster. */
export type ClusterNode = NodeInfo & {
  /** The gateway instance holding its connection; absent when it is this one. */
  readonly instanceId?: string;
};

/** What a {@link RemoteNodes} is given of its own gateway at start. */
export interface NodeHost {
  /** This gateway's node registry: calls forwarded to this instance run on it. */
  readonly registry: Pick<NodeRegistry, "invoke" | "get" | "list" | "on" | "off">;
  /** How long a call waits for a node that went away to come back (the config's `gateway.nodeReconnectGraceMs`). */
  reconnectGraceMs(): number;
}

/** Options of one {@link RemoteNodes.invoke}. */
export type NodeCallOptions = Pick<InvokeOptions, "timeoutMs" | "traceparent">;

/**
 * The nodes of the other gateway instances, and calls to any node of the cluster. The lookups are on
 * the path of every `node.invoke` and `agent.run` with a `target`, so they are synchronous: an
 * implementation keeps its view of the cluster's nodes in memory.
 */
export interface RemoteNodes {
  /**
   * Starts publishing this instance's nodes and serving the calls other instances forward to them.
   * The gateway calls it once, before it accepts connections.
   */
  start(host: NodeHost): Promise<void>;
  /**
   * The node on another instance that should run `command`, chosen like `NodeRegistry.resolve`
   * (by id, else by display name case-insensitively; without a target, any node advertising it).
   *
   * @param target - Node id or display name; omit to match by capability alone.
   * @param command - What the node must be able to run; omit to match by target alone.
   * @returns The node, or `null` when no other instance holds a match.
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when the other instances cannot be known.
   */
  resolve(target: string | undefined, command?: string): ClusterNode | null;
  /**
   * The nodes held by the other instances.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`redis_unavailable`) when the other instances cannot be known.
   */
  list(): NodeInfo[];
  /**
   * Calls `method` on a node, wherever it is (`instanceId` absent: this instance's registry), and
   * resolves with its answer. The call follows the node when it reconnects elsewhere within the
   * reconnect grace period.
   *
   * @returns The node's result.
   * @throws The registry's typed errors (`NODE_OFFLINE`, `TIMEOUT`, …), the node's own, or
   *   `UNAVAILABLE` (`redis_unavailable`) when the call cannot be forwarded.
   */
  invoke(node: ClusterNode, method: string, data: unknown, options?: NodeCallOptions): Promise<unknown>;
  /** Stops serving and fails the calls still waiting on other instances. Idempotent. */
  close(): Promise<void>;
}

/**
 * The default {@link RemoteNodes} of a single gateway: no other instance holds a node, and every
 * call goes straight to the registry.
 */
export class LocalNodes implements RemoteNodes {
  #host: NodeHost | undefined;

  /** @param host - The gateway, when known already (otherwise given by `start`). */
  constructor(host?: NodeHost) {
    this.#host = host;
  }

  async start(host: NodeHost): Promise<void> {
    this.#host = host;
  }

  resolve(): ClusterNode | null {
    return null;
  }

  list(): NodeInfo[] {
    return [];
  }

  invoke(node: ClusterNode, method: string, data: unknown, options: NodeCallOptions = {}): Promise<unknown> {
    if (this.#host === undefined || node.instanceId !== undefined) {
      return Promise.reject(
        new ProtocolError("NODE_OFFLINE", `node ${node.nodeId} is not connected`, {
          details: { reason: "not_connected", nodeId: node.nodeId },
        }),
      );
    }
    return this.#host.registry.invoke(node.nodeId, method, data, options);
  }

  async close(): Promise<void> {
    this.#host = undefined;
  }
}
