import { channel as diagnosticsChannel } from "node:diagnostics_channel";
import { ChannelError, isHostUnavailable } from "@openclaw/channel-sdk";
import type { App, Logger, Receiver, webApi } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
import { toSlackChannelError } from "./errors";
import type { RedeliveryGuard } from "./RedeliveryGuard";

/** Socket Mode settings of a {@link SlackReceiver}. */
export interface SocketModeSettings {
  /** The app-level token (`xapp-…`, `connections:write`). */
  appToken: string;
  /** Web API options for `apps.connections.open` (base URL, timeout; retries are the receiver's). */
  clientOptions: webApi.WebClientOptions;
  /** How long one connection attempt may take, up to Slack's `hello`. */
  readyTimeoutMs: number;
  /** Bolt's client ping: a pong must come back within this long. */
  clientPingTimeoutMs: number;
  /** Bolt's server ping watch: once Slack has pinged, the next ping must come within this long. */
  serverPingTimeoutMs: number;
  /** The watchdog: a socket that has received nothing (no ping, no envelope, no hello) for this long is dropped. */
  stallGraceMs: number;
  /** First delay before a failed reconnect is tried again; doubles each try. */
  reconnectBaseMs: number;
  /** Longest delay between two reconnect attempts. */
  reconnectMaxMs: number;
}

/** Options of a {@link SlackReceiver}. */
export interface SlackReceiverOptions {
  logger: Logger;
  /** Remembers handled deliveries (`event_id`, `trigger_id`) to drop Slack's redeliveries. */
  deliveries: RedeliveryGuard;
  /** Socket Mode settings; absent for the Events API (requests come through {@link SlackReceiver.dispatch}). */
  socket?: SocketModeSettings;
  /** Connection health: `ready` when connected, `degraded` while reconnecting, `down` when refused. */
  onState?: (state: "ready" | "degraded" | "down", error?: ChannelError) => void;
}

/** What the receiver has counted, for `channel.status`. */
export interface ReceiverStats {
  connected: boolean;
  reconnects: number;
  stallsDetected: number;
  lastFrameAt: number | undefined;
  redeliveriesDropped: number;
}

type AckFn = (response?: Record<string, unknown>) => Promise<void>;

interface SocketEvent {
  ack: AckFn;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
}

const pingChannel = diagnosticsChannel("undici:websocket:ping");

/**
 * A Bolt receiver that acknowledges a delivery only once its listeners are done (so after the gateway
 * has recorded the message), and runs each delivery once: Slack's redeliveries (`X-Slack-Retry-Num`,
 * Socket Mode `retry_attempt`) wait for the first run or are acknowledged at once.
 *
 * In Socket Mode it holds the WebSocket itself: it reconnects with backoff after any disconnect
 * (`refresh_requested`, a dropped socket, a failed ping), and its watchdog drops a socket that stays
 * open but delivers nothing for `stallGraceMs`.
 */
export class SlackReceiver implements Receiver {
  readonly stats: ReceiverStats = {
    connected: false,
    reconnects: 0,
    stallsDetected: 0,
    lastFrameAt: undefined,
    redeliveriesDropped: 0,
  };
  readonly #options: SlackReceiverOptions;
  #app: App | undefined;
  #client: SocketModeClient | undefined;
  #stopping = false;
  #connecting = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #lastFrameAt = 0;
  readonly #onPing = (message: unknown) => {
    const socket = (this.#client?.websocket as unknown as { websocket?: unknown } | undefined)?.websocket;
    if (socket !== undefined && (message as { websocket?: unknown }).websocket === socket) this.#frame();
  };

  /**
   * @param options - Logger, dedupe memory, Socket Mode settings and a health callback.
   */
  constructor(options: SlackReceiverOptions) {
    this.#options = options;
  }

  /** Called by Bolt's `App` constructor. */
  init(app: App): void {
    this.#app = app;
  }

