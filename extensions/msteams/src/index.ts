/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Microsoft Teams (Bot Framework, via the Teams SDK's
 * `@microsoft/teams.api`). The gateway loads it for channels with `plugin: "msteams"` (or a
 * channel named `msteams`).
 */

import { msteamsChannel } from "./msteams";

export type { BotTokenProviderOptions } from "./BotTokenProvider";
export { BotTokenProvider } from "./BotTokenProvider";
export type {
  ConversationReferenceStoreOptions,
  KnownUser,
  StoredReference,
} from "./ConversationReferenceStore";
export {
  baseConversationId,
  CONVERSATION_REFERENCES_FILE,
  ConversationReferenceStore,
} from "./ConversationReferenceStore";
export type { MsTeamsConfig } from "./msteams";
export {
  CALLBACK_DATA_KEY,
  MSTEAMS_DEFAULTS,
  MsTeamsConfigSchema,
  msteamsChannel,
  TEAMS_MAX_TEXT,
} from "./msteams";
export default msteamsChannel;
