/**
 * @packageDocumentation
 * The backend contracts of the OpenClaw Gateway: the broadcast adapter, every store the gateway keeps
 * its state in (bindings, devices, idempotency keys, inbound ids, conversation history, the delivery
 * queue, tasks, stored `/v1/responses`), leases, node presence and remote calls, and cluster mode.
 * Implement them to write a backend (`@openclaw/redis` is one); check an implementation with the
 * conformance suites of `@openclaw/backend/testing`. The in-process implementations (the gateway's
 * defaults for a single instance, and memory stores for tests) are here too.
 */

export type { BackendOptions } from "./BackendOptions";
export type {
  Adapter,
  AdapterMember,
  BroadcastPacket,
  DisconnectOptions,
  NodeLocation,
} from "./broadcast/Adapter";
export { chatRoom, connectionRoom, nodeRoom, scopeRoom } from "./broadcast/Adapter";
export type { InMemoryAdapterOptions } from "./broadcast/InMemoryAdapter";
export { IN_MEMORY_ADAPTER_DEFAULTS, InMemoryAdapter } from "./broadcast/InMemoryAdapter";
export type { ClusterHealth, ClusterHealthReport } from "./cluster/ClusterHealth";
export type { ClusterMode, ClusterModeContext, ClusterModeLoader } from "./cluster/ClusterMode";
export type { Lease, LeaseProvider } from "./cluster/Leases";
export { LocalLeases } from "./cluster/Leases";
export type { ClusterNode, NodeCallOptions, NodeHost, RemoteNodes } from "./cluster/RemoteNodes";
export { LocalNodes } from "./cluster/RemoteNodes";
export type { KeyStore, KeyStoreFactory, KeyStoreLimits, KeyStoreOpenOptions } from "./delivery/KeyStore";
export type {
  DeliveryCounts,
  DeliveryInput,
  DeliveryListFilter,
  DeliveryQueueFactory,
  DeliveryQueueHost,
  DeliveryQueueOpenOptions,
  DeliveryRecord,
  FirstOutcome,
  OutboundQueue,
} from "./delivery/OutboundQueue";
export type { BackendLogFn, BackendLogger } from "./logger";
export type { MemoryKeyBacking } from "./memory/MemoryStores";
export {
  MemoryBindingStore,
  MemoryDeviceStore,
  MemoryKeyStore,
  MemoryRecordStore,
} from "./memory/MemoryStores";
export type {
  ResponseStore,
  ResponseStoreFactory,
  ResponseStoreOptions,
  StoredResponse,
} from "./responses/ResponseStore";
export {
  fitsResponseStore,
  InMemoryResponseStore,
  RESPONSE_STORE_DEFAULTS,
  storedBytes,
} from "./responses/ResponseStore";
export type { BindingStore, BindingStoreChange } from "./state/BindingStore";
export { applyBindingChange } from "./state/BindingStore";
export type { ConversationRecord } from "./state/ConversationRecord";
export type { DeviceStore, DeviceStoreChange, PairedDevice } from "./state/DeviceStore";
export type {
  RecordStore,
  RecordStoreChange,
  RecordStoreFactory,
  RecordStoreOpenOptions,
} from "./state/RecordStore";
export type { TaskStoreFactory } from "./tasks/TaskStoreFactory";