  /**
   * Connects (Socket Mode) and arms the watchdog; nothing to do for the Events API.
   *
   * @returns Once Slack said `hello`. Rejects with a `ChannelError` when the first connection fails.
   */
  async start(): Promise<void> {
    const socket = this.#options.socket;
    if (socket === undefined) return;
    this.#stopping = false;
    const client = new SocketModeClient({
      appToken: socket.appToken,
      // The receiver reconnects (with backoff, and without Bolt's unhandled rejection when Slack is unreachable).
      autoReconnectEnabled: false,
      clientPingTimeout: socket.clientPingTimeoutMs,
      serverPingTimeout: socket.serverPingTimeoutMs,
      clientOptions: { ...socket.clientOptions, retryConfig: { retries: 0 } },
      logger: this.#options.logger,
    });
    this.#client = client;
    client.on("slack_event", (event: SocketEvent) => void this.#onSocketEvent(event));
    client.on("ws_message", () => this.#frame());
    client.on("disconnected", () => this.#onDisconnected());
    // eventemitter3 has no default error throw; log what the socket reports.
    client.on("error", (error: unknown) =>
      this.#options.logger.debug(`slack socket error: ${(error as Error)?.message ?? error}`),
    );
    pingChannel.subscribe(this.#onPing);
    await this.#open();
    this.#watchdog = setInterval(
      () => this.#checkStall(),
      Math.max(25, Math.min(5000, Math.floor(socket.stallGraceMs / 4))),
    );
    this.#watchdog.unref();
  }

  /** Disconnects and releases every timer and socket. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    pingChannel.unsubscribe(this.#onPing);
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.disconnect().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(timer);
    dropSocket(client);
    client.removeAllListeners();
    this.stats.connected = false;
  }

  /**
   * Runs one delivery through Bolt's listeners, once per delivery id, and returns what the listeners
   * acknowledged it with. Rejects when a listener failed: then do not acknowledge, so Slack redelivers.
   *
   * @param body - The Events API body, slash command fields or interaction payload.
   * @param retryNum - Slack's retry number, for logs.
   * @param retryReason - Slack's retry reason, for logs.
   * @returns The ack response (the body to answer Slack with), if the listeners gave one.
   */
  async dispatch(
    body: Record<string, unknown>,
    retryNum?: number,
    retryReason?: string,
  ): Promise<Record<string, unknown> | undefined> {
    const app = this.#app;
    if (app === undefined)
      throw new ChannelError("NOT_READY", "the Slack receiver is not attached to an app");
    const run = async () => {
      let response: Record<string, unknown> | undefined;
      const event: Parameters<App["processEvent"]>[0] = {
        body,
        ack: async (value?: unknown) => {
          if (value !== undefined && value !== null && typeof value === "object")
            response = value as Record<string, unknown>;
          else if (typeof value === "string") response = { text: value };
        },
      };
      if (retryNum !== undefined) event.retryNum = retryNum;
      if (retryReason !== undefined) event.retryReason = retryReason;
      await app.processEvent(event);
      return response;
    };
    const key = deliveryKey(body);
    if (key === undefined) return run();
    const outcome = await this.#options.deliveries.run(key, run);
    if (outcome.first) return outcome.value;
    this.stats.redeliveriesDropped++;
    this.#options.logger.debug(
      `dropped a redelivery of ${key} (retry ${retryNum ?? 0}, ${retryReason ?? "-"})`,
    );
    return undefined;
  }

  async #onSocketEvent(event: SocketEvent): Promise<void> {
    try {
      const response = await this.dispatch(event.body, event.retry_num, event.retry_reason);
      await event.ack(response);
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      // Not recorded, or Slack's API failed: not acknowledged, so Slack redelivers it, and the
      // redelivery finds what was recorded. Anything else (an envelope that cannot be read) would
      // fail the same way again: acknowledged and dropped.
      if (isHostUnavailable(error) || (error instanceof ChannelError && error.retryable)) {
        this.#options.logger.warn(`a Slack ${event.type} envelope was not acknowledged: ${reason}`);
        return;
      }
      this.#options.logger.warn(`malformed Slack request dropped: a ${event.type} envelope: ${reason}`);
      await event.ack().catch(() => {});
    }
  }

  #frame(): void {
    this.#lastFrameAt = Date.now();
    this.stats.lastFrameAt = this.#lastFrameAt;
  }

