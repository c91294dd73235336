import type {
  ChannelContext,
  MessageContent,
  SendOptions,
  SendResult,
  WebhookRequest,
  WebhookResponse,
} from "@openclaw/channel-sdk";
import type { WhatsAppConfig } from "./config";

/** One way of talking to WhatsApp (the Cloud API or WhatsApp Web); the plugin delegates to it. */
export interface WhatsAppTransport {
  start(): Promise<void>;
  send(recipient: string, content: MessageContent, options: SendOptions): Promise<SendResult>;
  webhook(request: WebhookRequest): Promise<WebhookResponse>;
  stop(): Promise<void>;
  details(): Record<string, unknown>;
}

/** What a transport is built from. */
export type TransportContext = ChannelContext<WhatsAppConfig>;
