import type { MethodName, MethodParams, MethodResult, RequestFrame } from "@openclaw/protocol";
import type { Connection } from "../server/Connection";

/** What a handler knows about the request besides its params. */
export interface HandlerContext {
  connection: Connection;
  frame: RequestFrame;
}

/** A handler per method (all but `connect`, which the handshake answers). */
export type MethodHandlers = {
  [M in Exclude<MethodName, "connect">]: (
    params: MethodParams<M>,
    context: HandlerContext,
  ) => Promise<MethodResult<M>> | MethodResult<M>;
};
