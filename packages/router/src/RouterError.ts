import { ProtocolError } from "@openclaw/protocol";

/** The codes a {@link Router} raises; each is also a wire error code. */
export const RouterErrorCode = {
  /** The binding (or snapshot) does not validate. */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** No binding matched at any level. */
  NO_ROUTE: "NO_ROUTE",
  /** A binding id is already taken, or the binding limit is reached. */
  CONFLICT: "CONFLICT",
} as const;

/** One of the {@link RouterErrorCode} values. */
export type RouterErrorCode = (typeof RouterErrorCode)[keyof typeof RouterErrorCode];

/**
 * The error a {@link Router} throws. It is a `ProtocolError`, so a gateway can send it on the
 * wire as it is.
 */
export class RouterError extends ProtocolError<RouterErrorCode> {
  override readonly name: string = "RouterError";
}
