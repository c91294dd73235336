/**
 * @packageDocumentation
 * The OpenClaw channel plugin SDK: what a channel plugin implements and what it receives.
 * Extensions import only this package.
 */

// Message types from the protocol, so plugins need no other dependency.
export type {
  Attachment,
  Button,
  ChannelCapability,
  ChannelState,
  InboundMessage,
  MessageContent,
  Sender,
} from "@openclaw/protocol";
export { InboundMessageSchema, MessageContentSchema } from "@openclaw/protocol";
/** valibot, for plugins' config schemas: the same copy the SDK validates with. */
export * as v from "valibot";
export type { ChannelErrorOptions } from "./ChannelError";
// Errors
export { CHANNEL_ERROR_WIRE_CODE, ChannelError, ChannelErrorCode, toChannelError } from "./ChannelError";

// Content
export { degradeContent, markdownToPlainText, splitText } from "./content";
export type { ChannelDefinition, ChannelImplementation } from "./defineChannel";
export { defineChannel } from "./defineChannel";
// Inbound messages the gateway could not take
export type { EmitRetryOptions, InboundRetrierOptions } from "./emitRetry";
export {
  EMIT_RETRY_DEFAULTS,
  emitUntilTaken,
  INBOUND_RETRIER_DEFAULTS,
  InboundRetrier,
  isHostUnavailable,
} from "./emitRetry";
export type { BotFrameworkCheck, SignatureCheck, SignatureFailure } from "./signatures";
// Webhook signatures
export {
  BOT_FRAMEWORK_ISSUER,
  BOT_FRAMEWORK_JWKS_URL,
  checkBotFrameworkServiceUrl,
  constantTimeEqual,
  SLACK_TOLERANCE_SECONDS,
  verifyBotFrameworkJwt,
  verifyDiscordSignature,
  verifyHmacSha256Hex,
  verifySlackSignature,
  verifyTelegramSecretToken,
  verifyWhatsAppSignature,
} from "./signatures";
// The contract
export type {
  ChannelContext,
  ChannelHealth,
  ChannelLimits,
  ChannelLogger,
  ChannelPlacement,
  ChannelPlugin,
  ChannelPluginFactory,
  InboundMessageInput,
  SendOptions,
  SendResult,
  WebhookRequest,
  WebhookResponse,
} from "./types";
