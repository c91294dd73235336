/**
 * @packageDocumentation
 * The OpenClaw Gateway service, for embedding and tests. Run it with `openclaw-gateway`.
 */

export type {
  DeliveryInput,
  DeliveryQueueHost,
  DeliveryRecord,
  FirstOutcome,
} from "./delivery/DeliveryQueue";
export { DeliveryQueue } from "./delivery/DeliveryQueue";
export type { GatewayCore, GatewayOptions } from "./Gateway";
export { Gateway } from "./Gateway";
export type { Logger } from "./logging";
export { createLogger } from "./logging";
export { GATEWAY_NAME, GATEWAY_VERSION } from "./version";
