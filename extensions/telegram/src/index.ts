/**
 * @packageDocumentation
 * The OpenClaw channel plugin for Telegram (grammY). The gateway loads it for channels with
 * `plugin: "telegram"` (or a channel named `telegram`).
 */

import { telegramChannel } from "./telegram";

export type { TelegramConfig } from "./telegram";
export { TELEGRAM_MAX_TEXT, TelegramConfigSchema, telegramChannel } from "./telegram";
export default telegramChannel;
