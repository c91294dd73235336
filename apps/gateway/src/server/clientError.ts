import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ProtocolError } from "@openclaw/protocol";
import { refusalResponse, type UpgradeRefusal } from "./upgradeChecks";

/**
 * The typed answer to a request the HTTP server could not read: `408` when its head or body did not
 * arrive within `gateway.headersTimeoutMs` / `requestTimeoutMs`, `431` for headers too large, `400`
 * for anything malformed; `undefined` when there is no one to answer (the client reset).
 *
 * @param error - The error of the server's `clientError` event.
 * @returns The refusal to write.
 */
export function clientErrorRefusal(error: NodeJS.ErrnoException): UpgradeRefusal | undefined {
  if (error.code === "ECONNRESET" || error.code === "EPIPE") return undefined;
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT")
    return {
      error: new ProtocolError("TIMEOUT", "the request did not arrive in time", {
        details: {
          reason: "request_timeout",
          nextStep:
            "send the head within gateway.headersTimeoutMs and the whole request within requestTimeoutMs",
        },
      }),
      status: 408,
    };
  if (error.code === "HPE_HEADER_OVERFLOW")
    return {
      error: new ProtocolError("PAYLOAD_TOO_LARGE", "request headers too large", {
        details: { reason: "headers_too_large" },
      }),
      status: 431,
    };
  return {
    error: new ProtocolError("INVALID_PARAMS", "malformed HTTP request", {
      details: { reason: "malformed_request" },
    }),
    status: 400,
  };
}

/**
 * The server's `clientError` listener: answers with {@link clientErrorRefusal} (JSON in the
 * protocol's shape, `Connection: close`) unless an answer has begun already, then frees the socket.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const refusal = clientErrorRefusal(error);
  // The response being written on this socket, if any (Node keeps it there).
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (refusal === undefined || !socket.writable || current?.headersSent === true) {
    socket.destroy();
    return;
  }
  socket.on("error", () => socket.destroy());
  socket.once("finish", () => socket.destroy());
  socket.end(refusalResponse(refusal));
}
