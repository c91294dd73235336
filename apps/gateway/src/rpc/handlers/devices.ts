import { type Adapter, nodeRoom } from "@openclaw/backend";
import type { NodeRegistry } from "@openclaw/node-registry";
import { CloseCode } from "@openclaw/protocol";
import type { PairingManager } from "../../auth/PairingManager";
import type { MethodHandlers } from "../types";

/** What `device.*` needs. */
export interface DeviceHandlerContext {
  readonly pairing: Pick<PairingManager, "devices" | "revoke">;
  readonly registry: Pick<NodeRegistry, "get" | "unregister">;
  /** Closes the revoked device's connections (its node's room). */
  readonly adapter: Pick<Adapter, "disconnect">;
}

/** `device.list` and `device.revoke`. */
export function deviceHandlers(
  context: DeviceHandlerContext,
): Pick<MethodHandlers, "device.list" | "device.revoke"> {
  return {
    "device.list": () => ({
      devices: context.pairing.devices((nodeId) => context.registry.get(nodeId) !== undefined),
    }),

    "device.revoke": async (params) => {
      const revoked = await context.pairing.revoke(params.nodeId);
      if (revoked) {
        context.registry.unregister(params.nodeId, "revoked");
        context.adapter.disconnect({
          rooms: [nodeRoom(params.nodeId)],
          code: CloseCode.PolicyViolation,
          reason: "device revoked",
        });
      }
      return { revoked };
    },
  };
}
