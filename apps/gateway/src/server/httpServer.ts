import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Config } from "@openclaw/config";
import type { ConnectionHub } from "./ConnectionHub";
import { answerClientError } from "./clientError";
import { SocketGate } from "./SocketGate";

/**
 * The longest interval at which the server looks for requests past `gateway.headersTimeoutMs` or
 * `requestTimeoutMs` (Node's `connectionsCheckingInterval`, 30 s by its default): a timeout ends
 * at most this much late. A quarter of the shorter timeout when that is less.
 * @defaultValue 1000
 */
export const HTTP_TIMEOUT_CHECK_MS = 1000;

/**
 * Refused sockets kept lingering (reading what the client still sends, so it gets the `503` rather
 * than a reset) when the descriptor limit is unknown; otherwise a quarter of the descriptors left
 * beyond `maxSockets`.
 * @defaultValue 64
 */
export const FALLBACK_MAX_LINGERING = 64;

/**
 * Creates the gateway's HTTP server: the request timeouts of `gateway.headersTimeoutMs` and
 * `requestTimeoutMs`, typed answers to requests it cannot read, and a {@link SocketGate} in front of
 * the HTTP parser (pending sockets per address, the socket cap of `hub.capacity`).
 *
 * @param options.config - The config in force (`gateway.maxPendingSocketsPerSource` is read per accept).
 * @param options.hub - The WebSocket connections: their capacity caps the sockets; refusals count in
 * its episodes at the cap.
 * @param options.listener - The request listener (`createHttpApp`).
 * @returns The server, not listening yet; attach the hub before listening.
 */
export function createHttpServer(options: {
  config: () => Config;
  hub: ConnectionHub;
  listener: (req: IncomingMessage, res: ServerResponse) => void;
}): { server: Server; gate: SocketGate } {
  const { config, hub, listener } = options;
  const { headersTimeoutMs, requestTimeoutMs } = config().gateway;
  const headersTimeout = Math.min(headersTimeoutMs, requestTimeoutMs);
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(
        25,
        Math.min(HTTP_TIMEOUT_CHECK_MS, Math.floor(headersTimeout / 4)),
      ),
    },
    listener,
  );
  server.on("clientError", answerClientError);
  const gate = new SocketGate({
    maxPendingPerSource: () => config().gateway.maxPendingSocketsPerSource,
    maxSockets: () => hub.capacity.maxSockets,
    maxLingering: () => {
      const { descriptorLimit, maxSockets } = hub.capacity;
      if (descriptorLimit === undefined || maxSockets === undefined) return FALLBACK_MAX_LINGERING;
      return Math.max(1, Math.floor((descriptorLimit - maxSockets) / 4));
    },
    onRefusedAtCap: () => hub.droppedAtCap(),
  });
  gate.attach(server);
  return { server, gate };
}
