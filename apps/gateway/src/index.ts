/**
 * @packageDocumentation
 * The OpenClaw Gateway service, for embedding and tests. Run it with `openclaw-gateway`. The contracts
 * of its state and cluster backends (adapter, stores, leases, node presence, cluster mode) and their
 * conformance suites are in `@openclaw/backend`.
 */

export type { AgentRunContext, ChatAgent, ChatChunk, ChatResult } from "./agents";
export { chatAgent } from "./agents";
export type { BroadcastOptions } from "./broadcast/Broadcaster";
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
export { DeliveryQueue } from "./delivery/DeliveryQueue";
export { FileKeyStore } from "./delivery/FileKeyStore";
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
export { BINDINGS_FILE, FileBindingStore } from "./state/FileBindingStore";
export { DEVICES_FILE, FileDeviceStore } from "./state/FileDeviceStore";
export { FileRecordStore } from "./state/FileRecordStore";
export type { Tracing, TracingOptions } from "./telemetry/tracing";
export {
  currentTraceparent,
  resolveTracing,
  startTracing,
  TRACER_NAME,
  tracingActive,
} from "./telemetry/tracing";
export { GATEWAY_NAME, GATEWAY_VERSION } from "./version";
