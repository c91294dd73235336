import type { IncomingMessage, ServerResponse } from "node:http";
import { readNodeBody, stopReading } from "../readBody";
import { OpenAiError } from "./errors";

/**
 * Reads a `/v1` request's JSON body from the Node request, chunked or not, holding at most
 * `maxBytes`: a declared `Content-Length` over the limit is refused before anything is read, and a
 * body that grows past it while streaming is refused as soon as it does, without buffering more.
 * After a refusal the body is no longer read: the connection is closed after the 413 (see
 * {@link stopReading}).
 *
 * @param incoming - The Node request.
 * @param _outgoing - Its response.
 * @param maxBytes - The limit (`gateway.maxBodyBytes`).
 * @returns The parsed JSON value.
 * @throws {@link OpenAiError} 413 `request_too_large` over the limit, 400 `invalid_request_error`
 * for a body that is not JSON or was cut short.
 */
export async function readJsonBody(
  incoming: IncomingMessage,
  _outgoing: ServerResponse,
  maxBytes: number,
): Promise<unknown> {
  const tooLarge = () => {
    stopReading(incoming);
    return new OpenAiError("invalid_request_error", `request bodies are limited to ${maxBytes} bytes`, {
      status: 413,
      code: "request_too_large",
      details: { reason: "too_large", maxBodyBytes: maxBytes },
    });
  };
  const declared = Number(incoming.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw tooLarge();
  const body = await readNodeBody(incoming, maxBytes);
  if (body === "too_large") throw tooLarge();
  if (body === "incomplete")
    throw new OpenAiError("invalid_request_error", "the request body was cut short", {
      code: "incomplete_body",
    });
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new OpenAiError("invalid_request_error", "the request body must be JSON", {
      code: "invalid_json",
      cause: error,
    });
  }
}
