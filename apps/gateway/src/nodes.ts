import type { ClusterNode, NodeCallOptions, RemoteNodes } from "@openclaw/backend";
import type { NodeRegistry } from "@openclaw/node-registry";
import { type NodeInfo, ProtocolError } from "@openclaw/protocol";
import { currentTraceparent, inSpan, SpanKind, tracingActive } from "./telemetry/tracing";

/** The nodes a gateway can reach: its own registry's, and (in cluster mode) the other instances'. */
export interface NodeAccess {
  /** This instance's nodes. */
  readonly registry: Pick<NodeRegistry, "resolve" | "list">;
  /** The other instances' nodes, and calls to any node. */
  readonly remoteNodes: Pick<RemoteNodes, "resolve" | "list">;
}

/** No other instance: what a bare registry is paired with. */
const NO_REMOTE: NodeAccess["remoteNodes"] = { resolve: () => null, list: () => [] };

/**
 * The node that should run `command`, or a typed error saying why there is none: `NOT_FOUND`
 * (`capability_missing`) when the named node is connected but does not advertise the command,
 * `NODE_OFFLINE` (`not_connected`) otherwise. A node of this instance is preferred; the other
 * instances are asked only when none matches here.
 *
 * @param nodes - This instance's registry and the other instances' nodes (or the registry alone:
 *   this instance's nodes only).
 * @param target - Node id or display name; omitted → any node advertising `command`.
 * @param command - What the node must be able to run.
 * @returns The chosen node (with `instanceId` when another instance holds it).
 * @throws `UNAVAILABLE` (`redis_unavailable`) when the node is not here and the cluster cannot be asked.
 */
export function requireNode(
  nodes: NodeAccess | NodeAccess["registry"],
  target: string | undefined,
  command: string,
): ClusterNode {
  const { registry, remoteNodes } = "registry" in nodes ? nodes : { registry: nodes, remoteNodes: NO_REMOTE };
  const node = registry.resolve(target, command) ?? remoteNodes.resolve(target, command);
  if (node !== null) return node;
  if (target !== undefined && (registry.resolve(target) ?? remoteNodes.resolve(target)) !== null) {
    throw new ProtocolError("NOT_FOUND", `node ${target} does not advertise ${command}`, {
      details: { reason: "capability_missing", capability: command },
    });
  }
  throw new ProtocolError(
    "NODE_OFFLINE",
    target === undefined ? `no connected node handles ${command}` : `node ${target} is not connected`,
    {
      details: {
        reason: "not_connected",
        ...(target === undefined ? {} : { target }),
        nextStep:
          "open the OpenClaw app on the device; `openclaw nodes` lists connected nodes and their capabilities",
      },
    },
  );
}

/**
 * Every node of the cluster, most recently connected first; a node seen both here and elsewhere
 * (it is moving) is listed once, as this instance sees it.
 *
 * @param nodes - This instance's registry and the other instances' nodes.
 * @returns Copies of their info.
 * @throws `UNAVAILABLE` (`redis_unavailable`) when the other instances cannot be known.
 */
export function listNodes(nodes: NodeAccess): NodeInfo[] {
  const local = nodes.registry.list();
  const remote = nodes.remoteNodes.list();
  if (remote.length === 0) return local;
  const seen = new Set(local.map((node) => node.nodeId));
  return [...local, ...remote.filter((node) => !seen.has(node.nodeId))].sort(
    (a, b) => b.connectedAt - a.connectedAt || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
  );
}

/**
 * Calls a node, wherever it is, in a `node.call` span (client kind; the method, node and instance as
 * attributes) whose W3C context goes to the node as the request frame's `traceparent`, across
 * instances too in cluster mode.
 *
 * @param remoteNodes - Calls to any node of the cluster.
 * @param node - The node (from {@link requireNode}).
 * @param method - The method sent to the node.
 * @param data - Its params.
 * @param options - The time limit.
 * @returns The node's result.
 */
export function callNode(
  remoteNodes: Pick<RemoteNodes, "invoke">,
  node: ClusterNode,
  method: string,
  data: unknown,
  options: Pick<NodeCallOptions, "timeoutMs"> = {},
): Promise<unknown> {
  if (!tracingActive()) return remoteNodes.invoke(node, method, data, options);
  const attributes: Record<string, string> = { "rpc.method": method, "openclaw.node.id": node.nodeId };
  if (node.instanceId !== undefined) attributes["openclaw.node.instance"] = node.instanceId;
  return inSpan(
    `node.call ${method}`,
    attributes,
    () => {
      const traceparent = currentTraceparent();
      return remoteNodes.invoke(
        node,
        method,
        data,
        traceparent === undefined ? options : { ...options, traceparent },
      );
    },
    { kind: SpanKind.CLIENT },
  );
}
