import { chmod, mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve as resolvePath } from "node:path";
import {
  type Adapter,
  applyBindingChange,
  type BindingStore,
  type ClusterHealth,
  InMemoryAdapter,
  InMemoryResponseStore,
  LocalNodes,
  type OutboundQueue,
  RESPONSE_STORE_DEFAULTS,
  type RemoteNodes,
  type ResponseStore,
  type ResponseStoreOptions,
} from "@openclaw/backend";
import type { ConfigManager } from "@openclaw/config";
import { NodeRegistry } from "@openclaw/node-registry";
import { CloseCode, type EventData, type EventName, ProtocolError } from "@openclaw/protocol";
import { Router } from "@openclaw/router";
import type { TaskQueue } from "@openclaw/task-queue";
import type { AgentRunContext } from "./agents";
import { AuthFailures } from "./auth/guards";
import { OperatorTokens } from "./auth/OperatorTokens";
import { PairingManager } from "./auth/PairingManager";
import type { BroadcastOptions } from "./broadcast/Broadcaster";
import {
  ChannelManager,
  DEFAULT_CHANNEL_LEASE_RETRY_MS,
  DEFAULT_CHANNEL_START_WAIT_MS,
} from "./channels/ChannelManager";
import { webchatChannel, withBuiltInChannels } from "./channels/webchat";
import { GATEWAY_DEFAULTS, type GatewayOptions, type StopOptions } from "./GatewayOptions";
import { createHttpApp } from "./http";
import { createLogger, type Logger } from "./logging";
import { Metrics } from "./metrics/Metrics";
import { metricsListener } from "./metrics/serve";
import { createRpc } from "./rpc/createRpc";
import type { FrameLoop } from "./rpc/FrameLoop";
import type { Connection } from "./server/Connection";
import { ConnectionHub } from "./server/ConnectionHub";
import { Heartbeat } from "./server/Heartbeat";
import { createHttpServer } from "./server/httpServer";
import { listen } from "./server/listen";
import { ConfigReactions } from "./services/ConfigReactions";
import { GatewayServices } from "./services/GatewayServices";
import { ConversationStore } from "./state/ConversationStore";
import { conversationLimitsOf, inboundIdLimitsOf } from "./state/conversationLimits";
import { FileBindingStore } from "./state/FileBindingStore";
import { FileDeviceStore } from "./state/FileDeviceStore";
import { STATE_DIR_MODE } from "./state/files";
import { defaultUiDir } from "./ui";

/**
 * The OpenClaw Gateway: one port serving the WebSocket protocol and the HTTP surface. This class only
 * composes the parts (`server/`, `rpc/`, `broadcast/`, `services/`) and starts and stops them in order.
 */
export class Gateway {
  readonly config: ConfigManager;
  readonly logger: Logger;
  readonly router = new Router();
  readonly registry: NodeRegistry;
  readonly pairing: PairingManager;
  readonly channels: ChannelManager;
  readonly conversations: ConversationStore;
  readonly startedAt = Date.now();
  readonly stateDir: string;
  readonly uiDir: string | undefined;
  /** Failed logins by address (WebSocket and HTTP alike). */
  readonly authFailures: AuthFailures;
  /** Rooms and fan-out of the connections. */
  readonly adapter: Adapter;
  /** The other instances' nodes, and calls to any node. */
  readonly remoteNodes: RemoteNodes;
  /** The cluster link's health, in cluster mode. */
  readonly cluster: ClusterHealth | undefined;
  /** Where `/v1/responses` are stored (in Redis in a cluster, so that every instance reads them). */
  readonly responseStore: ResponseStore;
  /** The Prometheus metrics served at `/metrics` (`undefined` when `metrics.enabled` is off at start). */
  readonly metrics: Metrics | undefined;
  readonly #tokens: OperatorTokens;
  readonly #bindings: BindingStore;
  readonly #services: GatewayServices;
  readonly #hub: ConnectionHub;
  readonly #frames: FrameLoop;
  readonly #heartbeat: Heartbeat;
  readonly #reactions: ConfigReactions;
  #server: Server | undefined;
  #metricsServer: Server | undefined;
  #unwatchBindings: (() => void) | undefined;
  #state: "idle" | "running" | "stopping" | "stopped" = "idle";

