/**
 * @packageDocumentation
 * Binding rules of the OpenClaw Gateway: which channel an outbound message goes to.
 */

// The binding and route types, re-exported from @openclaw/protocol for convenience.
export type { Binding, BindingInput, ChannelRoute, RouteLevel, RoutingContext } from "@openclaw/protocol";
export { ROUTE_LEVELS } from "@openclaw/protocol";
export type { BindingSpec, RouterOptions, RouterSnapshot } from "./Router";
export { DEFAULT_ROUTER_OPTIONS, Router } from "./Router";
export { RouterError, RouterErrorCode } from "./RouterError";
