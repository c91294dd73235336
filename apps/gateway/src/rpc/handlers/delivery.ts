import type { OutboundQueue } from "@openclaw/backend";
import { ProtocolError } from "@openclaw/protocol";
import type { MethodHandlers } from "../types";

/** What `delivery.*` needs. */
export interface DeliveryHandlerContext {
  /** The outbound queue (throws `SHUTTING_DOWN` when not running). */
  deliveries(): Pick<OutboundQueue, "list" | "counts" | "retry" | "drop">;
}

/** `delivery.list`, `delivery.retry` and `delivery.drop`. */
export function deliveryHandlers(
  context: DeliveryHandlerContext,
): Pick<MethodHandlers, "delivery.list" | "delivery.retry" | "delivery.drop"> {
  return {
    "delivery.list": async (params) => {
      const deliveries = context.deliveries();
      return { deliveries: await deliveries.list(params), counts: await deliveries.counts() };
    },

    "delivery.retry": async (params) => {
      const delivery = await context.deliveries().retry(params.id);
      if (delivery === undefined)
        throw new ProtocolError("NOT_FOUND", `no queued or dead-lettered message ${params.id}`, {
          details: { reason: "unknown_delivery", nextStep: "list them with delivery.list" },
        });
      return { delivery };
    },

    "delivery.drop": async (params) => ({ dropped: await context.deliveries().drop(params.id) }),
  };
}
