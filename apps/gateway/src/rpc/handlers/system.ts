import type { ClusterHealth } from "@openclaw/backend";
import { PROTOCOL_VERSION, ProtocolError } from "@openclaw/protocol";
import type { TaskQueue } from "@openclaw/task-queue";
import type { ChannelManager } from "../../channels/ChannelManager";
import type { Metrics } from "../../metrics/Metrics";
import type { Connection } from "../../server/Connection";
import type { ConnectionHub } from "../../server/ConnectionHub";
import { GATEWAY_NAME, GATEWAY_VERSION } from "../../version";
import type { MethodHandlers } from "../types";

/** What `ping` and `system.status` need. */
export interface SystemHandlerContext {
  readonly startedAt: number;
  connections(): Iterable<Connection>;
  readonly channels: Pick<ChannelManager, "statuses">;
  readonly registry: { readonly size: number };
  /** The task queue (throws `SHUTTING_DOWN` when not running). */
  tasks(): Pick<TaskQueue, "list" | "runningCount">;
  /** The cluster link's health, in cluster mode. */
  readonly cluster?: ClusterHealth | undefined;
  /** The connection cap and the refusals at it (the connection hub's). */
  readonly hub?: Pick<ConnectionHub, "capacity" | "refusedAtCap">;
  /** The gateway's metrics (`undefined` when `metrics.enabled` was off at start). */
  readonly metrics?: Pick<Metrics, "summary"> | undefined;
}

/** `ping`, `system.status` and `system.metrics`. */
export function systemHandlers(
  context: SystemHandlerContext,
): Pick<MethodHandlers, "ping" | "system.status" | "system.metrics"> {
  return {
    "system.metrics": () => {
      if (context.metrics === undefined)
        throw new ProtocolError("UNAVAILABLE", "metrics are off on this gateway", {
          details: { reason: "metrics_disabled", nextStep: "set metrics.enabled and restart the gateway" },
        });
      return context.metrics.summary();
    },

    ping: (params) => (params.ts === undefined ? { ts: Date.now() } : { ts: Date.now(), echo: params.ts }),

    "system.status": () => {
      let operators = 0;
      let nodes = 0;
      let pairing = 0;
      let total = 0;
      for (const connection of context.connections()) {
        if (connection.state !== "ready") continue;
        total += 1;
        // A device still waiting to be paired is not a node yet.
        if (connection.grant === "pairing") pairing += 1;
        else if (connection.role === "node") nodes += 1;
        else operators += 1;
      }
      const tasks = context.tasks();
      const cluster = context.cluster?.health();
      return {
        ...(cluster === undefined ? {} : { cluster }),
        server: { name: GATEWAY_NAME, version: GATEWAY_VERSION },
        protocol: PROTOCOL_VERSION,
        startedAt: context.startedAt,
        uptimeMs: Date.now() - context.startedAt,
        connections: {
          total,
          operators,
          nodes,
          pairing,
          ...(context.hub === undefined
            ? {}
            : { max: context.hub.capacity.maxConnections, refusedAtCap: context.hub.refusedAtCap }),
        },
        channels: context.channels
          .statuses()
          .map(({ name, state, instance }) =>
            instance === undefined ? { name, state } : { name, state, instance },
          ),
        nodes: context.registry.size,
        tasks: { scheduled: tasks.list({ status: "scheduled" }).length, running: tasks.runningCount },
      };
    },
  };
}
