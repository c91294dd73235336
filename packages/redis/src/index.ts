/**
 * @packageDocumentation
 * Cluster mode for the OpenClaw Gateway on Redis.
 */
// Cluster mode from the config's `cluster` section

// Which instances are alive
export type { ClusterMembershipEventMap, ClusterMembershipOptions } from "./ClusterMembership";
export { CLUSTER_MEMBERSHIP_DEFAULTS, ClusterMembership } from "./ClusterMembership";
export type { RedisCluster } from "./cluster";
export { createCluster, defaultInstanceId } from "./cluster";
// The broadcast adapter (events everywhere, node presence)
export type {
  RedisAdapterEventMap,
  RedisAdapterLogger,
  RedisAdapterOptions,
  RedisAdapterState,
} from "./RedisAdapter";
export { REDIS_ADAPTER_DEFAULTS, RedisAdapter, RedisAdapterEvents } from "./RedisAdapter";
// One state: the change notices that keep every instance's store mirrors current
export type {
  ChangeFeedSubscriber,
  ChangeNotice,
  RedisChangeFeedLogger,
  RedisChangeFeedOptions,
} from "./RedisChangeFeed";
export { changeChannel, REDIS_CHANGE_FEED_DEFAULTS, RedisChangeFeed } from "./RedisChangeFeed";
// The outbound delivery queue of a cluster (every message once)
export type { RedisDeliveryQueueOptions } from "./RedisDeliveryQueue";
export { REDIS_DELIVERY_QUEUE_DEFAULTS, RedisDeliveryQueue } from "./RedisDeliveryQueue";
// Leases with fencing tokens
export type { RedisLeasesOptions } from "./RedisLeases";
export { REDIS_LEASES_DEFAULTS, RedisLeases } from "./RedisLeases";
// Nodes anywhere: presence of every instance's nodes, calls forwarded to them
export type { RedisNodeBusLogger, RedisNodeBusOptions } from "./RedisNodeBus";
export { REDIS_NODE_BUS_DEFAULTS, RedisNodeBus } from "./RedisNodeBus";
// Claims of task occurrences (each cron tick and scheduled task once across the cluster)
export type { RedisTaskClaimsOptions } from "./RedisTaskClaims";
export { REDIS_TASK_CLAIMS_DEFAULTS, RedisTaskClaims } from "./RedisTaskClaims";
// Redis stores (the gateway's store interfaces)
export type { RedisBindingStoreOptions } from "./stores/RedisBindingStore";
export { RedisBindingStore } from "./stores/RedisBindingStore";
export type { RedisDeviceStoreOptions } from "./stores/RedisDeviceStore";
export { RedisDeviceStore } from "./stores/RedisDeviceStore";
export type { HashChange, RedisHashStateOptions } from "./stores/RedisHashState";
export { RedisHashState } from "./stores/RedisHashState";
export type { RedisKeyStoreOptions } from "./stores/RedisKeyStore";
export { REDIS_KEY_STORE_DEFAULTS, RedisKeyStore } from "./stores/RedisKeyStore";
export type { RedisRecordStoreOptions } from "./stores/RedisRecordStore";
export { REDIS_RECORD_STORE_DEFAULTS, RedisRecordStore } from "./stores/RedisRecordStore";
export type { RedisResponseStoreOptions } from "./stores/RedisResponseStore";
export { REDIS_RESPONSE_STORE_DEFAULTS, RedisResponseStore } from "./stores/RedisResponseStore";
export type { RedisTaskStoreChange, RedisTaskStoreOptions } from "./stores/RedisTaskStore";
export { REDIS_TASK_STORE_DEFAULTS, RedisTaskStore } from "./stores/RedisTaskStore";
export type { RedisStoreClientOptions, RedisStoreOptions } from "./stores/redisStoreClient";
export {
  connectRedisStoreClient,
  DEFAULT_REDIS_NAMESPACE,
  REDIS_STORE_CLIENT_DEFAULTS,
  redisUnavailable,
} from "./stores/redisStoreClient";
// What is read from Redis is checked: malformed messages dropped with a rate-limited warning
export type { MalformedMessagesLogger, MalformedMessagesOptions } from "./untrusted";
export {
  checkValue,
  MALFORMED_MESSAGE_WARNING,
  MALFORMED_MESSAGES_DEFAULTS,
  MalformedMessages,
  parseJson,
} from "./untrusted";