  /** One connection attempt, up to `hello`; a handshake that does not finish in time is dropped. */
  async #open(): Promise<void> {
    const client = this.#client;
    const socket = this.#options.socket;
    if (client === undefined || socket === undefined) return;
    this.#connecting = true;
    this.#frame();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const starting = client.start();
    // Settled here or by the race; a start that fails after the timeout is not an unhandled rejection.
    starting.catch(() => {});
    try {
      await Promise.race([
        starting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            dropSocket(client);
            reject(
              new ChannelError(
                "PLATFORM_UNAVAILABLE",
                `Slack's Socket Mode said no hello within ${socket.readyTimeoutMs} ms`,
              ),
            );
          }, socket.readyTimeoutMs);
        }),
      ]);
      this.stats.connected = true;
      this.#frame();
    } catch (error) {
      const failure = toSlackChannelError(error);
      // The socket closed or failed before hello (the SDK rejects with nothing, or a socket error).
      if (failure.code === "INTERNAL")
        throw new ChannelError("PLATFORM_UNAVAILABLE", `Socket Mode did not connect: ${failure.message}`, {
          cause: error,
        });
      throw failure;
    } finally {
      clearTimeout(timer);
      this.#connecting = false;
    }
  }

  #onDisconnected(): void {
    this.stats.connected = false;
    if (this.#stopping || this.#connecting) return;
    this.stats.reconnects++;
    this.#options.onState?.(
      "degraded",
      new ChannelError("PLATFORM_UNAVAILABLE", "the Socket Mode connection closed; reconnecting"),
    );
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const socket = this.#options.socket;
    if (this.#stopping || this.#retryTimer !== undefined || socket === undefined) return;
    const delay =
      this.#attempt === 0
        ? 0
        : Math.min(socket.reconnectMaxMs, socket.reconnectBaseMs * 2 ** (this.#attempt - 1));
    this.#attempt++;
    this.#retryTimer = setTimeout(async () => {
      this.#retryTimer = undefined;
      if (this.#stopping) return;
      try {
        await this.#open();
        this.#attempt = 0;
        if (!this.#stopping) this.#options.onState?.("ready");
      } catch (error) {
        if (this.#stopping) return;
        const failure = toSlackChannelError(error);
        this.#options.logger.warn(`Socket Mode reconnect failed: ${failure.message}`);
        this.#options.onState?.(failure.code === "AUTH_FAILED" ? "down" : "degraded", failure);
        // A refused app token stays refused: the gateway's channel watchdog restarts the channel.
        if (failure.code !== "AUTH_FAILED") this.#scheduleReconnect();
      }
    }, delay);
    this.#retryTimer.unref();
  }

  #checkStall(): void {
    const client = this.#client;
    const socket = this.#options.socket;
    if (this.#stopping || client === undefined || socket === undefined || client.websocket === undefined)
      return;
    if (this.#retryTimer !== undefined) return;
    const silentMs = Date.now() - this.#lastFrameAt;
    if (silentMs <= socket.stallGraceMs) return;
    this.stats.stallsDetected++;
    this.#frame();
    this.#options.logger.warn(
      `the Socket Mode connection stalled (nothing for ${silentMs} ms); reconnecting`,
    );
    this.#options.onState?.(
      "degraded",
      new ChannelError("PLATFORM_UNAVAILABLE", `no frame from Slack for ${silentMs} ms; reconnecting`),
    );
    dropSocket(client);
  }
}

/**
 * Closes a Socket Mode client's WebSocket at once: the first `disconnect()` sends a close frame, the
 * second (the socket is closing) destroys it without waiting for a peer that may never answer.
 */
function dropSocket(client: SocketModeClient): void {
  const socket = client.websocket;
  socket?.disconnect();
  socket?.disconnect();
}

/** The identity of a delivery, the same across Slack's redeliveries. */
export function deliveryKey(body: Record<string, unknown>): string | undefined {
  if (typeof body.event_id === "string") return `event:${body.event_id}`;
  if (typeof body.trigger_id === "string") return `trigger:${body.trigger_id}`;
  const actions = body.actions as Array<{ action_ts?: unknown }> | undefined;
  if (typeof body.type === "string" && typeof actions?.[0]?.action_ts === "string")
    return `action:${actions[0].action_ts}`;
  return undefined;
}
