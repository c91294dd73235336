import type {
  ChannelContext,
  ChannelPlugin,
  ChannelPluginFactory,
  InboundMessageInput,
} from "@openclaw/channel-sdk";
import type { ChannelConfig } from "@openclaw/config";
import { stableStringify } from "@openclaw/config";
import type { ChannelState, ChannelStatus, InboundMessage } from "@openclaw/protocol";
import * as v from "valibot";
import type { Logger } from "../logging";

interface Running {
  readonly name: string;
  readonly factory: ChannelPluginFactory;
  readonly plugin: ChannelPlugin;
  readonly settingsKey: string;
  readonly controller: AbortController;
  /** Set when start failed: the channel stays listed as down. */
  startError?: { code: string; message: string; at: number };
  /** When the instance was started. */
  readonly startedAt: number;
  /** Watchdog restarts in a row without the channel getting ready. */
  readonly restarts: number;
}

/** The watchdog's settings (the config's `watchdog` section). */
export interface ChannelWatchdogSettings {
  checkIntervalMs: number;
  restartAfterMs: number;
  maxRestartDelayMs: number;
}

/**
 * Default of `GatewayOptions.channelStartWaitMs`: no wait. Start-up and reloads complete at once;
 * channels connect in the background and `/ready` reports them.
 */
export const DEFAULT_CHANNEL_START_WAIT_MS = 0;

/** What the manager reports back to the gateway. */
export interface ChannelManagerHooks {
  onInbound(channel: string, message: InboundMessage): Promise<void>;
  onStatus(status: ChannelStatus): void;
}

/**
 * Runs the configured channels: one plugin instance per `channels.<name>` entry, made by the
 * factory named by its `plugin` key (default: the channel's name). `apply` restarts only the
 * channels whose settings changed.
 */
