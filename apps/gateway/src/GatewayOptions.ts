import type { BackendOptions } from "@openclaw/backend";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import type { ConfigManager } from "@openclaw/config";
import type { Logger } from "./logging";

/** Defaults of the gateway's own limits (the rest are in the config). */
export const GATEWAY_DEFAULTS = {
  /** How long `stop()` waits for in-flight requests and running tasks. */
  drainTimeoutMs: 5000,
  /** How long `stop()` lets sockets close politely before terminating them. */
  closeGraceMs: 50,
} as const;

/**
 * Options of a `Gateway`: its config and channels, and where it keeps its state and how it shares it
 * with other instances ({@link BackendOptions} of `@openclaw/backend`; a cluster mode passes them).
 */
export interface GatewayOptions extends BackendOptions {
  /** The config, loaded. The gateway applies its changes live. */
  config: ConfigManager;
  /** Installed channel plugins, by their `name`. */
  channels?: readonly ChannelPluginFactory[];
  /** Where logs go. @defaultValue a pino logger at the configured level */
  logger?: Logger;
  /**
   * How long `start()` and a config reload wait for one channel to connect before they go on
   * without it; the channel keeps connecting (state `connecting`, shown by `/ready`) in the
   * background either way. The default does not wait: start-up completes at once.
   * @defaultValue 0
   */
  channelStartWaitMs?: number;
  /**
   * The built control UI served at `/ui/`.
   * @defaultValue `@openclaw/web`'s `dist` when that package is installed; none otherwise (404)
   */
  uiDir?: string;
  /**
   * How often an instance standing by for a leased channel tries to take its lease; a channel whose
   * holder died runs again within the lease TTL plus this.
   * @defaultValue 1000 (`DEFAULT_CHANNEL_LEASE_RETRY_MS`)
   */
  channelLeaseRetryMs?: number;
}

/** Options of `Gateway.stop()`. */
export interface StopOptions {
  /**
   * How long to wait for in-flight requests, and then for running tasks.
   * @defaultValue 5000 ({@link GATEWAY_DEFAULTS}.drainTimeoutMs)
   */
  drainTimeoutMs?: number;
}
