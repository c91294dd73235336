import type { KeyStore } from "@openclaw/backend";
import type { NodeRegistry } from "@openclaw/node-registry";
import { type EventData, type EventName, encodeEvent } from "@openclaw/protocol";
import type { Connection } from "../server/Connection";
import type { ConnectionHub } from "../server/ConnectionHub";
import type { AgentRunner } from "../services/AgentRunner";
import { createMethodHandlers, type MethodHandlersContext } from "./createMethodHandlers";
import { createDispatcher, type DispatchHandler } from "./Dispatcher";
import { FrameLoop } from "./FrameLoop";
import { type HandshakeContext, handshake } from "./handshake";
import { Idempotency } from "./Idempotency";

/** What the RPC side needs: the handlers' context, the handshake's, and the connections. */
export type RpcContext = Omit<MethodHandlersContext, "sendTo" | "connections"> &
  Omit<HandshakeContext, "hub" | "registry"> & {
    readonly registry: NodeRegistry;
    readonly hub: ConnectionHub;
    readonly agents: AgentRunner;
    /** Whether requests are accepted. */
    isRunning(): boolean;
    /** Results of idempotent requests, once opened. */
    idempotencyStore(): KeyStore<unknown> | undefined;
  };

/**
 * The RPC side of the gateway: handlers (one file per namespace under `handlers/`), the dispatcher
 * and the handshake, behind the frame loop that feeds them each connection's frames.
 *
 * @param context - What they need.
 * @returns The frame loop; the connection hub sends it every message.
 */
export function createRpc(context: RpcContext): FrameLoop {
  const { hub, registry, agents, logger } = context;
  const handlers = createMethodHandlers({
    ...context,
    connections: () => hub.values(),
    sendTo: <E extends EventName>(connectionId: string, event: E, data: EventData<E>) => {
      const connection = hub.get(connectionId);
      connection?.send(encodeEvent(event, data));
      return connection !== undefined;
    },
  });
  const dispatch = createDispatcher<Connection>({
    handlers: handlers as unknown as Readonly<Record<string, DispatchHandler<Connection>>>,
    isRunning: context.isRunning,
    idempotency: new Idempotency(context.idempotencyStore, logger),
  });
  return new FrameLoop({
    logger,
    dispatch,
    maxFrameBytes: () => context.config.get().gateway.maxFrameBytes,
    handshake: (connection, frame) => handshake(context, connection, frame),
    onNodeResponse: (nodeId, frame) => registry.receive(nodeId, frame),
    onNodeEvent: (_nodeId, frame) => agents.receiveNodeEvent(frame),
    metrics: context.metrics,
  });
}