export class ChannelManager {
  readonly #running = new Map<string, Running>();
  #applying: Promise<void> = Promise.resolve();
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    private readonly factories: ReadonlyMap<string, ChannelPluginFactory>,
    private readonly hooks: ChannelManagerHooks,
    private readonly logger: Logger,
    /** How long `apply` waits for one channel to connect before it goes on (the channel keeps connecting). */
    private readonly startWaitMs: number = DEFAULT_CHANNEL_START_WAIT_MS,
  ) {}

  /**
   * Brings the running channels in line with the config.
   *
   * @param channels - `config.channels`.
   * @param only - Restrict to these channel names (from a config diff); all when omitted.
   */
  apply(channels: Readonly<Record<string, ChannelConfig>>, only?: readonly string[]): Promise<void> {
    this.#applying = this.#applying
      .then(() => this.#apply(channels, only))
      .catch((error: unknown) => {
        this.logger.error({ err: error }, "applying channel config failed");
      });
    return this.#applying;
  }

  get(name: string): ChannelPlugin | undefined {
    return this.#running.get(name)?.plugin;
  }

  /** Status of every configured channel. */
  statuses(): ChannelStatus[] {
    return [...this.#running.values()].map((entry) => this.#status(entry));
  }

  /** Whether every channel is ready (for `/ready`). */
  allReady(): boolean {
    return [...this.#running.values()].every((entry) => this.#status(entry).state === "ready");
  }

  /**
   * Starts the watchdog: a channel that stays unready for `restartAfterMs` is restarted, then again
   * after doubling delays (at most `maxRestartDelayMs`) until it is ready. A channel whose settings
   * are invalid (`INVALID_CONFIG`) is left alone: only a config change can help it.
   *
   * @param settings - Read at every check, so config reloads apply.
   */
  watch(
    settings: () => ChannelWatchdogSettings,
    channels: () => Readonly<Record<string, ChannelConfig>>,
  ): void {
    const check = () => {
      if (this.#stopped) return;
      const { checkIntervalMs, restartAfterMs, maxRestartDelayMs } = settings();
      const now = Date.now();
      for (const entry of [...this.#running.values()]) {
        const status = this.#status(entry);
        if (status.state === "ready" || status.state === "stopped") continue;
        // Settings that fail validation fail again: the channel restarts when its config changes.
        if (entry.startError?.code === "INVALID_CONFIG") continue;
        const since = Math.max(entry.startedAt, status.since);
        const wait = Math.min(maxRestartDelayMs, restartAfterMs * 2 ** entry.restarts);
        if (now - since < wait) continue;
        const settingsNow = channels()[entry.name];
        if (settingsNow === undefined || settingsNow.enabled === false) continue;
        this.logger.warn(
          {
            channel: entry.name,
            state: status.state,
            since,
            restarts: entry.restarts + 1,
            error: status.lastError?.message,
          },
          "channel not ready for too long; the watchdog restarts it",
        );
        this.#applying = this.#applying
          .then(async () => {
            if (this.#running.get(entry.name) !== entry) return; // reloaded or stopped meanwhile
            await this.#stop(entry.name);
            await this.#start(entry.name, settingsNow, stableStringify(settingsNow), entry.restarts + 1);
          })
          .catch((error: unknown) =>
            this.logger.error({ err: error, channel: entry.name }, "watchdog restart failed"),
          );
      }
      this.#watchdog = setTimeout(check, checkIntervalMs);
      this.#watchdog.unref();
    };
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(check, settings().checkIntervalMs);
    this.#watchdog.unref();
  }

  async stopAll(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#watchdog);
    // Abort first, so that channels still connecting give up instead of holding up the shutdown.
    for (const entry of this.#running.values()) entry.controller.abort();
    await this.#applying;
    await Promise.all([...this.#running.keys()].map((name) => this.#stop(name)));
  }

  async #apply(channels: Readonly<Record<string, ChannelConfig>>, only?: readonly string[]): Promise<void> {
    const names = new Set(only ?? [...Object.keys(channels), ...this.#running.keys()]);
    // Channels start side by side: one platform that is slow or unreachable delays no other.
    await Promise.all([...names].map((name) => this.#applyOne(name, channels[name])));
  }

  async #applyOne(name: string, settings: ChannelConfig | undefined): Promise<void> {
    const running = this.#running.get(name);
    if (settings === undefined || settings.enabled === false) {
      if (running !== undefined) await this.#stop(name);
      return;
    }
    const key = stableStringify(settings);
    if (running !== undefined && running.settingsKey === key) return;
    if (running !== undefined) await this.#stop(name);
    await this.#start(name, settings, key, 0);
  }

  async #start(name: string, settings: ChannelConfig, settingsKey: string, restarts: number): Promise<void> {
    const pluginName = settings.plugin ?? name;
    const factory = this.factories.get(pluginName);
    if (factory === undefined) {
      this.logger.error({ channel: name, plugin: pluginName }, "no channel plugin by that name is installed");
      return;
    }
    const { plugin: _plugin, enabled: _enabled, agent: _agent, ...rest } = settings;
    const parsed = v.safeParse(factory.configSchema, rest);
    const instance = factory.create();
    const controller = new AbortController();
    const entry: Running = {
      name,
      factory,
      plugin: instance,
      settingsKey,
      controller,
      startedAt: Date.now(),
      restarts,
    };
    this.#running.set(name, entry);
    if (!parsed.success) {
      entry.startError = {
        code: "INVALID_CONFIG",
        message: parsed.issues.map((i) => `${v.getDotPath(i) ?? ""}: ${i.message}`).join("; "),
        at: Date.now(),
      };
      this.logger.error({ channel: name, error: entry.startError.message }, "invalid channel settings");
      this.hooks.onStatus(this.#status(entry));
      return;
    }
    const context: ChannelContext<unknown> = {
      channel: name,
      config: parsed.output,
      signal: controller.signal,
      logger: {
        debug: (message, fields) => this.logger.debug({ channel: name, ...fields }, message),
        info: (message, fields) => this.logger.info({ channel: name, ...fields }, message),
        warn: (message, fields) => this.logger.warn({ channel: name, ...fields }, message),
        error: (message, fields) => this.logger.error({ channel: name, ...fields }, message),
      },
      emit: (message: InboundMessageInput) => this.hooks.onInbound(name, message as InboundMessage),
      setStatus: () => this.hooks.onStatus(this.#status(entry)),
    };
    this.hooks.onStatus(this.#status(entry));
    const started = instance.initialize(parsed.output, context).then(
      () => {
        this.logger.info({ channel: name, plugin: pluginName }, "channel started");
        this.hooks.onStatus(this.#status(entry));
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        entry.startError = {
          code: (error as { code?: string }).code ?? "INTERNAL",
          message: (error as Error).message,
          at: Date.now(),
        };
        this.logger.error({ channel: name, error: entry.startError.message }, "channel failed to start");
        this.hooks.onStatus(this.#status(entry));
      },
    );
    // Wait a bounded time: a platform that keeps the plugin connecting must not hold up the
    // gateway's start or later reloads; the channel shows as `connecting` meanwhile.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.startWaitMs);
    });
    await Promise.race([started, waited]);
    clearTimeout(timer);
  }

  async #stop(name: string): Promise<void> {
    const entry = this.#running.get(name);
    if (entry === undefined) return;
    this.#running.delete(name);
    entry.controller.abort();
    try {
      await entry.plugin.destroy();
    } catch (error) {
      this.logger.warn({ channel: name, err: error }, "channel did not stop cleanly");
    }
    this.hooks.onStatus({ ...this.#status(entry), state: "stopped" });
  }

  #status(entry: Running): ChannelStatus {
    const health = entry.plugin.status();
    const state: ChannelState = entry.startError !== undefined ? "down" : health.state;
    const status: ChannelStatus = {
      name: entry.name,
      plugin: entry.factory.name,
      state,
      since: health.since,
      capabilities: [...entry.factory.capabilities],
    };
    const lastError = entry.startError ?? health.lastError;
    if (lastError !== undefined) status.lastError = lastError;
    if (health.details !== undefined) status.details = health.details;
    return status;
  }
}
