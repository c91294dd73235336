/**
 * @packageDocumentation
 * Configuration of the OpenClaw Gateway: load, validate, hot reload.
 */

// Re-exported from @openclaw/protocol for convenience.
export type { ConfigIssue } from "@openclaw/protocol";
export { ConfigError, ConfigErrorCode } from "./ConfigError";
export type {
  ApplyOptions,
  ApplyResult,
  ConfigChangeEvent,
  ConfigInvalidEvent,
  ConfigManagerEvents,
  ConfigManagerOptions,
} from "./ConfigManager";
export { ConfigManager, DEFAULT_CONFIG_MANAGER_OPTIONS } from "./ConfigManager";
export type { ConfigDiff } from "./diff";
export { diffConfig, RESTART_REQUIRED_PATHS, stableStringify } from "./diff";
export type { Env } from "./env";
export { applyEnvOverrides, CONFIG_PATH_ENV, ENV_OVERRIDES, substituteEnv } from "./env";
export { configJsonSchema } from "./json-schema";
export type { ValidationResult } from "./resolve";
export { parseConfigText, resolveConfig } from "./resolve";
export type {
  AgentConfig,
  ChannelConfig,
  ClusterConfig,
  Config,
  ConfigInput,
  ConversationsConfig,
  CronJob,
  DeliveryConfig,
  MetricsConfig,
  TelemetryConfig,
} from "./schema";
export {
  AgentSchema,
  AgentsSectionSchema,
  ChannelSectionSchema,
  ChannelsSectionSchema,
  CLUSTER_DEFAULTS,
  ClusterSectionSchema,
  ConfigSchema,
  ConversationsSectionSchema,
  CronJobSchema,
  CronSectionSchema,
  DeliverySectionSchema,
  GatewaySectionSchema,
  HeartbeatSectionSchema,
  LoggingSectionSchema,
  METRICS_DEFAULTS,
  MetricsSectionSchema,
  OPENAI_DEFAULTS,
  OpenAiSectionSchema,
  SecuritySectionSchema,
  StateSectionSchema,
  TELEMETRY_DEFAULTS,
  TelemetrySectionSchema,
  WatchdogSectionSchema,
  WebhooksSectionSchema,
} from "./schema";
export { isSecretPath, REDACTED, redact, redactUrl, SECRET_KEY_PATTERN } from "./secrets";
export { closest, unknownKeyMessage, unknownKeys } from "./unknown-keys";
