import type { TaskClaims } from "@openclaw/task-queue";
import type { Adapter } from "./broadcast/Adapter";
import type { ClusterHealth } from "./cluster/ClusterHealth";
import type { LeaseProvider } from "./cluster/Leases";
import type { RemoteNodes } from "./cluster/RemoteNodes";
import type { KeyStoreFactory } from "./delivery/KeyStore";
import type { DeliveryQueueFactory, DeliveryRecord } from "./delivery/OutboundQueue";
import type { ResponseStoreFactory } from "./responses/ResponseStore";
import type { BindingStore } from "./state/BindingStore";
import type { ConversationRecord } from "./state/ConversationRecord";
import type { DeviceStore } from "./state/DeviceStore";
import type { RecordStoreFactory } from "./state/RecordStore";
import type { TaskStoreFactory } from "./tasks/TaskStoreFactory";

/**
 * Where a gateway keeps its state and how it shares it with other instances: the broadcast adapter,
 * the stores, leases, task claims, node presence and calls, and the cluster's health. Every one is
 * optional; the gateway's defaults keep everything in this process and its state dir. A backend
 * (cluster mode: `createCluster` of `@openclaw/redis`) returns them, and they are spread into the
 * `Gateway`'s options (`GatewayOptions` extends this interface).
 */
export interface BackendOptions {
  /**
   * Rooms and fan-out of the connections; another adapter lets several instances share them.
   * @defaultValue a new `InMemoryAdapter`
   */
  adapter?: Adapter;
  /**
   * In cluster mode, the health of this instance's link to the cluster: shown by `/ready` (503
   * `degraded` while it is degraded) and `system.status`.
   * @defaultValue none (a single gateway)
   */
  cluster?: ClusterHealth;
  /**
   * Leases of the channels that hold a connection or a poll (plugin placement `leased`): such a
   * channel runs only on the instance holding its lease `channel:<name>` and stands by (state
   * `standby`) elsewhere, taking over when the holder dies. A cluster passes `RedisLeases`.
   * @defaultValue none: every channel runs here (a single gateway)
   */
  leases?: LeaseProvider;
  /**
   * Claims of task occurrences shared with the other instances, so that each cron tick and each
   * scheduled task runs on one instance of the cluster. A cluster passes `RedisTaskClaims`.
   * @defaultValue none: every task of this instance's queue runs here
   */
  taskClaims?: TaskClaims;
  /**
   * Opens the store of the task queue, at start. A cluster passes one every instance shares
   * (`RedisTaskStore` of `@openclaw/redis`, with the change feed): a task scheduled on any instance
   * then runs once on some live instance (also after the accepting one died), `task.list` and
   * `task.cancel` see every instance's tasks, and each cron job is one task. Needs `taskClaims`.
   * @defaultValue `FileTaskStore.open`: `tasks/` in the state dir, this instance's tasks only
   */
  taskStore?: TaskStoreFactory;
  /**
   * The nodes of the other gateway instances: `node.list` shows them, and `node.invoke` /
   * `agent.run` with a `target` another instance holds are forwarded there (the call follows the node
   * when it reconnects elsewhere within `gateway.nodeReconnectGraceMs`).
   * @defaultValue a `LocalNodes`: this instance's nodes only, called through the registry directly
   */
  remoteNodes?: RemoteNodes;
  /**
   * Where the router's bindings persist.
   * @defaultValue a `FileBindingStore`: `bindings.json` in the state dir
   */
  bindingStore?: BindingStore;
  /**
   * Where paired devices (their token hashes) persist.
   * @defaultValue a `FileDeviceStore`: `devices.json` in the state dir
   */
  deviceStore?: DeviceStore;
  /**
   * Opens the store of idempotent requests' results (bounded by the config's
   * `delivery.maxIdempotencyKeys` and `delivery.idempotencyWindowMs`), at start.
   * @defaultValue `FileKeyStore.open`: `idempotency.log` in the state dir
   */
  idempotencyStore?: KeyStoreFactory<unknown>;
  /**
   * Opens the store of inbound message ids already taken (bounded by the config's
   * `delivery.maxInboundDedupeIds` and `delivery.inboundDedupeWindowMs`), at start.
   * @defaultValue none: the conversation journal keeps the ids (those of the messages it no longer
   *   holds among them) within the same bounds; `FileKeyStore.open` (`inbound-seen.log` in the state
   *   dir) when `historyStore` is given
   */
  dedupeStore?: KeyStoreFactory<1>;
  /**
   * Opens the store of the outbound delivery queue (pending messages and dead letters), at start.
   * @defaultValue `FileRecordStore.open`: `deliveries.log` in the state dir
   */
  deliveryStore?: RecordStoreFactory<DeliveryRecord>;
  /**
   * Opens the outbound delivery queue, at start. A cluster passes one whose queue every instance
   * shares (`RedisDeliveryQueue` of `@openclaw/redis`); `deliveryStore` is then unused.
   * @defaultValue `DeliveryQueue.open` on `deliveryStore`: the queue is worked in this process
   */
  deliveryQueue?: DeliveryQueueFactory;
  /**
   * Opens the store of the conversation history (bounded by the config's `conversations`), at start.
   * @defaultValue `FileRecordStore.open`: `conversations.log` in the state dir
   */
  historyStore?: RecordStoreFactory<ConversationRecord>;
  /**
   * Makes the store of `/v1/responses` results (bounded by the config's `openai.responses`). A
   * cluster passes one every instance reads (`RedisResponseStore` of `@openclaw/redis`).
   * @defaultValue an `InMemoryResponseStore`: this process only
   */
  responseStore?: ResponseStoreFactory;
}
