import { type ChannelContext, type ChannelPluginFactory, defineChannel } from "@openclaw/channel-sdk";
import { type BaileysDependencies, BaileysTransport } from "./BaileysTransport";
import { CloudTransport } from "./CloudTransport";
import { WHATSAPP_MAX_TEXT, type WhatsAppConfig, WhatsAppConfigSchema } from "./config";
import type { WhatsAppTransport } from "./Transport";

/** Options of {@link createWhatsAppChannel}: what is not config, such as the Baileys socket factory. */
export interface WhatsAppChannelOptions {
  /**
   * Replaces parts of `baileys` for the `baileys` transport: `makeSocket` (instead of
   * `makeWASocket`) and `downloadMedia`. Tests drive a fake socket this way.
   */
  baileys?: BaileysDependencies;
}

/**
 * Makes the WhatsApp channel plugin factory. The default export is `createWhatsAppChannel()`;
 * call it yourself to inject a Baileys socket factory.
 *
 * @param options - Injected dependencies.
 * @returns The plugin factory.
 *
 * @example
 * ```ts
 * const plugin = createWhatsAppChannel({ baileys: { makeSocket: (opts) => myFakeSocket } }).create();
 * ```
 */
export function createWhatsAppChannel(
  options: WhatsAppChannelOptions = {},
): ChannelPluginFactory<WhatsAppConfig> {
  return defineChannel({
    name: "whatsapp",
    capabilities: ["text", "media", "buttons"],
    limits: { maxTextLength: WHATSAPP_MAX_TEXT },
    webhooks: true,
    // In a cluster: the Cloud API's webhooks may reach any instance; one WhatsApp Web session at a time.
    placement: (config) => (config.transport === "baileys" ? "leased" : "everywhere"),
    config: WhatsAppConfigSchema,
    create() {
      let transport: WhatsAppTransport | undefined;
      return {
        async start(ctx: ChannelContext<WhatsAppConfig>) {
          transport =
            ctx.config.transport === "baileys"
              ? new BaileysTransport(ctx, options.baileys)
              : new CloudTransport(ctx);
          await transport.start();
        },
        send: (recipient, content, sendOptions) => transport!.send(recipient, content, sendOptions),
        webhook: (request) => transport!.webhook(request),
        stop: () => transport?.stop(),
        details: () => transport?.details() ?? {},
      };
    },
  });
}

/**
 * The WhatsApp channel plugin: the Cloud API (default; signed webhooks, media, interactive
 * buttons, templates for the 24-hour window) or WhatsApp Web through Baileys (`transport: "baileys"`).
 */
export const whatsappChannel: ChannelPluginFactory<WhatsAppConfig> = createWhatsAppChannel();
