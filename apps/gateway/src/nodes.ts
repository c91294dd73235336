import type { NodeRegistry } from "@openclaw/node-registry";
import { type NodeInfo, ProtocolError } from "@openclaw/protocol";

/**
 * The node that should run `command`, or a typed error saying why there is none: `NOT_FOUND`
 * (`capability_missing`) when the named node is connected but does not advertise the command,
 * `NODE_OFFLINE` (`not_connected`) otherwise.
 *
 * @param registry - The node registry.
 * @param target - Node id or display name; omitted → any node advertising `command`.
 * @param command - What the node must be able to run.
 * @returns The chosen node.
 */
export function requireNode(registry: NodeRegistry, target: string | undefined, command: string): NodeInfo {
  const node = registry.resolve(target, command);
  if (node !== null) return node;
  if (target !== undefined && registry.resolve(target) !== null) {
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
