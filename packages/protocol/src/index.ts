/**
 * @packageDocumentation
 * The OpenClaw Gateway wire protocol, shared by the gateway and every client.
 */

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

// Errors
export {
  ERROR_CODE_INFO,
  ERROR_CODES,
  ErrorCode,
  isProtocolError,
  ProtocolError,
  toProtocolError,
} from "./errors";
export type { ErrorCodeInfo, ErrorDetails, ErrorShape, ProtocolErrorOptions } from "./errors";

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
} from "./frames";
export type { EventFrame, Frame, FrameType, RequestFrame, ResponseFrame } from "./frames";

// Catalogues
export { isMethodName, METHOD_NAMES, METHODS } from "./methods";
export type { AnySchema, MethodDefinition, MethodName, MethodParams, MethodParamsInput, MethodResult } from "./methods";
export { EVENT_NAMES, EVENTS, isEventName } from "./events";
export type { EventData, EventDefinition, EventName } from "./events";

// Parsing and encoding (servers and clients)
export {
  DEFAULT_PARSE_FRAME_OPTIONS,
  FrameRejectReason,
  parseEventData,
  parseFrame,
  parseParams,
  parseResult,
} from "./parse";
export type { ParseFrameOptions, ParseFrameResult, ValidationOutcome } from "./parse";
export { encodeError, encodeEvent, encodeRequest, encodeResult } from "./encode";

// Client
export { DEFAULT_CLIENT_OPTIONS, GatewayClient } from "./client/GatewayClient";
export type {
  DisconnectInfo,
  GatewayClientEvents,
  GatewayClientOptions,
  GatewayClientState,
  IncomingRequest,
  RequestHandler,
  RequestOptions,
} from "./client/GatewayClient";
export { backoffDelay, DEFAULT_BACKOFF } from "./client/backoff";
export type { BackoffOptions } from "./client/backoff";
export type { WebSocketConstructor, WebSocketLike } from "./client/websocket";

// JSON Schema
export { protocolJsonSchema } from "./json-schema";
export type { JsonSchema } from "./json-schema";

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
export type { Attachment, Button, ClientInfo, InboundMessage, MessageContent, Sender } from "./schemas/common";
export {
  ChannelCapabilitySchema,
  ChannelStateSchema,
  ChannelStatusSchema,
  ConnectParamsSchema,
  ConnectResultSchema,
  RoleSchema,
  ScopeSchema,
} from "./schemas/system";
export type {
  ChannelCapability,
  ChannelState,
  ChannelStatus,
  ConnectParams,
  ConnectResult,
  Role,
  Scope,
} from "./schemas/system";
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
export type { Binding, BindingInput, ChannelRoute, RouteLevel, RoutingContext } from "./schemas/routing";
export { MessageSendParamsSchema, MessageSendResultSchema } from "./schemas/messages";
export type { MessageSendParams, MessageSendResult } from "./schemas/messages";
export { NodeInfoSchema, AgentRunParamsSchema, AgentRunResultSchema } from "./schemas/nodes";
export type { AgentRunParams, AgentRunResult, NodeInfo } from "./schemas/nodes";
export { DeviceSchema, PairingCodeSchema, PairingRequestSchema } from "./schemas/pairing";
export type { Device, PairingRequest } from "./schemas/pairing";
export { TaskInfoSchema, TaskResultSchema, TaskScheduleParamsSchema, TaskStatusSchema } from "./schemas/tasks";
export type { TaskInfo, TaskResult, TaskScheduleParams, TaskStatus } from "./schemas/tasks";
export { ConfigIssueSchema } from "./schemas/config";
export type { ConfigIssue } from "./schemas/config";
export { ConversationMessageSchema, ConversationSummarySchema } from "./schemas/conversations";
export type { ConversationMessage, ConversationSummary } from "./schemas/conversations";
