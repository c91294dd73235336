import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import type { ConfigManager } from "@openclaw/config";
import type { TaskClaims } from "@openclaw/task-queue";
import type { Adapter } from "./broadcast/Adapter";
import type { ClusterHealth } from "./cluster/ClusterHealth";
import type { LeaseProvider } from "./cluster/Leases";
import type { RemoteNodes } from "./cluster/RemoteNodes";
import type { DeliveryRecord } from "./delivery/DeliveryQueue";
import type { KeyStoreFactory } from "./delivery/KeyStore";
import type { DeliveryQueueFactory } from "./delivery/OutboundQueue";
import type { Logger } from "./logging";
import type { ResponseStoreFactory } from "./openai/ResponseStore";
import type { TaskStoreFactory } from "./services/tasks";
import type { BindingStore } from "./state/BindingStore";
import type { ConversationRecord } from "./state/ConversationStore";
import type { DeviceStore } from "./state/DeviceStore";
import type { RecordStoreFactory } from "./state/RecordStore";

/** Defaults of the gateway's own limits (the rest are in the config). */
export const GATEWAY_DEFAULTS = {
  /** How long `stop()` waits for in-flight requests and running tasks. */
  drainTimeoutMs: 5000,
  /** How long `stop()` lets sockets close politely before terminating them. */
  closeGraceMs: 50,
} as const;

/** Options of a `Gateway`. */
export interface GatewayOptions {
  /** The config, loaded. The gateway applies its changes live. */
  config: ConfigManager;
  /** Installed channel plugins, by their `name`. */
  channels?: readonly ChannelPluginFactory[];
  /** Where logs go. @defaultValue a pino logger at the configured level */
  logger?: Logger;
  /**
   * How long `start()` and a config reload wait for one channel to connect before they go on
   * without it; the channel keeps connecting (state `connecting`, shown by `/ready`) in the
   * background either way. The default does not wait: start-up completes at once.
   * @defaultValue 0
   */
  channelStartWaitMs?: number;
  /**
   * The built control UI served at `/ui/`.
   * @defaultValue `@openclaw/web`'s `dist` when that package is installed; none otherwise (404)
   */
  uiDir?: string;
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
   * How often an instance standing by for a leased channel tries to take its lease; a channel whose
   * holder died runs again within the lease TTL plus this.
   * @defaultValue 1000 (`DEFAULT_CHANNEL_LEASE_RETRY_MS`)
   */
  channelLeaseRetryMs?: number;
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

/** Options of `Gateway.stop()`. */
export interface StopOptions {
  /**
   * How long to wait for in-flight requests, and then for running tasks.
   * @defaultValue 5000 ({@link GATEWAY_DEFAULTS}.drainTimeoutMs)
   */
  drainTimeoutMs?: number;
}
