/**
 * @packageDocumentation
 * The OpenClaw Gateway service, for embedding and tests. Run it with `openclaw-gateway`.
 */

export type { AgentRunContext, ChatAgent, ChatChunk, ChatResult } from "./agents";
export { chatAgent } from "./agents";
export type {
  Adapter,
  AdapterMember,
  BroadcastPacket,
  DisconnectOptions,
  NodeLocation,
} from "./broadcast/Adapter";
export { connectionRoom, nodeRoom, scopeRoom } from "./broadcast/Adapter";
export type { BroadcastOptions } from "./broadcast/Broadcaster";
export type { InMemoryAdapterOptions } from "./broadcast/InMemoryAdapter";
export { IN_MEMORY_ADAPTER_DEFAULTS, InMemoryAdapter } from "./broadcast/InMemoryAdapter";
export type {
  ChannelClusterOptions,
  ChannelLeaseChange,
  ChannelManager,
  ChannelManagerEventMap,
} from "./channels/ChannelManager";
export {
  ChannelManagerEvents,
  channelLeaseName,
  DEFAULT_CHANNEL_LEASE_RETRY_MS,
} from "./channels/ChannelManager";
export type { ClusterHealth, ClusterHealthReport } from "./cluster/ClusterHealth";
export type { ClusterMode, ClusterModeContext, ClusterModeLoader } from "./cluster/ClusterMode";
export type { Lease, LeaseProvider } from "./cluster/Leases";
export { LocalLeases } from "./cluster/Leases";
export type { ClusterNode, NodeCallOptions, NodeHost, RemoteNodes } from "./cluster/RemoteNodes";
export { LocalNodes } from "./cluster/RemoteNodes";
export type {
  DeliveryInput,
  DeliveryQueueHost,
  DeliveryRecord,
  FirstOutcome,
} from "./delivery/DeliveryQueue";
export { DeliveryQueue } from "./delivery/DeliveryQueue";
export { FileKeyStore } from "./delivery/FileKeyStore";
export type { KeyStore, KeyStoreFactory, KeyStoreLimits, KeyStoreOpenOptions } from "./delivery/KeyStore";
export type {
  DeliveryCounts,
  DeliveryListFilter,
  DeliveryQueueFactory,
  DeliveryQueueOpenOptions,
  OutboundQueue,
} from "./delivery/OutboundQueue";
export { Gateway } from "./Gateway";
export type { GatewayOptions, StopOptions } from "./GatewayOptions";
export { GATEWAY_DEFAULTS } from "./GatewayOptions";
export type { HttpContext } from "./httpContext";
export type { LogSinkOptions, LogSinkStats } from "./LogSink";
export { DEFAULT_LOG_SINK_OPTIONS, LogSink } from "./LogSink";
export type { LogFormat, Logger, LoggerOptions } from "./logging";
export { createLogger, resolveLogFormat, stdoutLogSink } from "./logging";
export type { ConnectionCounters, MetricsOptions, MetricsSources } from "./metrics/Metrics";
export { LATENCY_BUCKETS, MAX_LABEL_VALUES, METRICS_PREFIX, Metrics } from "./metrics/Metrics";
export { isMetricsPath, METRICS_PATH, metricsListener, serveMetrics } from "./metrics/serve";
export type { OpenAiErrorBody, OpenAiErrorOptions, OpenAiErrorType } from "./openai/errors";
export { OPENAI_ERROR_TYPES, OpenAiError, toOpenAiError } from "./openai/errors";
export type {
  ResponseStore,
  ResponseStoreFactory,
  ResponseStoreOptions,
  StoredResponse,
} from "./openai/ResponseStore";
export {
  fitsResponseStore,
  InMemoryResponseStore,
  RESPONSE_STORE_DEFAULTS,
  storedBytes,
} from "./openai/ResponseStore";
export type { AbortWatch, UpstreamLimits, UpstreamTarget } from "./openai/upstream";
export { UPSTREAM_DEFAULTS, UpstreamClient } from "./openai/upstream";
export type { PortHolder } from "./portHolder";
export { describePortInUse, findPortHolder } from "./portHolder";
export type { RunGatewayOptions } from "./runGateway";
export {
  DEFAULT_RUN_GATEWAY_OPTIONS,
  GATEWAY_EXIT,
  gatewayUsage,
  loadChannelPlugins,
  runGateway,
} from "./runGateway";
export { canonicalAddress, clientAddress, requestSource, sourceKey } from "./server/sources";
export type { TaskStoreFactory } from "./services/tasks";
export type { BindingStore, BindingStoreChange } from "./state/BindingStore";
export { applyBindingChange, BINDINGS_FILE, FileBindingStore } from "./state/BindingStore";
export type { ConversationRecord } from "./state/ConversationStore";
export type { DeviceStore, DeviceStoreChange, PairedDevice } from "./state/DeviceStore";
export { DEVICES_FILE, FileDeviceStore } from "./state/DeviceStore";
export { FileRecordStore } from "./state/FileRecordStore";
export type {
  RecordStore,
  RecordStoreChange,
  RecordStoreFactory,
  RecordStoreOpenOptions,
} from "./state/RecordStore";
export type { Tracing, TracingOptions } from "./telemetry/tracing";
export {
  currentTraceparent,
  resolveTracing,
  startTracing,
  TRACER_NAME,
  tracingActive,
} from "./telemetry/tracing";
export { GATEWAY_NAME, GATEWAY_VERSION } from "./version";