  constructor(options: GatewayOptions) {
    this.config = options.config;
    const config = () => this.config.get();
    const logger = options.logger ?? createLogger(config().logging.level);
    this.logger = logger;
    this.stateDir = resolvePath(config().state.dir);
    this.uiDir = options.uiDir ?? defaultUiDir();
    this.registry = new NodeRegistry({ reconnectGraceMs: config().gateway.nodeReconnectGraceMs });
    this.pairing = new PairingManager({
      ...config().security.pairing,
      store: options.deviceStore ?? new FileDeviceStore(this.stateDir),
      // Revoked on another instance (a shared store): refused from now on, and closed here.
      onRevokedElsewhere: (nodeId) => {
        this.registry.unregister(nodeId, "revoked");
        for (const connection of this.#hub.values())
          if (connection.nodeId === nodeId) connection.close(CloseCode.PolicyViolation, "device revoked");
      },
    });
    this.authFailures = new AuthFailures(() => config().security.authFailures, logger);
    this.#tokens = new OperatorTokens(config);
    this.#bindings = options.bindingStore ?? new FileBindingStore(this.stateDir);
    // Inbound dedupe answers from the conversation journal unless a store of the options takes it.
    const dedupeInHistory = options.dedupeStore === undefined && options.historyStore === undefined;
    this.conversations = new ConversationStore(
      this.stateDir,
      () => conversationLimitsOf(config()),
      options.historyStore,
      { inboundIds: dedupeInHistory ? () => inboundIdLimitsOf(config()) : undefined },
    );
    this.adapter = options.adapter ?? new InMemoryAdapter();
    const instance = options.cluster === undefined ? undefined : this.adapter.instanceId;
    const metrics = config().metrics.enabled ? new Metrics({ instance }) : undefined;
    this.metrics = metrics;
    const remoteNodes = options.remoteNodes ?? new LocalNodes();
    this.remoteNodes = metrics?.countNodeCalls(remoteNodes, this.adapter.instanceId) ?? remoteNodes;
    this.cluster = options.cluster;
    const responseLimits = (): ResponseStoreOptions => ({
      ...RESPONSE_STORE_DEFAULTS,
      ...config().openai?.responses,
    });
    this.responseStore =
      options.responseStore?.({ limits: responseLimits }) ?? new InMemoryResponseStore(responseLimits);
    const { router, registry, pairing, conversations, adapter, stateDir, authFailures } = this;
    const services = new GatewayServices({
      ...{ config, logger, stateDir, registry, router, conversations, adapter },
      remoteNodes: this.remoteNodes,
      channels: {
        get: (name) => this.channels.get(name),
        has: (name) => this.channels.has(name),
        holdsLease: (name) => this.channels.holdsLease(name),
      },
      idempotencyStore: options.idempotencyStore,
      dedupeStore: options.dedupeStore,
      deliveryStore: options.deliveryStore,
      deliveryQueue: options.deliveryQueue,
      taskClaims: options.taskClaims,
      taskStore: options.taskStore,
      metrics,
    });
    this.#services = services;
    const { events, agents, messaging, inbound } = services;
    this.channels = new ChannelManager(
      // The built-in chat channel, unless a plugin of that name replaces it.
      new Map([webchatChannel, ...(options.channels ?? [])].map((factory) => [factory.name, factory])),
      {
        onInbound: (channel, message) => {
          metrics?.inbound(channel);
          return inbound.receive(channel, message);
        },
        onStatus: (status) => events.broadcast("channel.status", status),
      },
      logger,
      options.channelStartWaitMs ?? DEFAULT_CHANNEL_START_WAIT_MS,
      options.leases === undefined
        ? undefined
        : {
            leases: metrics?.countLeases(options.leases) ?? options.leases,
            instanceId: this.adapter.instanceId,
            retryMs: options.channelLeaseRetryMs ?? DEFAULT_CHANNEL_LEASE_RETRY_MS,
          },
    );
    const { channels } = this;
    const isRunning = () => this.#state === "running";
    const hub = new ConnectionHub({
      ...{ config, logger, adapter, isRunning, authFailures, metrics },
      onFrame: (connection, data, isBinary) => {
        if (metrics !== undefined) metrics.framesIn++;
        void this.#frames.receive(connection, data, isBinary);
      },
      isAdminToken: (token) => this.#tokens.level(token) === "admin",
      onClosed: (connection) => {
        pairing.dropConnection(connection.id);
        if (connection.nodeId !== undefined)
          registry.unregister(connection.nodeId, "disconnected", connection.socket);
      },
    });
    this.#hub = hub;
    this.#frames = createRpc({
      ...{ config: this.config, logger, registry, agents, messaging, events, adapter, router, conversations },
      remoteNodes: this.remoteNodes,
      ...{ pairing, devices: pairing, hub, channels, authFailures, startedAt: this.startedAt, isRunning },
      ...{ deliveries: () => services.deliveries, tasks: () => services.tasks, cluster: this.cluster },
      chat: services.chat,
      metrics,
      isOperatorToken: (token) => this.#tokens.level(token),
      idempotencyStore: () => services.idempotency,
      saveBindings: () => this.#bindings.save(router.toJSON()),
    });
    this.#heartbeat = new Heartbeat((now) => {
      for (const connection of hub.values()) connection.probe();
      events.broadcast("tick", { ts: now }, { local: true }); // every instance ticks its own clients
      pairing.list(now); // expires stale codes
      authFailures.sweep(now);
    });
    this.#reactions = new ConfigReactions({
      ...{ logger, events, pairing, conversations, channels, tokens: this.#tokens },
      armHeartbeat: (intervalMs) => this.#heartbeat.arm(intervalMs),
      reconcileCron: (next) => services.reconcileCron(next),
      connections: () => hub.values(),
      setMaxFrameBytes: (bytes) => hub.setMaxPayload(bytes),
    });
    metrics?.observe({
      connections: () => hub.values(),
      deliveries: () => services.deliveries,
      cluster: this.cluster,
    });
    registry.on("node.online", (node) => events.broadcast("node.online", node));
    registry.on("node.offline", (event) => events.broadcast("node.offline", event));
  }

  /** The task queue (available once started). */
  get tasks(): TaskQueue {
    return this.#services.tasks;
  }

  /** The outbound delivery queue (available once started). */
  get deliveries(): OutboundQueue {
    return this.#services.deliveries;
  }

  /** Where the gateway listens. */
  get address(): { host: string; port: number } {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (address == null) throw new ProtocolError("UNAVAILABLE", "the gateway is not listening");
    return { host: address.address, port: address.port };
  }

  /** Where the metrics listener (`metrics.port`) listens, when there is one. */
  get metricsAddress(): { host: string; port: number } | undefined {
    const address = this.#metricsServer?.address() as AddressInfo | null | undefined;
    return address == null ? undefined : { host: address.address, port: address.port };
  }

  /** Whether `/metrics` is served on the gateway's port (`metrics.port` not set at start). */
  get metricsOnGatewayPort(): boolean {
    return this.#metricsServer === undefined;
  }

  /** The operator token in force (configured or generated). */
  get token(): string {
    return this.#tokens.token;
  }

  /**
   * Loads state, starts the delivery and task queues, listens, then starts the channels.
   *
   * @returns Where it listens and where the token is, for the start-up log line.
   */
  async start(): Promise<{ url: string; tokenSource: string }> {
    const config = this.config.get();
    const { stateDir } = this;
    // Message bodies, queues and token hashes live here: only the gateway's user may read them.
    await mkdir(stateDir, { recursive: true, mode: STATE_DIR_MODE });
    await chmod(stateDir, STATE_DIR_MODE);
    const tokenSource = await this.#tokens.load(stateDir);
    await this.pairing.load();
    await this.conversations.load();
    for (const binding of (await this.#bindings.load())?.bindings ?? []) this.router.bind(binding);
    // A shared store (cluster mode) reports the bindings other instances add and remove.
    this.#unwatchBindings = this.#bindings.watch?.((change) => {
      for (const { binding, error } of applyBindingChange(this.router, change))
        this.logger.warn({ err: error, bindingId: binding.id }, "could not apply another instance's binding");
    });
    await this.#services.start();
    this.metrics?.watchTasks(this.#services.tasks);
    await this.remoteNodes.start({
      registry: this.registry,
      reconnectGraceMs: () => this.config.get().gateway.nodeReconnectGraceMs,
    });
    // Before the gateway's port: a metrics port in use fails the start before anything listens.
    if (this.metrics !== undefined && config.metrics.port !== undefined) {
      // The metrics on a listener of their own (a private address a scraper reaches).
      const metricsServer = createServer(metricsListener(this));
      this.#metricsServer = metricsServer;
      await listen(metricsServer, config.metrics.port, config.metrics.bind, 511);
    }
    const { server } = createHttpServer({
      config: () => this.config.get(),
      hub: this.#hub,
      listener: createHttpApp(this),
    });
    this.#server = server;
    this.#hub.attach(server);
    await listen(server, config.gateway.port, config.gateway.host, config.gateway.listenBacklog);
    this.#state = "running";
    this.#heartbeat.arm(config.heartbeat.intervalMs);
    this.config.on("change", this.#reactions.onChange);
    this.config.on("invalid", this.#reactions.onInvalid);
    this.config.on("change", this.#countReload);
    this.config.on("invalid", this.#countInvalid);
    await this.channels.apply(withBuiltInChannels(config.channels));
    this.channels.watch(
      () => this.config.get().watchdog,
      () => withBuiltInChannels(this.config.get().channels),
    );
    const { host, port } = this.address;
    return { url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`, tokenSource };
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish (at most `drainTimeoutMs`),
   * close every socket with 1001, stop channels and tasks, flush state.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    const drainTimeoutMs = options.drainTimeoutMs ?? GATEWAY_DEFAULTS.drainTimeoutMs;
    this.config.off("change", this.#reactions.onChange);
    this.config.off("invalid", this.#reactions.onInvalid);
    this.config.off("change", this.#countReload);
    this.config.off("invalid", this.#countInvalid);
    this.#heartbeat.stop();
    const server = this.#server;
    const closed = new Promise<void>((done) => (server === undefined ? done() : server.close(() => done())));
    await this.#frames.drained(drainTimeoutMs);
    this.#hub.closeAll(CloseCode.GoingAway, "gateway shutting down");
    await new Promise((resolveGrace) => setTimeout(resolveGrace, GATEWAY_DEFAULTS.closeGraceMs));
    this.#hub.terminateAll();
    server?.closeAllConnections();
    await closed;
    const metricsServer = this.#metricsServer;
    if (metricsServer !== undefined) {
      this.#metricsServer = undefined;
      metricsServer.closeAllConnections();
      await new Promise<void>((done) => metricsServer.close(() => done()));
    }
    this.registry.close();
    // After the registry: the calls other instances forwarded here have had their answers sent.
    await this.remoteNodes.close();
    await this.channels.stopAll();
    await this.#services.stop(drainTimeoutMs);
    this.#unwatchBindings?.();
    this.pairing.close();
    await this.conversations.close();
    await this.responseStore.close();
    await this.adapter.close();
    this.#state = "stopped";
  }

  readonly #countReload = (): void => this.metrics?.configReload("applied");
  readonly #countInvalid = (): void => this.metrics?.configReload("invalid");

  /** The open connections. */
  connections(): Iterable<Connection> {
    return this.#hub.values();
  }

  /** Sends an event, encoded once, to every ready connection whose scopes receive it. */
  broadcast<E extends EventName>(event: E, data: EventData<E>, options?: BroadcastOptions): void {
    this.#services.events.broadcast(event, data, options);
  }

  /** The level a token grants: `"admin"`, `"operator"`, or `undefined`. */
  isOperatorToken(token: string | undefined): "admin" | "operator" | undefined {
    return this.#tokens.level(token);
  }

  /** The registry, `agent.chunk` subscription and abort signal an agent run needs (the OpenAI API's). */
  agentContext(signal: AbortSignal): AgentRunContext {
    return this.#services.agents.agentContext(signal);
  }
}
