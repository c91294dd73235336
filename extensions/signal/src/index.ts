/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Signal, through a signal-cli daemon's HTTP JSON-RPC and
 * server-sent events. The gateway loads it for channels with `plugin: "signal"` (or a channel named
 * `signal`).
 */

import { signalChannel } from "./signal";

// The plugin
export type { SignalConfig } from "./signal";
export {
  ATTACHMENT_REFERENCE_PREFIX,
  SIGNAL_DEFAULTS,
  SIGNAL_MAX_TEXT,
  SignalConfigSchema,
  signalChannel,
} from "./signal";
export default signalChannel;

export type { EnvelopeOutcome } from "./envelope";
export { interpretReceive } from "./envelope";
// Addresses and ids
export type { SignalTarget } from "./recipient";
export { GROUP_PREFIX, messageId, parseMessageId, parseRecipient } from "./recipient";

// The signal-cli client
export type {
  SignalCliClientOptions,
  SignalCliEvent,
  SignalCliEventHandlers,
  SignalCliSubscription,
} from "./SignalCliClient";
export { SIGNAL_CLI_CLIENT_DEFAULTS, SignalCliClient } from "./SignalCliClient";
export type { JsonRpcErrorObject, SignalCliErrorOptions } from "./SignalCliError";
export {
  DEFAULT_RATE_LIMIT_RETRY_MS,
  SignalCliError,
  SignalCliErrorKind,
  SignalRpcErrorCode,
  toChannelError,
} from "./SignalCliError";
export type { SignalEventStreamOptions, SignalStreamChange, SignalStreamProblem } from "./SignalEventStream";
export { SIGNAL_EVENT_STREAM_DEFAULTS, SignalEventStream } from "./SignalEventStream";
export type {
  SignalAttachment,
  SignalDataMessage,
  SignalEnvelope,
  SignalGroup,
  SignalGroupInfo,
  SignalMention,
  SignalQuote,
  SignalReaction,
  SignalReceivePayload,
  SignalRecipientParams,
  SignalSendParams,
  SignalSendResult,
  SignalSendResultEntry,
  SignalVersion,
} from "./types";
