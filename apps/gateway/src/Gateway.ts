import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, STATUS_CODES, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chmod, mkdir } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import type { Duplex } from "node:stream";
import { ChannelError, type ChannelPluginFactory, constantTimeEqual } from "@openclaw/channel-sdk";
import {
  type Config,
  type ConfigChangeEvent,
  type ConfigInvalidEvent,
  type ConfigManager,
  stableStringify,
} from "@openclaw/config";
import { NodeRegistry } from "@openclaw/node-registry";
import {
  CloseCode,
  type ConnectParams,
  EVENT_NAMES,
  EVENTS,
  type EventData,
  type EventName,
  ERROR_CODE_INFO,
  encodeError,
  encodeEvent,
  encodeResult,
  type InboundMessage,
  isMethodName,
  METHOD_NAMES,
  METHODS,
  type MessageContent,
  type MethodName,
  type MethodParams,
  type MethodResult,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ProtocolError,
  parseEventData,
  parseFrame,
  parseParams,
  type RequestFrame,
  type Scope,
  toProtocolError,
} from "@openclaw/protocol";
import { Router } from "@openclaw/router";
import { FileTaskStore, TaskQueue } from "@openclaw/task-queue";
import { type WebSocket, WebSocketServer } from "ws";
import { type AgentRunContext, type ChatTurn, streamAgent } from "./agents";
import { AuthFailures, bearerToken, Counter, isAllowedOrigin } from "./auth/guards";
import { PairingManager } from "./auth/PairingManager";
import { loadOrCreateToken } from "./auth/tokens";
import { Connection, RateLimiter } from "./Connection";
import { ChannelManager, DEFAULT_CHANNEL_START_WAIT_MS } from "./channels/ChannelManager";
import { DeliveryQueue } from "./delivery/DeliveryQueue";
import { Remembered } from "./delivery/Remembered";
import { createHttpApp } from "./http";
import { createLogger, type Logger } from "./logging";
import { createMethodHandlers, type MethodHandlers } from "./methods";
import { requireNode } from "./nodes";
import { ConversationStore, type Recorded } from "./state/ConversationStore";
import { readJsonFile, STATE_DIR_MODE, StateFileError, writeJsonFile } from "./state/files";
import { defaultUiDir } from "./ui";
import { GATEWAY_NAME, GATEWAY_VERSION } from "./version";

/** Options of a {@link Gateway}. */
export interface GatewayOptions {
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
}

/** The core state method handlers and the HTTP app work with. */
export interface GatewayCore {
  readonly config: ConfigManager;
  readonly logger: Logger;
  readonly router: Router;
  readonly registry: NodeRegistry;
  readonly pairing: PairingManager;
  readonly channels: ChannelManager;
  readonly conversations: ConversationStore;
  readonly tasks: TaskQueue;
  readonly deliveries: DeliveryQueue;
  readonly startedAt: number;
  readonly stateDir: string;
  /** The built control UI, when there is one. */
  readonly uiDir: string | undefined;
  /** Failed logins by address (WebSocket and HTTP alike). */
  readonly authFailures: AuthFailures;
  connections(): Iterable<Connection>;
  connection(id: string): Connection | undefined;
  broadcast<E extends EventName>(event: E, data: EventData<E>, options?: BroadcastOptions): void;
  sendTo<E extends EventName>(connection: Connection, event: E, data: EventData<E>): void;
  saveBindings(): Promise<void>;
  isOperatorToken(token: string | undefined): "admin" | "operator" | undefined;
  runAgent(params: MethodParams<"agent.run">, target: string | undefined): Promise<MethodResult<"agent.run">>;
  streamAgent(name: string, turns: readonly ChatTurn[], signal: AbortSignal): AsyncGenerator<string>;
  /** The registry, `agent.chunk` subscription and abort signal an agent run needs. */
  agentContext(signal: AbortSignal): AgentRunContext;
  sendMessage(params: MethodParams<"message.send">, from?: Connection): Promise<MethodResult<"message.send">>;
}

/** Who receives a broadcast besides the event's own audience rules. */
export interface BroadcastOptions {
  /** Leave out this connection (the one whose request caused the event). */
  except?: Connection | undefined;
  /** Send only to connections holding one of these scopes, instead of the event's catalogue scopes. */
  scopes?: readonly Scope[];
}

/** One event of a broadcast, with its audience rules. */
type Broadcast = {
  [E in EventName]: { event: E; data: EventData<E> } & BroadcastOptions;
}[EventName];

const ALL_SCOPES_OF: Record<"admin" | "operator" | "node" | "pairing", Scope[]> = {
  admin: ["operator.read", "operator.write", "operator.admin"],
  operator: ["operator.read", "operator.write"],
  node: ["node"],
  pairing: ["pairing"],
};

/**
 * The OpenClaw Gateway: one port serving the WebSocket protocol and the HTTP surface, composing
 * the router, node registry, task queue, config and channel plugins.
 */
