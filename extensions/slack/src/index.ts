/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Slack (Bolt): Socket Mode or the Events API. The gateway loads it
 * for channels with `plugin: "slack"` (or a channel named `slack`).
 */

import { slackChannel } from "./slack";

export type { SlackMessageRef } from "./content";
export { parseMessageId, SLACK_MAX_TEXT, SLACK_SECTION_MAX_TEXT, toMessageId } from "./content";
export { toSlackChannelError } from "./errors";
export type { SlackConfig } from "./slack";
export { SLACK_DEFAULTS, SLACK_RESPONSE_URL_LIFETIME_MS, SlackConfigSchema, slackChannel } from "./slack";
export default slackChannel;
