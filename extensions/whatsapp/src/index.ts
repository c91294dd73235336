/**
 * @packageDocumentation
 * The OpenClaw channel plugin for WhatsApp: the Cloud API (default) or WhatsApp Web through Baileys.
 * The gateway loads it for channels with `plugin: "whatsapp"` (or a channel named `whatsapp`).
 */

import { whatsappChannel } from "./whatsapp";

// The plugin
export type { WhatsAppChannelOptions } from "./whatsapp";
export { createWhatsAppChannel, whatsappChannel } from "./whatsapp";
export default whatsappChannel;

// Baileys boundary (for injecting a socket factory)
export type {
  BaileysDependencies,
  BaileysEventEmitterLike,
  BaileysLogger,
  BaileysMediaDownloader,
  BaileysSocketFactory,
  BaileysSocketLike,
  BaileysSocketOptions,
  WAMessageLike,
} from "./BaileysTransport";
// Settings
export type { WhatsAppConfig, WhatsAppTemplate } from "./config";
export { WHATSAPP_DEFAULTS, WHATSAPP_MAX_TEXT, WhatsAppConfigSchema } from "./config";
// Cloud API errors
export { RATE_LIMIT_CODES, WINDOW_CLOSED_CODE } from "./graphErrors";