export class Gateway implements GatewayCore {
  readonly config: ConfigManager;
  readonly logger: Logger;
  readonly router: Router;
  readonly registry: NodeRegistry;
  readonly pairing: PairingManager;
  readonly channels: ChannelManager;
  readonly conversations: ConversationStore;
  readonly startedAt = Date.now();
  readonly stateDir: string;
  readonly uiDir: string | undefined;
  #tasks: TaskQueue | undefined;
  #deliveries: DeliveryQueue | undefined;
  /** Results of idempotent requests, by method and key. */
  #idempotency: Remembered<unknown> | undefined;
  /** Idempotent requests running now, by method and key: a repeat waits for the first. */
  readonly #idempotentRuns = new Map<string, Promise<unknown>>();
  /** Inbound platform message ids seen, by channel. */
  #inboundSeen: Remembered<1> | undefined;
  readonly #connections = new Map<string, Connection>();
  readonly #runListeners = new Map<string, (delta: string, done: boolean) => void>();
  readonly #handlers: MethodHandlers;
  /** Failed logins by address. */
  readonly authFailures: AuthFailures;
  /** Connections still handshaking, by address. */
  readonly #handshakes = new Counter();
  /** Unauthenticated connections held to pair, by address. */
  readonly #pairingSockets = new Counter();
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #token = "";
  #state: "idle" | "running" | "stopping" | "stopped" = "idle";
  #inflight = 0;
  #idle: (() => void) | undefined;
  readonly #onConfigChange = (event: ConfigChangeEvent) => void this.#applyConfig(event);
  readonly #onConfigInvalid = (event: ConfigInvalidEvent) => {
    this.logger.error(
      { file: event.file, issues: event.issues },
      "config file is invalid; keeping the active config",
    );
    this.broadcast("config.invalid", event);
  };

  constructor(options: GatewayOptions) {
    this.config = options.config;
    const config = this.config.get();
    this.logger = options.logger ?? createLogger(config.logging.level);
    this.stateDir = resolvePath(config.state.dir);
    this.uiDir = options.uiDir ?? defaultUiDir();
    this.router = new Router();
    this.registry = new NodeRegistry({ reconnectGraceMs: config.gateway.nodeReconnectGraceMs });
    this.pairing = new PairingManager(this.stateDir, config.security.pairing);
    this.authFailures = new AuthFailures(() => this.config.get().security.authFailures);
    this.conversations = new ConversationStore(this.stateDir, () => {
      const { conversations, state } = this.config.get();
      return {
        maxConversations: conversations.maxConversations,
        maxMessagesPerConversation: conversations.maxMessagesPerConversation ?? state.historyLimit,
        maxBytes: conversations.maxBytes,
      };
    });
    this.channels = new ChannelManager(
      new Map((options.channels ?? []).map((factory) => [factory.name, factory])),
      {
        onInbound: (channel, message) => this.#onInbound(channel, message),
        onStatus: (status) => this.broadcast("channel.status", status),
      },
      this.logger,
      options.channelStartWaitMs ?? DEFAULT_CHANNEL_START_WAIT_MS,
    );
    this.#handlers = createMethodHandlers(this);
    this.registry.on("node.online", (node) => this.broadcast("node.online", node));
    this.registry.on("node.offline", (event) => this.broadcast("node.offline", event));
  }

  /** The task queue (available once started). */
  get tasks(): TaskQueue {
    if (this.#tasks === undefined) throw new ProtocolError("SHUTTING_DOWN", "the task queue is not running");
    return this.#tasks;
  }

  /** The outbound delivery queue (available once started). */
  get deliveries(): DeliveryQueue {
    if (this.#deliveries === undefined)
      throw new ProtocolError("SHUTTING_DOWN", "the delivery queue is not running");
    return this.#deliveries;
  }

  /** Where the gateway listens. */
  get address(): { host: string; port: number } {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (address == null) throw new Error("the gateway is not listening");
    return { host: address.address, port: address.port };
  }

  /** The operator token in force (configured or generated). */
  get token(): string {
    return this.#token;
  }

  /**
   * Loads state, starts the channels and task queue, and listens.
   *
   * @returns Where it listens and where the token is, for the start-up log line.
   */
  async start(): Promise<{ url: string; tokenSource: string }> {
    const config = this.config.get();
    // Message bodies, queues and token hashes live here: only the gateway's user may read them.
    await mkdir(this.stateDir, { recursive: true, mode: STATE_DIR_MODE });
    await chmod(this.stateDir, STATE_DIR_MODE);
    let tokenSource: string;
    if (config.security.token !== undefined) {
      this.#token = config.security.token;
      tokenSource = "the configured token (security.token / OPENCLAW_GATEWAY_TOKEN)";
    } else {
      const generated = await loadOrCreateToken(this.stateDir);
      this.#token = generated.token;
      tokenSource = `${generated.created ? "a new token was generated in" : "the token is in"} ${generated.path}`;
    }
    await this.pairing.load();
    await this.conversations.load();
    const bindingsFile = join(this.stateDir, "bindings.json");
    const bindings = await readJsonFile<unknown>(bindingsFile, undefined);
    if (bindings !== undefined) {
      let restored: Router;
      try {
        restored = Router.fromJSON(bindings);
      } catch (error) {
        throw new StateFileError(bindingsFile, `does not hold valid bindings (${(error as Error).message})`, {
          cause: error,
        });
      }
      for (const binding of restored.list()) this.router.bind(binding);
    }
    await this.#startDelivery();
    await this.#startTasks();
    for (const journal of [
      this.conversations.journal,
      this.#deliveries?.journal,
      this.#idempotency?.journal,
      this.#inboundSeen?.journal,
    ]) {
      if (journal === undefined || journal.corruptLines === 0) continue;
      this.logger.warn(
        { file: journal.file, skipped: journal.corruptLines, offsets: journal.corruptOffsets },
        "skipped records that are not valid in a journal (listed by byte offset); the rest was loaded",
      );
    }

    const server = createServer(createHttpApp(this));
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.gateway.maxFrameBytes,
      clientTracking: false,
    });
    server.on("upgrade", (request, socket, head) => this.#upgrade(wss, request, socket, head));
    this.#server = server;
    this.#wss = wss;
    await new Promise<void>((resolveListen, reject) => {
      server.once("error", reject);
      server.listen(config.gateway.port, config.gateway.host, () => {
        server.off("error", reject);
        resolveListen();
      });
    });
    this.#state = "running";
    this.#armHeartbeat(config.heartbeat.intervalMs);
    this.config.on("change", this.#onConfigChange);
    this.config.on("invalid", this.#onConfigInvalid);
    await this.channels.apply(config.channels);
    this.channels.watch(
      () => this.config.get().watchdog,
      () => this.config.get().channels,
    );
    const { host, port } = this.address;
    return { url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`, tokenSource };
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish (at most `drainTimeoutMs`),
   * close every socket with 1001, stop channels and tasks, flush state.
   */
  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    this.config.off("change", this.#onConfigChange);
    this.config.off("invalid", this.#onConfigInvalid);
    clearInterval(this.#heartbeat);
    const server = this.#server;
    const closed =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    if (this.#inflight > 0) {
      await Promise.race([
        new Promise<void>((resolveIdle) => {
          this.#idle = resolveIdle;
        }),
        new Promise((resolveTimeout) => setTimeout(resolveTimeout, options.drainTimeoutMs ?? 5000).unref()),
      ]);
    }
    for (const connection of this.#connections.values())
      connection.close(CloseCode.GoingAway, "gateway shutting down");
    await new Promise((resolveGrace) => setTimeout(resolveGrace, 50));
    for (const connection of this.#connections.values()) connection.socket.terminate();
    this.#connections.clear();
    server?.closeAllConnections();
    await closed;
    this.registry.close();
    await this.channels.stopAll();
    await this.#tasks?.stop({ drainTimeoutMs: options.drainTimeoutMs ?? 5000 });
    await this.#deliveries?.close();
    await this.#idempotency?.close();
    await this.#inboundSeen?.close();
    await this.conversations.close();
    this.#state = "stopped";
  }

  connections(): Iterable<Connection> {
    return this.#connections.values();
  }

  connection(id: string): Connection | undefined {
    return this.#connections.get(id);
  }

  /** Sends an event, encoded once, to every ready connection whose scopes receive it. */
  broadcast<E extends EventName>(event: E, data: EventData<E>, options: BroadcastOptions = {}): void {
    this.#broadcastAll([{ event, data, ...options } as Broadcast]);
  }

  /**
   * Sends several events in one pass over the connections: each connection gets its frames one
   * after the other, while its state is in the CPU's cache (at thousands of connections, a pass per
   * event costs a quarter of the throughput). Each event is encoded once, to bytes, so that no
   * socket converts it again.
   */
  #broadcastAll(events: readonly Broadcast[]): void {
    const scopes = events.map((item) => item.scopes ?? EVENTS[item.event].scopes);
    const bytes: Array<Buffer | undefined> = [];
    for (const connection of this.#connections.values()) {
      if (connection.state !== "ready") continue;
      for (let i = 0; i < events.length; i++) {
        const item = events[i]!;
        if (connection === item.except || !connection.hasAnyScope(scopes[i]!)) continue;
        bytes[i] ??= Buffer.from(encodeEvent(item.event, item.data));
        connection.send(bytes[i]!);
      }
    }
  }

  sendTo<E extends EventName>(connection: Connection, event: E, data: EventData<E>): void {
    connection.send(encodeEvent(event, data));
  }

  saveBindings(): Promise<void> {
    return writeJsonFile(join(this.stateDir, "bindings.json"), this.router.toJSON());
  }

  isOperatorToken(token: string | undefined): "admin" | "operator" | undefined {
    if (token === undefined || token === "") return undefined;
    const admin = this.config.get().security.adminToken;
    if (admin !== undefined && constantTimeEqual(token, admin)) return "admin";
    if (constantTimeEqual(token, this.#token)) return "operator";
    return undefined;
  }

  async runAgent(
    params: MethodParams<"agent.run">,
    target: string | undefined,
  ): Promise<MethodResult<"agent.run">> {
    if (target !== undefined) {
      const node = requireNode(this.registry, target, "agent.run");
      const result = (await this.registry.invoke(node.nodeId, "agent.run", params, {
        timeoutMs: params.timeoutMs ?? 120_000,
      })) as Record<string, unknown> | null;
      const output = typeof result?.output === "string" ? result.output : JSON.stringify(result ?? null);
      return {
        ...(result ?? {}),
        runId: typeof result?.runId === "string" ? result.runId : randomUUID(),
        output,
        nodeId: node.nodeId,
      };
    }
    const name = params.agent ?? this.config.get().agents.default;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new ProtocolError("TIMEOUT", `agent ${name} ran past its time limit`)),
      params.timeoutMs ?? 120_000,
    );
    try {
      let output = "";
      for await (const delta of this.streamAgent(
        name,
        [{ role: "user", content: params.input }],
        controller.signal,
      )) {
        output += delta;
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      return { runId: randomUUID(), output };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the named agent and yields its output as it comes: echo, OpenAI-compatible upstream or node.
   *
   * @throws `NOT_FOUND` for an unknown agent; the provider's typed errors otherwise.
   */
  streamAgent(name: string, turns: readonly ChatTurn[], signal: AbortSignal): AsyncGenerator<string> {
    const agents = this.config.get().agents;
    const agent = agents.list[name] ?? (name === "echo" ? { provider: "echo" as const } : undefined);
    if (agent === undefined) {
      throw new ProtocolError("NOT_FOUND", `no agent named ${name}`, {
        details: { reason: "unknown_agent", agents: [...new Set(["echo", ...Object.keys(agents.list)])] },
      });
    }
    return streamAgent(agent, name, turns, this.agentContext(signal));
  }

  agentContext(signal: AbortSignal): AgentRunContext {
    return {
      registry: this.registry,
      signal,
      onChunks: (runId, listener) => {
        this.#runListeners.set(runId, listener);
        return () => this.#runListeners.delete(runId);
      },
    };
  }

  async sendMessage(
    params: MethodParams<"message.send">,
    from?: Connection,
  ): Promise<MethodResult<"message.send">> {
    const content = params.content ?? { text: params.text! };
    let channel = params.channel;
    let address = params.recipient;
    let route: MethodResult<"message.send">["route"];
    if (channel === undefined) {
      const resolved = this.router.resolve(params.recipient, params.context ?? {});
      channel = resolved.channel;
      address = resolved.address;
      route = { level: resolved.level, bindingId: resolved.bindingId };
    }
    if (this.channels.get(channel) === undefined) {
      throw new ProtocolError("CHANNEL_UNAVAILABLE", `channel ${channel} is not configured`, {
        details: { reason: "unknown_channel", channel, nextStep: `add channels.${channel} to openclaw.json` },
      });
    }
    let outcome: Awaited<ReturnType<DeliveryQueue["enqueue"]>>;
    try {
      outcome = await this.deliveries.enqueue({
        channel,
        address,
        content,
        replyTo: params.replyTo,
        id:
          params.idempotencyKey === undefined
            ? undefined
            : `idem-${createHash("sha256").update(params.idempotencyKey).digest("hex").slice(0, 40)}`,
      });
    } catch (error) {
      throw error instanceof ChannelError ? error.toProtocolError(channel) : toProtocolError(error);
    }
    const result: MethodResult<"message.send"> = {
      status: outcome.status,
      deliveryId: outcome.deliveryId,
      channel,
      address,
      conversationId: address,
    };
    if (outcome.status === "sent") {
      result.messageId = outcome.messageId;
      await this.#recordSent(channel, address, content, outcome.messageId, from);
    }
    if (route !== undefined) result.route = route;
    return result;
  }

  /**
   * Records a message that reached its platform, durably, then tells the clients. Never rejects: a
   * history that cannot be written is logged, and the message was sent all the same.
   */
  async #recordSent(
    channel: string,
    address: string,
    content: MessageContent,
    messageId: string,
    from?: Connection,
  ): Promise<void> {
    const now = Date.now();
    let recorded: Recorded | undefined;
    try {
      recorded = await this.conversations.append(channel, address, {
        direction: "out",
        messageId,
        content,
        timestamp: now,
        peerId: address,
      });
    } catch (error) {
      this.logger.error({ err: error, channel, messageId }, "could not record a sent message in the history");
    }
    const events: Broadcast[] = [
      {
        event: "channel.message.sent",
        data: { channel, messageId, address, conversationId: address, content, timestamp: now },
        except: from,
      },
    ];
    if (recorded !== undefined) events.push({ event: "conversation.updated", data: recorded });
    this.#broadcastAll(events);
  }

  async #startDelivery(): Promise<void> {
    const delivery = () => this.config.get().delivery;
    this.#idempotency = await Remembered.open(this.stateDir, "idempotency", () => ({
      maxEntries: delivery().maxIdempotencyKeys,
      ttlMs: delivery().idempotencyWindowMs,
    }));
    this.#inboundSeen = await Remembered.open(this.stateDir, "inbound-seen", () => ({
      maxEntries: delivery().maxInboundDedupeIds,
      ttlMs: delivery().inboundDedupeWindowMs,
    }));
    this.#deliveries = await DeliveryQueue.open(this.stateDir, {
      logger: this.logger,
      config: delivery,
      send: async (record) => {
        const plugin = this.channels.get(record.channel);
        if (plugin === undefined)
          throw new ChannelError("NOT_READY", `channel ${record.channel} is not configured or not running`);
        const options: { replyTo?: string; idempotencyKey: string } = { idempotencyKey: record.id };
        if (record.replyTo !== undefined) options.replyTo = record.replyTo;
        return plugin.send(record.address, record.content, options);
      },
      onSent: (record, result, inline) => {
        if (!inline) void this.#recordSent(record.channel, record.address, record.content, result.messageId);
      },
      onDead: (record) => {
        const { seq: _seq, ...delivery } = record;
        this.broadcast("delivery.failed", { delivery });
      },
    });
  }

  /**
   * Runs an idempotent request once per key: a repeat within the window gets the first result
   * (after a restart too), a repeat while the first runs waits for it. Failures are not remembered.
   */
  async #idempotent(method: string, key: string, run: () => unknown): Promise<unknown> {
    const id = `${method}\u0000${key}`;
    const store = this.#idempotency;
    if (store === undefined) return run();
    if (store.has(id)) return store.get(id);
    const running = this.#idempotentRuns.get(id);
    if (running !== undefined) return running;
    const promise = (async () => {
      const result = await run();
      // The work is done: its result is the answer even when it cannot be remembered (a repeat
      // then runs again, as it would after the window).
      await store.remember(id, result).catch((error: unknown) =>
        this.logger.error({ err: error, method }, "could not remember an idempotent result"),
      );
      return result;
    })();
    this.#idempotentRuns.set(id, promise);
    try {
      return await promise;
    } finally {
      this.#idempotentRuns.delete(id);
    }
  }

  /**
   * Takes an inbound message: drops a repeat, records it durably in the history, tells the clients,
   * remembers its id for dedupe. Resolves once it is in the history on disk and broadcast, so a
   * plugin that awaits `emit` before acknowledging to its platform loses nothing on a crash. Never
   * rejects.
   */
  async #onInbound(channel: string, message: InboundMessage): Promise<void> {
    const key = `${channel}\u0000${message.id}`;
    // The history catches a replay whose id was recorded but not yet remembered; the dedupe log
    // catches replays older than the history holds.
    if (
      this.#inboundSeen?.has(key) === true ||
      this.conversations.hasInbound(channel, message.conversationId, message.id)
    ) {
      this.logger.debug({ channel, messageId: message.id }, "duplicate inbound message dropped");
      return;
    }
    const content =
      message.attachments === undefined
        ? { text: message.text ?? "" }
        : { text: message.text ?? "", attachments: message.attachments };
    let recorded: Recorded | undefined;
    try {
      recorded = await this.conversations.append(channel, message.conversationId, {
        direction: "in",
        messageId: message.id,
        content:
          content.text === "" && content.attachments === undefined ? { text: "(empty message)" } : content,
        timestamp: message.timestamp,
        sender: message.sender,
        peerId: message.peerId,
        guildId: message.guildId,
      });
    } catch (error) {
      this.logger.error(
        { err: error, channel, messageId: message.id },
        "could not record an inbound message in the history; delivering it anyway",
      );
    }
    this.#deliverInbound(channel, message, recorded);
    // Not awaited: once the history holds the message, it is safe to acknowledge; until the id is
    // on disk here, a replay is recognised by the history.
    this.#inboundSeen
      ?.remember(key, 1)
      .catch((error: unknown) =>
        this.logger.error({ err: error, channel }, "could not remember an inbound message id"),
      );
  }

  #deliverInbound(channel: string, message: InboundMessage, recorded: Recorded | undefined): void {
    this.logger.debug(
      { channel, conversationId: message.conversationId, text: message.text },
      "inbound message",
    );
    const events: Broadcast[] = [{ event: "channel.message.received", data: { channel, message } }];
    if (recorded !== undefined) events.push({ event: "conversation.updated", data: recorded });
    this.#broadcastAll(events);
    const agent = this.config.get().channels[channel]?.agent;
    if (
      agent !== undefined &&
      message.text !== undefined &&
      message.text !== "" &&
      message.sender.isBot !== true
    ) {
      void this.#replyWithAgent(channel, agent, message);
    }
  }

  /** Runs the channel's agent on an inbound message and sends its answer back in the conversation. */
  async #replyWithAgent(channel: string, agent: string, message: InboundMessage): Promise<void> {
    try {
      const run = await this.runAgent({ agent, input: message.text! }, undefined);
      if (run.output.trim() === "") return;
      await this.sendMessage({
        recipient: message.conversationId,
        channel,
        text: run.output,
        replyTo: message.id,
      });
    } catch (error) {
      this.logger.warn(
        { channel, agent, conversationId: message.conversationId, err: (error as Error).message },
        "agent reply failed",
      );
    }
  }

  async #startTasks(): Promise<void> {
    const queue = new TaskQueue({ store: await FileTaskStore.open({ dir: join(this.stateDir, "tasks") }) });
    this.#tasks = queue;
    queue.register("message.send", async (payload) => {
      const parsed = parseParams("message.send", payload);
      if (!parsed.ok) throw parsed.error;
      return this.sendMessage(parsed.value);
    });
    queue.register("agent.run", async (payload) => {
      const { target, ...rest } = (payload ?? {}) as Record<string, unknown>;
      const parsed = parseParams("agent.run", rest);
      if (!parsed.ok) throw parsed.error;
      return this.runAgent(parsed.value, typeof target === "string" ? target : undefined);
    });
    queue.register("noop", () => null);
    for (const name of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const) {
      queue.on(name, (event) => this.broadcast(name, event));
    }
    queue.on("error", (error) => this.logger.error({ err: error }, "task store error"));
    await queue.start();
    await this.#reconcileCron(this.config.get());
  }

  /**
   * Makes the scheduled tasks match `config.cron`: one task per enabled job, keyed by the job and its
   * definition, so that restarts do not duplicate them; tasks of removed or changed jobs are cancelled.
   */
  async #reconcileCron(config: Config): Promise<void> {
    const tasks = this.tasks;
    const wanted = new Map<string, Config["cron"][number]>();
    for (const job of config.cron) {
      if (job.enabled === false) continue;
      const key = `cron:${job.id}:${createHash("sha256")
        .update(stableStringify([job.schedule, job.timezone, job.type, job.payload]))
        .digest("hex")
        .slice(0, 16)}`;
      wanted.set(key, job);
    }
    for (const task of tasks.list({ status: "scheduled" })) {
      if (task.idempotencyKey?.startsWith("cron:") === true && !wanted.has(task.idempotencyKey))
        await tasks.cancel(task.id);
    }
    for (const [key, job] of wanted) {
      try {
        await tasks.schedule(
          { type: job.type, payload: job.payload, name: `cron ${job.id}`, idempotencyKey: key },
          { cron: job.schedule, timezone: job.timezone },
        );
      } catch (error) {
        this.logger.error({ job: job.id, err: (error as Error).message }, "cron job could not be scheduled");
      }
    }
  }

  #armHeartbeat(intervalMs: number): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      const now = Date.now();
      for (const connection of this.#connections.values()) {
        if (!connection.alive) {
          connection.socket.terminate(); // missed a whole interval of pings: the peer is gone
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
      this.broadcast("tick", { ts: now });
      this.pairing.list(now); // expires stale codes
      this.authFailures.sweep(now);
    }, intervalMs);
    this.#heartbeat.unref();
  }

  #upgrade(wss: WebSocketServer, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const config = this.config.get();
    const address = request.socket.remoteAddress ?? "";
    const refuse = (error: ProtocolError, retryAfterMs?: number) => {
      const status = ERROR_CODE_INFO[error.code].httpStatus;
      const retryAfter =
        retryAfterMs === undefined ? "" : `Retry-After: ${Math.max(1, Math.ceil(retryAfterMs / 1000))}\r\n`;
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\n${retryAfter}Connection: close\r\n\r\n${JSON.stringify({ error: error.toJSON() })}`,
      );
    };
    const origin = request.headers.origin;
    const blockedFor = this.authFailures.blockedFor(address);
    if (this.#state !== "running")
      refuse(
        new ProtocolError("SHUTTING_DOWN", "gateway shutting down", { details: { reason: "shutting_down" } }),
        1000,
      );
    else if (origin !== undefined && !isAllowedOrigin(origin, request.headers.host, config.security))
      refuse(
        new ProtocolError("FORBIDDEN", `origin ${origin} is not allowed`, {
          details: {
            reason: "origin_not_allowed",
            nextStep: "add the origin to security.allowedOrigins, or its host to security.allowedHosts",
          },
        }),
      );
    else if (blockedFor > 0)
      refuse(
        new ProtocolError("RATE_LIMITED", "too many failed logins from this address", {
          details: { reason: "too_many_failed_logins", retryAfterMs: blockedFor },
        }),
        blockedFor,
      );
    else if (this.#connections.size >= config.gateway.maxConnections)
      refuse(
        new ProtocolError("OVERLOADED", "too many connections", {
          details: { reason: "too_many_connections", limit: config.gateway.maxConnections, retryAfterMs: 5000 },
        }),
        5000,
      );
    else if (this.#handshakes.get(address) >= config.gateway.maxHandshakesPerSource)
      refuse(
        new ProtocolError("OVERLOADED", "too many unfinished handshakes from this address", {
          details: {
            reason: "too_many_handshakes_from_source",
            limit: config.gateway.maxHandshakesPerSource,
            retryAfterMs: 1000,
          },
        }),
        1000,
      );
    else wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    const config = this.config.get();
    const { requestsPerSecond, burst } = config.security.rateLimit;
    const connection = new Connection(
      randomUUID(),
      ws,
      request.socket.remoteAddress ?? "",
      bearerToken(request.headers.authorization),
      new RateLimiter(requestsPerSecond, burst),
      () => this.config.get().gateway.maxBufferedBytes,
    );
    this.#connections.set(connection.id, connection);
    connection.slot = "handshake";
    this.#handshakes.add(connection.remoteAddress);
    connection.handshakeTimer = setTimeout(() => {
      if (connection.state !== "handshaking") return;
      connection.send(
        encodeError(
          null,
          new ProtocolError("UNAUTHORIZED", `no connect within ${config.gateway.handshakeTimeoutMs} ms`, {
            details: { reason: "handshake_timeout" },
          }),
        ),
      );
      connection.close(CloseCode.PolicyViolation, "handshake timeout");
    }, config.gateway.handshakeTimeoutMs);
    ws.on("pong", () => {
      connection.alive = true;
    });
    ws.on("message", (data, isBinary) => void this.#onMessage(connection, data as Buffer, isBinary));
    ws.on("close", () => this.#onClose(connection));
    ws.on("error", (error) => {
      // ws closes oversize frames with 1009 itself; other errors end the connection.
      this.logger.debug({ connectionId: connection.id, err: error.message }, "websocket error");
    });
  }

  /** Gives up the limited slot a connection holds (handshake or pairing), if any. */
  #releaseSlot(connection: Connection): void {
    if (connection.slot === "handshake") this.#handshakes.remove(connection.remoteAddress);
    else if (connection.slot === "pairing") this.#pairingSockets.remove(connection.remoteAddress);
    connection.slot = undefined;
  }

  /**
   * Ends the sessions whose token is no longer accepted (a config reload rotated `security.token`
   * or changed `adminToken`): each gets an error frame with `details.reason: "token_rotated"` and a
   * 1008 close. Sessions whose token now grants less are closed too; they reconnect with what the
   * new config grants.
   */
  #endRotatedSessions(): void {
    for (const connection of this.#connections.values()) {
      if (connection.state !== "ready") continue;
      if (connection.grant !== "admin" && connection.grant !== "operator") continue;
      if (this.isOperatorToken(connection.token) === connection.grant) continue;
      connection.send(
        encodeError(
          null,
          new ProtocolError("UNAUTHORIZED", "the token this session used was rotated", {
            details: { reason: "token_rotated", nextStep: "connect again with the current token" },
          }),
        ),
      );
      connection.close(CloseCode.PolicyViolation, "token rotated");
      this.logger.info(
        { connectionId: connection.id, address: connection.remoteAddress, grant: connection.grant },
        "session closed: its token was rotated",
      );
    }
  }

  /** Logs a refused login (never the token) and counts it against the address. */
  #loginFailed(connection: Connection, reason: string): void {
    const { log, count, blocked } = this.authFailures.fail(connection.remoteAddress);
    if (!log) return;
    this.logger.warn(
      { address: connection.remoteAddress, reason, refusals: count, blocked },
      blocked ? "login refused; too many failures, the address is refused for a while" : "login refused",
    );
  }

  #onClose(connection: Connection): void {
    clearTimeout(connection.handshakeTimer);
    this.#releaseSlot(connection);
    connection.state = "closed";
    this.#connections.delete(connection.id);
    this.pairing.dropConnection(connection.id);
    if (connection.nodeId !== undefined)
      this.registry.unregister(connection.nodeId, "disconnected", connection.socket);
  }

  async #onMessage(connection: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    if (connection.state === "closed") return;
    const handshaking = connection.state === "handshaking";
    if (isBinary) {
      connection.send(
        encodeError(
          null,
          new ProtocolError("INVALID_FRAME", "binary frames are not accepted; send JSON text frames", {
            details: { reason: "binary_frame" },
          }),
        ),
      );
      if (handshaking) connection.close(CloseCode.PolicyViolation, "binary frame before connect");
      return;
    }
    const parsed = parseFrame(data, { maxBytes: this.config.get().gateway.maxFrameBytes });
    if (!parsed.ok) {
      connection.send(encodeError(parsed.id, parsed.error));
      if (handshaking) connection.close(CloseCode.PolicyViolation, "invalid frame before connect");
      return;
    }
    const frame = parsed.frame;
    if (handshaking) {
      if (frame.type !== "req" || frame.method !== "connect") {
        const id = frame.type === "event" ? null : frame.id;
        connection.send(
          encodeError(
            id,
            new ProtocolError("UNAUTHORIZED", "the first frame must be a connect request", {
              details: {
                reason: "connect_first",
                nextStep: 'send {type:"req", method:"connect", ...} first',
              },
            }),
          ),
        );
        connection.close(CloseCode.PolicyViolation, "connect first");
        return;
      }
      await this.#handshake(connection, frame);
      return;
    }
    if (frame.type === "res") {
      if (connection.nodeId !== undefined) this.registry.receive(connection.nodeId, frame);
      return;
    }
    if (frame.type === "event") {
      // Nodes stream agent output as agent.chunk events; operators receive them, validated.
      if (connection.nodeId !== undefined && frame.event === "agent.chunk") {
        const chunk = parseEventData("agent.chunk", frame.data);
        if (chunk.ok) {
          this.#runListeners.get(chunk.value.runId)?.(chunk.value.delta, chunk.value.done === true);
          this.broadcast("agent.chunk", chunk.value);
        }
      }
      return;
    }
    const wait = connection.limiter.take();
    if (wait > 0) {
      connection.send(
        encodeError(
          frame.id,
          new ProtocolError("RATE_LIMITED", "too many requests on this connection", {
            details: { reason: "connection_rate_limit", retryAfterMs: wait },
          }),
        ),
      );
      return;
    }
    this.#inflight += 1;
    try {
      const result = await this.#dispatch(connection, frame);
      connection.send(encodeResult(frame.id, result));
    } catch (error) {
      const failure = toProtocolError(error);
      if (failure.code === "INTERNAL")
        this.logger.error({ err: error, method: frame.method }, "method failed");
      connection.send(encodeError(frame.id, failure));
    } finally {
      this.#inflight -= 1;
      if (this.#inflight === 0) this.#idle?.();
    }
  }

  async #dispatch(connection: Connection, frame: RequestFrame): Promise<unknown> {
    if (this.#state !== "running")
      throw new ProtocolError("SHUTTING_DOWN", "the gateway is shutting down", {
        details: { reason: "shutting_down", retryAfterMs: 1000 },
      });
    if (frame.method === "connect")
      throw new ProtocolError("CONFLICT", "already connected", { details: { reason: "already_connected" } });
    if (!isMethodName(frame.method)) {
      throw new ProtocolError("METHOD_NOT_FOUND", `unknown method "${frame.method}"`, {
        details: { reason: "unknown_method" },
      });
    }
    const method = frame.method;
    const definition = METHODS[method];
    // Authorization comes before validation: a caller without the scope learns nothing about the params.
    if (!connection.hasAnyScope(definition.scopes)) {
      throw new ProtocolError("FORBIDDEN", `${method} needs ${definition.scopes.join(" or ")}`, {
        details: {
          reason: "missing_scope",
          required: [...definition.scopes],
          granted: [...connection.scopes],
          nextStep: definition.scopes.includes("operator.admin")
            ? "connect with the admin token (OPENCLAW_ADMIN_TOKEN)"
            : "connect with a token that grants this scope",
        },
      });
    }
    const params = parseParams(method, frame.data);
    if (!params.ok) throw params.error;
    if (frame.target !== undefined && !definition.forwardable) {
      throw new ProtocolError("INVALID_PARAMS", `${method} cannot be forwarded to a node`, {
        details: { reason: "target_not_allowed" },
      });
    }
    const handler = this.#handlers[method as Exclude<MethodName, "connect">] as
      | ((params: unknown, context: { connection: Connection; frame: RequestFrame }) => unknown)
      | undefined;
    if (handler === undefined)
      throw new ProtocolError("METHOD_NOT_FOUND", `${method} is not available on this gateway`, {
        details: { reason: "not_implemented" },
      });
    const key = definition.idempotent
      ? (params.value as { idempotencyKey?: unknown }).idempotencyKey
      : undefined;
    if (typeof key === "string")
      return this.#idempotent(frame.target === undefined ? method : `${method}@${frame.target}`, key, () =>
        handler(params.value, { connection, frame }),
      );
    return handler(params.value, { connection, frame });
  }

  async #handshake(connection: Connection, frame: RequestFrame): Promise<void> {
    const refuse = (error: ProtocolError) => {
      connection.send(encodeError(frame.id, error));
      connection.close(
        error.code === "OVERLOADED" ? CloseCode.TryAgainLater : CloseCode.PolicyViolation,
        error.code === "UNSUPPORTED_PROTOCOL"
          ? "unsupported protocol"
          : error.code === "OVERLOADED"
            ? "too many connections"
            : "unauthorized",
      );
    };
    // The version is checked before the rest, so an old or bogus one gets its own answer.
    const requested = (frame.data as { protocol?: unknown } | undefined)?.protocol;
    if (typeof requested === "number" && (requested < MIN_PROTOCOL_VERSION || !Number.isInteger(requested))) {
      return refuse(
        new ProtocolError(
          "UNSUPPORTED_PROTOCOL",
          `protocol ${requested} is not supported (this gateway speaks ${MIN_PROTOCOL_VERSION}-${PROTOCOL_VERSION})`,
          { details: { reason: "protocol_too_old", supported: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] } },
        ),
      );
    }
    const parsed = parseParams("connect", frame.data);
    if (!parsed.ok) return refuse(parsed.error);
    const params: ConnectParams = parsed.value;
    if (params.protocol < MIN_PROTOCOL_VERSION) {
      return refuse(
        new ProtocolError(
          "UNSUPPORTED_PROTOCOL",
          `protocol ${params.protocol} is not supported (this gateway speaks ${MIN_PROTOCOL_VERSION}-${PROTOCOL_VERSION})`,
          { details: { reason: "protocol_too_old", supported: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] } },
        ),
      );
    }
    const config = this.config.get();
    let grant: keyof typeof ALL_SCOPES_OF;
    let nodeId: string | undefined;
    let token: string | undefined;
    let displayName = params.displayName;
    if (params.role === "operator") {
      token = params.token ?? connection.bearerToken;
      const level = this.isOperatorToken(token);
      if (level === undefined) {
        const reason = token === undefined ? "token_missing" : "token_mismatch";
        this.#loginFailed(connection, reason);
        return refuse(
          new ProtocolError("UNAUTHORIZED", token === undefined ? "a token is required" : "token rejected", {
            details: {
              reason,
              nextStep:
                "set OPENCLAW_GATEWAY_TOKEN or pass the token in connect (it is in the gateway's state dir, file gateway-token)",
            },
          }),
        );
      }
      grant = level;
    } else if (params.deviceToken !== undefined) {
      const device = this.pairing.authenticate(params.deviceToken);
      if (device === undefined || (params.nodeId !== undefined && params.nodeId !== device.nodeId)) {
        this.#loginFailed(connection, "device_token_invalid");
        return refuse(
          new ProtocolError("UNAUTHORIZED", "device token rejected", {
            details: {
              reason: "device_token_invalid",
              nextStep: "pair this device again: connect without a device token and call pairing.start",
            },
          }),
        );
      }
      grant = "node";
      nodeId = device.nodeId;
      displayName ??= device.displayName;
    } else {
      // Unauthenticated, to pair: limited in number, per address and in all, and in time.
      const limits = config.security.pairing;
      if (this.#pairingSockets.get(connection.remoteAddress) >= limits.maxConnectionsPerSource)
        return refuse(
          new ProtocolError("OVERLOADED", "too many pairing connections from this address", {
            details: {
              reason: "too_many_pairing_connections_from_source",
              limit: limits.maxConnectionsPerSource,
              retryAfterMs: 5000,
            },
          }),
        );
      if (this.#pairingSockets.total >= limits.maxConnections)
        return refuse(
          new ProtocolError("OVERLOADED", "too many pairing connections", {
            details: { reason: "too_many_pairing_connections", limit: limits.maxConnections, retryAfterMs: 5000 },
          }),
        );
      grant = "pairing";
    }
    this.#releaseSlot(connection);
    if (grant === "pairing") {
      connection.slot = "pairing";
      const perMinute = config.security.pairing.startsPerMinute;
      connection.pairingLimiter = new RateLimiter(perMinute / 60, perMinute);
      this.#pairingSockets.add(connection.remoteAddress);
      // A pairing connection lives as long as a code does; the device reconnects to try again.
      const ttlMs = config.security.pairing.codeTtlMs;
      connection.handshakeTimer = setTimeout(() => {
        connection.send(
          encodeError(
            null,
            new ProtocolError("UNAUTHORIZED", `pairing connections last ${ttlMs} ms`, {
              details: { reason: "pairing_expired", nextStep: "reconnect and start pairing again" },
            }),
          ),
        );
        connection.close(CloseCode.PolicyViolation, "pairing window expired");
      }, ttlMs);
      connection.handshakeTimer.unref?.();
    } else {
      clearTimeout(connection.handshakeTimer);
    }
    connection.grant = grant;
    connection.token = token;
    connection.role = params.role;
    connection.scopes = new Set(ALL_SCOPES_OF[grant]);
    connection.client = params.client;
    connection.state = "ready";
    if (nodeId !== undefined) {
      connection.nodeId = nodeId;
      this.pairing.touch(nodeId);
      this.registry.register(
        nodeId,
        connection.socket,
        params.capabilities ?? [],
        displayName === undefined ? { client: params.client } : { client: params.client, displayName },
      );
    }
    const hello: MethodResult<"connect"> = {
      protocol: Math.min(params.protocol, PROTOCOL_VERSION),
      server: { name: GATEWAY_NAME, version: GATEWAY_VERSION },
      connectionId: connection.id,
      role: params.role,
      scopes: [...connection.scopes],
      methods: METHOD_NAMES.filter(
        (name) => name === "connect" || connection.hasAnyScope(METHODS[name].scopes),
      ),
      events: EVENT_NAMES.filter((name) => connection.hasAnyScope(EVENTS[name].scopes)),
      heartbeatMs: config.heartbeat.intervalMs,
      limits: { maxFrameBytes: config.gateway.maxFrameBytes },
    };
    if (nodeId !== undefined) hello.nodeId = nodeId;
    connection.send(encodeResult(frame.id, hello));
    this.logger.info(
      { connectionId: connection.id, role: params.role, grant, client: params.client.name, nodeId },
      "client connected",
    );
  }

  async #applyConfig(event: ConfigChangeEvent): Promise<void> {
    const config: Config = event.config;
    for (const unit of event.diff.applied) {
      if (unit === "heartbeat") this.#armHeartbeat(config.heartbeat.intervalMs);
      if (unit === "cron") await this.#reconcileCron(config);
      if (unit === "logging") this.logger.level = config.logging.level;
      if (unit === "security") {
        this.pairing.configure(config.security.pairing);
        if (config.security.token !== undefined) this.#token = config.security.token;
        this.#endRotatedSessions();
      }
      if (unit === "state.historyLimit" || unit === "conversations")
        for (const write of this.conversations.enforceLimits())
          write.catch((error: unknown) =>
            this.logger.error({ err: error }, "could not drop history beyond the new limits"),
          );
      // ws reads maxPayload for each new connection.
      if (unit === "gateway.maxFrameBytes" && this.#wss !== undefined) {
        (this.#wss.options as { maxPayload: number }).maxPayload = config.gateway.maxFrameBytes;
      }
    }
    const channels = event.diff.applied
      .filter((unit) => unit.startsWith("channels."))
      .map((unit) => unit.slice("channels.".length));
    if (channels.length > 0) await this.channels.apply(config.channels, channels);
    this.broadcast("config.reloaded", {
      hash: event.hash,
      applied: event.diff.applied,
      restartRequired: event.diff.restartRequired,
    });
    if (event.diff.restartRequired.length > 0)
      this.logger.warn(
        { restartRequired: event.diff.restartRequired },
        "config changes need a restart to take effect",
      );
  }
}
