import { ProtocolError } from "@openclaw/protocol";

/** The codes a {@link NodeRegistry} raises itself; each is also a wire error code. */
export const NodeRegistryErrorCode = {
  /** The node is not connected, or disconnected while the call was pending. */
  NODE_OFFLINE: "NODE_OFFLINE",
  /** The node did not answer within the call's time limit. */
  TIMEOUT: "TIMEOUT",
  /** Too many calls pending on the node, or the node is not reading its socket. */
  RATE_LIMITED: "RATE_LIMITED",
  /** The node answered with a frame that is not a valid response. */
  INVALID_FRAME: "INVALID_FRAME",
  /** `register` or `invoke` got an invalid argument. */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** The registry holds its maximum number of nodes. */
  CONFLICT: "CONFLICT",
} as const;

/** One of the {@link NodeRegistryErrorCode} values. */
export type NodeRegistryErrorCode = (typeof NodeRegistryErrorCode)[keyof typeof NodeRegistryErrorCode];

/**
 * An error raised by the registry itself. Errors a node sends back arrive as plain
 * `ProtocolError`s with the node's own code. Both can go on the wire as they are.
 */
export class NodeRegistryError extends ProtocolError<NodeRegistryErrorCode> {
  override readonly name: string = "NodeRegistryError";
}
