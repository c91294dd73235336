import { type EventData, type EventName, ProtocolError } from "@openclaw/protocol";
import type { PairingManager } from "../../auth/PairingManager";
import type { EventSink } from "../../broadcast/Broadcaster";
import type { Connection } from "../../server/Connection";
import type { MethodHandlers } from "../types";

/** What `pairing.*` needs. */
export interface PairingHandlerContext {
  readonly pairing: Pick<PairingManager, "start" | "approve" | "reject" | "list">;
  readonly events: EventSink;
  /**
   * Sends one event to one connection.
   * @returns Whether the connection is still here.
   */
  sendTo<E extends EventName>(connectionId: string, event: E, data: EventData<E>): boolean;
}

/** `pairing.start`, `pairing.approve`, `pairing.reject` and `pairing.list`. */
export function pairingHandlers(
  context: PairingHandlerContext,
): Pick<MethodHandlers, "pairing.start" | "pairing.approve" | "pairing.reject" | "pairing.list"> {
  const { pairing, events } = context;
  return {
    "pairing.start": (params, { connection }) => {
      if (connection.role !== "node")
        throw new ProtocolError("FORBIDDEN", "only nodes pair", { details: { reason: "not_a_node" } });
      const wait = connection.pairingLimiter?.take() ?? 0;
      if (wait > 0)
        throw new ProtocolError("RATE_LIMITED", "too many pairing requests on this connection", {
          details: { reason: "pairing_rate_limit", retryAfterMs: wait },
        });
      const request = pairing.start(params, connection.client!, {
        connectionId: connection.id,
        source: connection.source,
      });
      events.broadcast("pairing.requested", request);
      return {
        status: "pending",
        expiresAt: request.expiresAt,
        nextStep: `approve code ${request.code} with \`openclaw pair approve ${request.code}\``,
      };
    },

    "pairing.approve": async (params, { connection }) => {
      const { request, deviceToken, connectionId } = await pairing.approve(
        params.code,
        principalOf(connection),
      );
      const sent = context.sendTo(connectionId, "pairing.approved", {
        code: request.code,
        nodeId: request.nodeId,
        deviceToken,
      });
      // Other devices waiting to pair hear nothing of this one; operators hear it without the token.
      events.broadcast(
        "pairing.approved",
        { code: request.code, nodeId: request.nodeId },
        { ...(sent ? { except: { id: connectionId } } : {}), scopes: ["operator.read"] },
      );
      return { nodeId: request.nodeId, approvedAt: Date.now() };
    },

    "pairing.reject": (params, { connection }) => {
      const { request, connectionId } = pairing.reject(params.code, principalOf(connection));
      const event =
        params.reason === undefined
          ? { code: request.code, nodeId: request.nodeId }
          : { code: request.code, nodeId: request.nodeId, reason: params.reason };
      const sent = context.sendTo(connectionId, "pairing.rejected", event);
      events.broadcast("pairing.rejected", event, {
        ...(sent ? { except: { id: connectionId } } : {}),
        scopes: ["operator.read"],
      });
      return { rejected: true };
    },

    "pairing.list": () => ({ requests: pairing.list() }),
  };
}

/** Who makes a pairing decision, for counting failures: the token level and the source. */
function principalOf(connection: Connection): string {
  return `${connection.grant ?? "unknown"}@${connection.source}`;
}
