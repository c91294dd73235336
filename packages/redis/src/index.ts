/**
 * @packageDocumentation
 * Cluster mode for the OpenClaw Gateway on Redis.
 */
// Cluster mode from the config's `cluster` section
export type { RedisCluster } from "./cluster";
export { createCluster, defaultInstanceId } from "./cluster";
// Which instances are alive
export type { ClusterMembershipEventMap, ClusterMembershipOptions } from "./ClusterMembership";
export { CLUSTER_MEMBERSHIP_DEFAULTS, ClusterMembership } from "./ClusterMembership";
// The broadcast adapter (events everywhere, node presence)
export type {
  RedisAdapterEventMap,
  RedisAdapterLogger,
  RedisAdapterOptions,
  RedisAdapterState,
} from "./RedisAdapter";
export { REDIS_ADAPTER_DEFAULTS, RedisAdapter, RedisAdapterEvents } from "./RedisAdapter";
// Leases with fencing tokens
export type { RedisLeasesOptions } from "./RedisLeases";
export { REDIS_LEASES_DEFAULTS, RedisLeases } from "./RedisLeases";
export { RedisBindingStore } from "./stores/RedisBindingStore";
export { RedisDeviceStore } from "./stores/RedisDeviceStore";
// Redis stores (the gateway's store interfaces)
export type { RedisKeyStoreOptions } from "./stores/RedisKeyStore";
export { REDIS_KEY_STORE_DEFAULTS, RedisKeyStore } from "./stores/RedisKeyStore";
export type { RedisRecordStoreOptions } from "./stores/RedisRecordStore";
export { REDIS_RECORD_STORE_DEFAULTS, RedisRecordStore } from "./stores/RedisRecordStore";
export type { RedisTaskStoreOptions } from "./stores/RedisTaskStore";
export { REDIS_TASK_STORE_DEFAULTS, RedisTaskStore } from "./stores/RedisTaskStore";
export type { RedisStoreClientOptions, RedisStoreOptions } from "./stores/redisStoreClient";
export {
  connectRedisStoreClient,
  DEFAULT_REDIS_NAMESPACE,
  REDIS_STORE_CLIENT_DEFAULTS,
  redisUnavailable,
} from "./stores/redisStoreClient";
