import type { ErrorShape, ProtocolError } from "./errors";

/**
 * Serialises a request frame.
 *
 * @param id - The request id, echoed in the response.
 * @param method - The method name.
 * @param data - The params; omitted from the frame when `undefined`.
 * @param target - For forwarded calls, the node that should execute it.
 * @param traceparent - The caller's W3C trace context; omitted from the frame when `undefined`.
 * @returns The frame as JSON text.
 */
export function encodeRequest(
  id: string,
  method: string,
  data?: unknown,
  target?: string,
  traceparent?: string,
): string {
  return JSON.stringify({ type: "req", id, method, data, target, traceparent });
}

/**
 * Serialises a successful response.
 *
 * @param id - The id of the request being answered.
 * @param data - The result; `undefined` becomes `null`.
 * @returns The frame as JSON text.
 */
export function encodeResult(id: string, data: unknown): string {
  return JSON.stringify({ type: "res", id, data: data === undefined ? null : data, error: null });
}

/**
 * Serialises a failed response. `data` is null; the error's `cause` is never sent.
 *
 * @param id - The id of the request being answered, or null when it could not be read.
 * @param error - The error to send.
 * @returns The frame as JSON text.
 */
export function encodeError(id: string | null, error: ProtocolError | ErrorShape): string {
  const shape = "toJSON" in error && typeof error.toJSON === "function" ? error.toJSON() : error;
  return JSON.stringify({ type: "res", id, data: null, error: shape });
}

/**
 * Serialises an event. Encode once and send the same string to every recipient.
 *
 * @param event - The event name.
 * @param data - The payload.
 * @param seq - Optional sequence number.
 * @returns The frame as JSON text.
 */
export function encodeEvent(event: string, data: unknown, seq?: number): string {
  return JSON.stringify({ type: "event", event, data, seq });
}
