/** Wire protocol version spoken by this package. Sent as `protocol` in `connect`. */
export const PROTOCOL_VERSION = 1;

/** Oldest protocol version this package can still speak. */
export const MIN_PROTOCOL_VERSION = 1;

/** Default gateway port for both WebSocket and HTTP. */
export const DEFAULT_GATEWAY_PORT = 18789;

/** Default bind address: loopback only. */
export const DEFAULT_GATEWAY_HOST = "127.0.0.1";

/** Default largest accepted frame, in bytes of UTF-8 (1 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 1_048_576;

/** Default deepest accepted nesting of objects and arrays inside one frame. */
export const DEFAULT_MAX_FRAME_DEPTH = 64;

/** Longest accepted frame `id`, in characters. */
export const MAX_ID_LENGTH = 128;

/** Longest accepted method or event name, in characters. */
export const MAX_NAME_LENGTH = 128;

/**
 * WebSocket close codes used by the gateway and understood by {@link GatewayClient}.
 * Numbers are from RFC 6455 section 7.4.1.
 */
export const CloseCode = {
  /** Orderly close by either side. */
  Normal: 1000,
  /** The server is shutting down or restarting. */
  GoingAway: 1001,
  /** Handshake refused, auth failed, frame before `connect`, or the client was too slow to read. */
  PolicyViolation: 1008,
  /** A frame exceeded the size limit. */
  MessageTooBig: 1009,
  /** The server hit an unexpected condition. */
  InternalError: 1011,
  /** The server is at a capacity limit; reconnect later (RFC 6455 registry: Try Again Later). */
  TryAgainLater: 1013,
} as const;

/** One of the {@link CloseCode} values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
