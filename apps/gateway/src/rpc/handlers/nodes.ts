import type { RemoteNodes } from "@openclaw/backend";
import type { NodeRegistry } from "@openclaw/node-registry";
import { callNode, listNodes, requireNode } from "../../nodes";
import type { AgentRunner } from "../../services/AgentRunner";
import type { MethodHandlers } from "../types";

/** What `node.*` and `agent.run` need. */
export interface NodeHandlerContext {
  readonly registry: NodeRegistry;
  /** The other instances' nodes, and calls to any node (a single gateway's `LocalNodes`). */
  readonly remoteNodes: RemoteNodes;
  readonly agents: Pick<AgentRunner, "runAgent">;
}

/** `node.list`, `node.invoke` and `agent.run` (run here, or forwarded to a node with `target`). */
export function nodeHandlers(
  context: NodeHandlerContext,
): Pick<MethodHandlers, "node.list" | "node.invoke" | "agent.run"> {
  const { remoteNodes } = context;
  return {
    "agent.run": (params, { frame }) => context.agents.runAgent(params, frame.target),

    "node.list": () => ({ nodes: listNodes(context) }),

    "node.invoke": async (params) => {
      const node = requireNode(context, params.node, params.method);
      const options = params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs };
      const result = await callNode(remoteNodes, node, params.method, params.data, options);
      return { nodeId: node.nodeId, result };
    },
  };
}
