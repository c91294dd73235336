/**
 * The shapes signal-cli's JSON-RPC interface sends and receives (its `Json*` records), as far as the
 * plugin uses them. Every field the daemon may omit is optional; unknown fields are kept in `raw`.
 */

/** Where a message, reaction or typing indicator goes: people (numbers or UUIDs) or one group. */
export interface SignalRecipientParams {
  /** Phone numbers (E.164) or ACIs (UUIDs). */
  recipient?: string[];
  /** A group id, base64. */
  groupId?: string;
}

/** Parameters of `send`. */
export interface SignalSendParams extends SignalRecipientParams {
  message?: string;
  /** File paths on the daemon's machine, or RFC 2397 `data:<mime>;filename=<name>;base64,<data>` URIs. */
  attachments?: string[];
  /** Timestamp of the quoted message. */
  quoteTimestamp?: number;
  /** Number or UUID of the quoted message's author. */
  quoteAuthor?: string;
  /** Text of the quoted message (optional). */
  quoteMessage?: string;
}

/** One recipient's outcome of a send. */
export interface SignalSendResultEntry {
  recipientAddress?: { uuid?: string | null; number?: string | null; username?: string | null };
  groupId?: string;
  type:
    | "SUCCESS"
    | "NETWORK_FAILURE"
    | "UNREGISTERED_FAILURE"
    | "IDENTITY_FAILURE"
    | "RATE_LIMIT_FAILURE"
    | string;
  token?: string;
  retryAfterSeconds?: number;
}

/** The result of `send` and `sendReaction`. */
export interface SignalSendResult {
  /** The message's timestamp: with the author, its id on Signal. */
  timestamp: number;
  results?: SignalSendResultEntry[];
}

/** The result of `version`. */
export interface SignalVersion {
  version: string;
}

/** One group of `listGroups`. */
export interface SignalGroup {
  id: string;
  name?: string;
  description?: string;
  isMember?: boolean;
  isBlocked?: boolean;
  members?: Array<{ number?: string | null; uuid?: string | null } | string>;
}

/** An attachment of a received message. */
export interface SignalAttachment {
  contentType?: string;
  filename?: string | null;
  /** What `getAttachment` takes. */
  id?: string | null;
  size?: number | null;
  width?: number | null;
  height?: number | null;
  caption?: string | null;
}

/** A quote (reply) in a received message. */
export interface SignalQuote {
  /** The quoted message's timestamp. */
  id: number;
  author?: string | null;
  authorNumber?: string | null;
  authorUuid?: string | null;
  text?: string | null;
}

/** A mention: its place in the text is a U+FFFC character. */
export interface SignalMention {
  name?: string | null;
  number?: string | null;
  uuid?: string | null;
  start: number;
  length: number;
}

/** A reaction to a message. */
export interface SignalReaction {
  emoji: string;
  targetAuthor?: string | null;
  targetAuthorNumber?: string | null;
  targetAuthorUuid?: string | null;
  targetSentTimestamp: number;
  isRemove?: boolean;
}

/** The group a message was sent in. */
export interface SignalGroupInfo {
  groupId: string;
  groupName?: string | null;
  revision?: number;
  /** `DELIVER` for messages, `UPDATE` for changes to the group. */
  type?: string;
}

/** The content of a received message. */
export interface SignalDataMessage {
  timestamp?: number;
  message?: string | null;
  groupInfo?: SignalGroupInfo | null;
  attachments?: SignalAttachment[] | null;
  mentions?: SignalMention[] | null;
  quote?: SignalQuote | null;
  reaction?: SignalReaction | null;
  /** A message that only changes the disappearing-messages timer. */
  isExpirationUpdate?: boolean;
  remoteDelete?: { timestamp: number } | null;
}

/** An envelope of the event stream: one thing the account received. */
export interface SignalEnvelope {
  /** Deprecated by signal-cli: the number, or the UUID when the number is unknown. */
  source?: string | null;
  sourceNumber?: string | null;
  sourceUuid?: string | null;
  sourceName?: string | null;
  sourceDevice?: number | null;
  timestamp: number;
  dataMessage?: SignalDataMessage | null;
  /** What the account sent from another of its devices: never a message to the gateway. */
  syncMessage?: Record<string, unknown> | null;
  /** Older bridges put reactions here; signal-cli puts them in `dataMessage.reaction`. */
  reactionMessage?: SignalReaction | null;
  receiptMessage?: unknown;
  typingMessage?: unknown;
  callMessage?: unknown;
  storyMessage?: unknown;
  editMessage?: unknown;
}

/** The data of a `receive` event: `{envelope, account}`. */
export interface SignalReceivePayload {
  envelope: SignalEnvelope;
  /** The account (number, or ACI for accounts without one) that received it. */
  account?: string;
}
