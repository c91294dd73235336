/**
 * @packageDocumentation
 * The OpenClaw Gateway wire protocol, shared by the gateway and every client.
 */

export type { BackoffOptions } from "./client/backoff";
export { backoffDelay, DEFAULT_BACKOFF } from "./client/backoff";
export type {
  DisconnectInfo,
  GatewayClientEvents,
  GatewayClientOptions,
  GatewayClientState,
  IncomingRequest,
  RequestHandler,
  RequestOptions,
} from "./client/GatewayClient";
// Client
export { DEFAULT_CLIENT_OPTIONS, GatewayClient } from "./client/GatewayClient";
export type { WebSocketConstructor, WebSocketLike } from "./client/websocket";
// Constants
export {
  CloseCode,
  DEFAULT_GATEWAY_HOST,
  DEFAULT_GATEWAY_PORT,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_FRAME_DEPTH,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
} from "./constants";
export { encodeError, encodeEvent, encodeRequest, encodeResult } from "./encode";
export type { ErrorCodeInfo, ErrorDetails, ErrorShape, ProtocolErrorOptions } from "./errors";
// Errors
export {
  ERROR_CODE_INFO,
  ERROR_CODES,
  ErrorCode,
  isProtocolError,
  ProtocolError,
  toProtocolError,
} from "./errors";
export type { EventData, EventDefinition, EventName } from "./events";
export { EVENT_NAMES, EVENTS, isEventName } from "./events";
export type { EventFrame, Frame, FrameType, RequestFrame, ResponseFrame } from "./frames";
// Frames
export {
  ErrorCodeSchema,
  ErrorShapeSchema,
  EventFrameSchema,
  FrameIdSchema,
  FrameSchema,
  NameSchema,
  RequestFrameSchema,
  ResponseFrameSchema,
  TRACEPARENT_PATTERN,
  TraceparentSchema,
} from "./frames";
export type { JsonSchema } from "./json-schema";
// JSON Schema
export { protocolJsonSchema } from "./json-schema";
export type {
  AnySchema,
  MethodDefinition,
  MethodName,
  MethodParams,
  MethodParamsInput,
  MethodResult,
} from "./methods";
// Catalogues
export { isMethodName, METHOD_NAMES, METHODS } from "./methods";
export type { MetricsFigures } from "./metrics";
// Live metrics (system.metrics samples to rates and percentiles)
export { histogramQuantile, metricsFigures } from "./metrics";
export type { ParseFrameOptions, ParseFrameResult, ValidationOutcome } from "./parse";
// Parsing and encoding (servers and clients)
export {
  DEFAULT_PARSE_FRAME_OPTIONS,
  FrameRejectReason,
  parseEventData,
  parseFrame,
  parseParams,
  parseResult,
} from "./parse";
export type {
  ChatChunkEvent,
  ChatRunEvent,
  ChatRunStatus,
  ChatSendParams,
  ChatSendResult,
} from "./schemas/chat";
export {
  ChatChunkEventSchema,
  ChatRunEventSchema,
  ChatRunStatusSchema,
  ChatSendParamsSchema,
  ChatSendResultSchema,
  WEBCHAT_CHANNEL,
} from "./schemas/chat";
export type {
  Attachment,
  Button,
  ClientInfo,
  InboundMessage,
  MessageContent,
  Sender,
} from "./schemas/common";
// Shared payload schemas and types
export {
  AddressSchema,
  AttachmentSchema,
  ButtonSchema,
  ChannelNameSchema,
  ClientInfoSchema,
  DurationMsSchema,
  IdempotencyKeySchema,
  IdSchema,
  InboundMessageSchema,
  MessageContentSchema,
  SenderSchema,
  TimestampSchema,
} from "./schemas/common";
export type { ConfigIssue } from "./schemas/config";
export { ConfigIssueSchema } from "./schemas/config";
export type { ConversationMessage, ConversationSummary } from "./schemas/conversations";
export { ConversationMessageSchema, ConversationSummarySchema } from "./schemas/conversations";
export type { Delivery, DeliveryStatus } from "./schemas/delivery";
export { DeliverySchema, DeliveryStatusSchema } from "./schemas/delivery";
export type { MessageSendParams, MessageSendResult } from "./schemas/messages";
export { MessageSendParamsSchema, MessageSendResultSchema } from "./schemas/messages";
export type { AgentRunParams, AgentRunResult, AgentToolCall, NodeInfo } from "./schemas/nodes";
export {
  AgentRunParamsSchema,
  AgentRunResultSchema,
  AgentToolCallSchema,
  NodeInfoSchema,
} from "./schemas/nodes";
export type { Device, PairingRequest } from "./schemas/pairing";
export { DeviceSchema, PairingCodeSchema, PairingRequestSchema } from "./schemas/pairing";
export type { Binding, BindingInput, ChannelRoute, RouteLevel, RoutingContext } from "./schemas/routing";
export {
  BindingInputSchema,
  BindingMatchSchema,
  BindingSchema,
  BindingTargetSchema,
  ChannelRouteSchema,
  ROUTE_LEVELS,
  RouteLevelSchema,
  RoutingContextSchema,
} from "./schemas/routing";
export type {
  ChannelCapability,
  ChannelState,
  ChannelStatus,
  ConnectParams,
  ConnectResult,
  MetricsHistogram,
  Role,
  Scope,
  SystemMetrics,
} from "./schemas/system";
export {
  ChannelCapabilitySchema,
  ChannelStateSchema,
  ChannelStatusSchema,
  ConnectParamsSchema,
  ConnectResultSchema,
  MetricsHistogramSchema,
  RoleSchema,
  ScopeSchema,
  SystemMetricsResultSchema,
} from "./schemas/system";
export type { TaskInfo, TaskResult, TaskScheduleParams, TaskStatus } from "./schemas/tasks";
export {
  TaskInfoSchema,
  TaskResultSchema,
  TaskScheduleParamsSchema,
  TaskStatusSchema,
} from "./schemas/tasks";
