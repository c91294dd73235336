import { EventEmitter } from "node:events";
import type { Lease, LeaseProvider } from "@openclaw/backend";
import type {
  ChannelContext,
  ChannelPlacement,
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
  readonly settingsKey: string;
  /** Aborted when the channel is stopped (reload, watchdog restart, shutdown). */
  readonly controller: AbortController;
  /** When the instance was started. */
  readonly startedAt: number;
  /** Watchdog restarts in a row without the channel getting ready. */
  readonly restarts: number;
  /** Whether it runs on one instance at a time (cluster mode, placement `leased`). */
  readonly leased: boolean;
  /** The running plugin; none while the channel stands by or when its settings are invalid. */
  plugin?: ChannelPlugin | undefined;
  /** Set when start failed: the channel stays listed as down. */
  startError?: { code: string; message: string; at: number } | undefined;
  /** The lease this instance holds for it (leased channels). */
  lease?: Lease | undefined;
  /** While standing by: since when, and the lease's holder when known. */
  standbySince: number;
  holder?: string | undefined;
  /** The next try to take the lease. */
  retry?: ReturnType<typeof setTimeout> | undefined;
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

/**
 * Default of `GatewayOptions.channelLeaseRetryMs`: how often an instance that stands by for a
 * leased channel tries to take its lease. A channel whose holder died runs again within the lease's
 * TTL plus this.
 */
export const DEFAULT_CHANNEL_LEASE_RETRY_MS = 1000;

/** The cluster side of the manager: leases for the channels that run on one instance at a time. */
export interface ChannelClusterOptions {
  /** Grants the channel leases (`channel:<name>`). */
  leases: LeaseProvider;
  /** This instance's id, reported as `instance` of the channels it runs under a lease. */
  instanceId: string;
  /**
   * How often a standby instance tries to take a leased channel's lease.
   * @defaultValue {@link DEFAULT_CHANNEL_LEASE_RETRY_MS} (1 s)
   */
  retryMs?: number;
}

/** A change of whether this instance may run a channel (see {@link ChannelManager.holdsLease}). */
export interface ChannelLeaseChange {
  channel: string;
  /** Whether this instance holds the channel's lease now. */
  held: boolean;
  /** The fencing token of the lease taken (when `held`). */
  token?: number;
}

/** Event names of a {@link ChannelManager}. */
export const ChannelManagerEvents = {
  /** This instance took or lost a leased channel's lease ({@link ChannelLeaseChange}). */
  LeaseChanged: "lease.changed",
} as const;

/** Events of a {@link ChannelManager}. */
export interface ChannelManagerEventMap {
  [ChannelManagerEvents.LeaseChanged]: [change: ChannelLeaseChange];
}

/**
 * A channel's own settings: its `channels.<name>` section without the keys every channel has
 * (`plugin`, `enabled`, `agent`), as its plugin's `configSchema` validates them.
 */
export function pluginSettings(section: ChannelConfig): Record<string, unknown> {
  const { plugin: _plugin, enabled: _enabled, agent: _agent, ...rest } = section;
  return rest;
}

/** The lease name of a channel. */
export const channelLeaseName = (channel: string): string => `channel:${channel}`;

/** What the manager reports back to the gateway. */
export interface ChannelManagerHooks {
  onInbound(channel: string, message: InboundMessage): Promise<void>;
  onStatus(status: ChannelStatus): void;
}

/**
 * Runs the configured channels: one plugin instance per `channels.<name>` entry, made by the
 * factory named by its `plugin` key (default: the channel's name). `apply` restarts only the
 * channels whose settings changed.
 *
 * In cluster mode (with {@link ChannelClusterOptions}), a channel whose plugin's placement is
 * `leased` runs only while this instance holds the lease `channel:<name>`; meanwhile it stands by
 * (state `standby`) and tries to take the lease every `retryMs`. When the lease is lost, the plugin
 * is destroyed and the channel stands by again. Channels placed `everywhere` run on every instance.
 */
export class ChannelManager extends EventEmitter<ChannelManagerEventMap> {
  readonly #running = new Map<string, Running>();
  readonly #cluster: Required<ChannelClusterOptions> | undefined;
  #applying: Promise<void> = Promise.resolve();
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    private readonly factories: ReadonlyMap<string, ChannelPluginFactory>,
    private readonly hooks: ChannelManagerHooks,
    private readonly logger: Logger,
    /** How long `apply` waits for one channel to connect before it goes on (the channel keeps connecting). */
    private readonly startWaitMs: number = DEFAULT_CHANNEL_START_WAIT_MS,
    /** Leases for the channels that run on one instance at a time; none in a single gateway. */
    cluster?: ChannelClusterOptions,
  ) {
    super();
    this.#cluster =
      cluster === undefined ? undefined : { retryMs: DEFAULT_CHANNEL_LEASE_RETRY_MS, ...cluster };
  }

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

  /** The plugin running a channel here; `undefined` when the channel is not configured or stands by. */
  get(name: string): ChannelPlugin | undefined {
    return this.#running.get(name)?.plugin;
  }

  /** Whether a channel is configured and enabled here (running, starting, failed, or standing by). */
  has(name: string): boolean {
    return this.#running.has(name);
  }

  /**
   * Whether this instance may run a channel: it is configured here and either holds its lease (a
   * leased channel in cluster mode) or needs none (a single gateway, or placement `everywhere`).
   * {@link ChannelManagerEvents.LeaseChanged} tells when it changes for a leased channel.
   */
  holdsLease(name: string): boolean {
    const entry = this.#running.get(name);
    return entry !== undefined && (!entry.leased || entry.lease !== undefined);
  }

  /** The fencing token of the lease this instance holds for a channel, if it holds one. */
  leaseToken(name: string): number | undefined {
    return this.#running.get(name)?.lease?.token;
  }

  /** Status of every configured channel. */
  statuses(): ChannelStatus[] {
    return [...this.#running.values()].map((entry) => this.#status(entry));
  }

  /**
   * Whether every channel is ready (for `/ready`). A channel standing by counts as ready while
   * another instance holds its lease; with no holder known, it runs nowhere and is not ready.
   */
  allReady(): boolean {
    return [...this.#running.values()].every((entry) => {
      const { state, instance } = this.#status(entry);
      return state === "ready" || (state === "standby" && instance !== undefined);
    });
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
        if (status.state === "ready" || status.state === "stopped" || status.state === "standby") continue;
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
    for (const entry of this.#running.values()) {
      clearTimeout(entry.retry);
      entry.controller.abort();
    }
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
    const parsed = v.safeParse(factory.configSchema, pluginSettings(settings));
    const placement: ChannelPlacement = parsed.success
      ? this.#placement(name, factory, parsed.output)
      : "everywhere";
    const now = Date.now();
    const entry: Running = {
      name,
      factory,
      settingsKey,
      controller: new AbortController(),
      startedAt: now,
      restarts,
      leased: this.#cluster !== undefined && placement === "leased",
      standbySince: now,
    };
    this.#running.set(name, entry);
    if (!parsed.success) {
      // Invalid everywhere alike: no lease is taken, every instance reports it down.
      entry.startError = {
        code: "INVALID_CONFIG",
        message: parsed.issues.map((i) => `${v.getDotPath(i) ?? ""}: ${i.message}`).join("; "),
        at: Date.now(),
      };
      this.logger.error({ channel: name, error: entry.startError.message }, "invalid channel settings");
      this.hooks.onStatus(this.#status(entry));
      return;
    }
    if (!entry.leased) return this.#launch(entry, parsed.output, undefined);
    this.hooks.onStatus(this.#status(entry));
    await this.#takeLease(entry, parsed.output);
  }

  /** The plugin's placement for these settings; `leased` when it does not say, or fails to. */
  #placement(name: string, factory: ChannelPluginFactory, config: unknown): ChannelPlacement {
    try {
      return factory.placement?.(config) ?? "leased";
    } catch (error) {
      this.logger.warn({ channel: name, err: error }, "the plugin's placement failed; the channel is leased");
      return "leased";
    }
  }

  /**
   * Tries to take a leased channel's lease; runs the channel when it got it, else stands by and
   * tries again in `retryMs`.
   */
  async #takeLease(entry: Running, config: unknown): Promise<void> {
    const cluster = this.#cluster!;
    const current = () => !this.#stopped && this.#running.get(entry.name) === entry;
    if (!current()) return;
    const leaseName = channelLeaseName(entry.name);
    let lease: Lease | undefined;
    let holder: string | undefined;
    try {
      lease = await cluster.leases.tryAcquire(leaseName);
      if (lease === undefined) holder = await cluster.leases.holder?.(leaseName);
    } catch (error) {
      this.logger.debug({ channel: entry.name, err: error }, "could not try the channel's lease");
    }
    if (!current()) {
      await lease?.release();
      return;
    }
    if (lease === undefined) {
      if (holder !== entry.holder) {
        entry.holder = holder;
        this.hooks.onStatus(this.#status(entry));
      }
      entry.retry = setTimeout(() => void this.#takeLease(entry, config), cluster.retryMs);
      return;
    }
    entry.lease = lease;
    entry.holder = undefined;
    const taken = lease;
    taken.lost.addEventListener("abort", () => void this.#leaseLost(entry, taken, config), { once: true });
    this.logger.info(
      { channel: entry.name, token: lease.token },
      "took the channel's lease; the channel runs here",
    );
    this.emit(ChannelManagerEvents.LeaseChanged, { channel: entry.name, held: true, token: lease.token });
    await this.#launch(entry, config, lease);
  }

  /** A held lease was lost (not renewed in time, or taken over): stop the plugin and stand by. */
  async #leaseLost(entry: Running, lease: Lease, config: unknown): Promise<void> {
    if (entry.lease !== lease) return;
    entry.lease = undefined;
    const plugin = entry.plugin;
    entry.plugin = undefined;
    entry.startError = undefined;
    entry.standbySince = Date.now();
    this.logger.warn(
      { channel: entry.name, token: lease.token, reason: String(lease.lost.reason) },
      "lost the channel's lease; the channel stops here and stands by",
    );
    this.emit(ChannelManagerEvents.LeaseChanged, { channel: entry.name, held: false });
    await this.#destroy(entry.name, plugin);
    if (this.#stopped || this.#running.get(entry.name) !== entry) return;
    this.hooks.onStatus(this.#status(entry));
    entry.retry = setTimeout(() => void this.#takeLease(entry, config), this.#cluster!.retryMs);
  }

  /** Creates and initializes the channel's plugin (waiting at most `startWaitMs`). */
  async #launch(entry: Running, config: unknown, lease: Lease | undefined): Promise<void> {
    const { name, factory } = entry;
    const instance = factory.create();
    entry.plugin = instance;
    entry.startError = undefined;
    const signal =
      lease === undefined ? entry.controller.signal : AbortSignal.any([entry.controller.signal, lease.lost]);
    const context: ChannelContext<unknown> = {
      channel: name,
      config,
      signal,
      logger: {
        debug: (message, fields) => this.logger.debug({ channel: name, ...fields }, message),
        info: (message, fields) => this.logger.info({ channel: name, ...fields }, message),
        warn: (message, fields) => this.logger.warn({ channel: name, ...fields }, message),
        error: (message, fields) => this.logger.error({ channel: name, ...fields }, message),
      },
      emit: (message: InboundMessageInput) => this.hooks.onInbound(name, message as InboundMessage),
      setStatus: () => {
        if (entry.plugin === instance) this.hooks.onStatus(this.#status(entry));
      },
    };
    this.hooks.onStatus(this.#status(entry));
    const started = instance.initialize(config, context).then(
      () => {
        if (entry.plugin !== instance) return;
        this.logger.info({ channel: name, plugin: factory.name }, "channel started");
        this.hooks.onStatus(this.#status(entry));
      },
      (error: unknown) => {
        if (signal.aborted || entry.plugin !== instance) return;
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
    clearTimeout(entry.retry);
    entry.controller.abort();
    const { plugin, lease } = entry;
    entry.plugin = undefined;
    entry.lease = undefined;
    // The plugin is gone before the lease is given up: never two connections at once.
    await this.#destroy(name, plugin);
    if (lease !== undefined) {
      await lease.release();
      this.emit(ChannelManagerEvents.LeaseChanged, { channel: name, held: false });
    }
    this.hooks.onStatus({ ...this.#status(entry, plugin), state: "stopped" });
  }

  async #destroy(name: string, plugin: ChannelPlugin | undefined): Promise<void> {
    try {
      await plugin?.destroy();
    } catch (error) {
      this.logger.warn({ channel: name, err: error }, "channel did not stop cleanly");
    }
  }

  #status(entry: Running, plugin: ChannelPlugin | undefined = entry.plugin): ChannelStatus {
    const base = {
      name: entry.name,
      plugin: entry.factory.name,
      capabilities: [...entry.factory.capabilities],
    };
    if (plugin === undefined && entry.startError === undefined) {
      // A leased channel this instance stands by for.
      const status: ChannelStatus = { ...base, state: "standby", since: entry.standbySince };
      if (entry.holder !== undefined) status.instance = entry.holder;
      return status;
    }
    const health = plugin?.status();
    const state: ChannelState = entry.startError !== undefined ? "down" : health!.state;
    const status: ChannelStatus = { ...base, state, since: health?.since ?? entry.startError!.at };
    if (entry.leased && this.#cluster !== undefined) status.instance = this.#cluster.instanceId;
    const lastError = entry.startError ?? health?.lastError;
    if (lastError !== undefined) status.lastError = lastError;
    if (health?.details !== undefined) status.details = health.details;
    return status;
  }
}
