/**
 * What the registry needs of a node's connection. `ws`'s `WebSocket` satisfies it; so can any
 * other transport (an in-process pipe, an HTTP/2 stream, a test double).
 */
export interface NodeSocket {
  /** Sends one text frame. */
  send(data: string): void;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet written; used for backpressure. */
  readonly bufferedAmount: number;
}
