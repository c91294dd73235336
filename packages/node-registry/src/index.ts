/**
 * @packageDocumentation
 * Which OpenClaw nodes (devices) are online, what they can do, and RPC to them.
 */

// Re-exported from @openclaw/protocol for convenience.
export type { NodeInfo } from "@openclaw/protocol";
export type {
  InvokeOptions,
  NodeRegistryEventMap,
  NodeRegistryOptions,
  OfflineReason,
  ReceiveResult,
  RegisterOptions,
} from "./NodeRegistry";
export { DEFAULT_NODE_REGISTRY_OPTIONS, NodeRegistry, NodeRegistryEvents } from "./NodeRegistry";
export { NodeRegistryError, NodeRegistryErrorCode } from "./NodeRegistryError";
export type { NodeSocket } from "./NodeSocket";
