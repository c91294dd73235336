/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Discord (discord.js). The gateway loads it for channels with
 * `plugin: "discord"` (or a channel named `discord`).
 */

import { discordChannel } from "./discord";

export type { DiscordConfig } from "./discord";
export {
  DISCORD_MAX_TEXT,
  DISCORD_RATE_LIMIT_OFFSET_MS,
  DiscordConfigSchema,
  discordChannel,
} from "./discord";
export default discordChannel;
