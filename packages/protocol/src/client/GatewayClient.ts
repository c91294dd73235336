import { EventEmitter } from "eventemitter3";
import { CloseCode, DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../constants";
import { encodeError, encodeEvent, encodeRequest, encodeResult } from "../encode";
import { type ErrorCode, ProtocolError, toProtocolError } from "../errors";
import type { EventData, EventName } from "../events";
import type { EventFrame, RequestFrame, ResponseFrame } from "../frames";
import type { MethodName, MethodParamsInput, MethodResult } from "../methods";
import { parseEventData, parseFrame, parseResult } from "../parse";
import type { ClientInfo } from "../schemas/common";
import type { ConnectParams, ConnectResult, Role } from "../schemas/system";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff";
import { type WebSocketConstructor, type WebSocketLike, WS_OPEN } from "./websocket";

/** Options of {@link GatewayClient}. */
export interface GatewayClientOptions {
  /** Gateway URL, e.g. `ws://127.0.0.1:18789`. */
  url: string;
  /** Gateway token, for operators. */
  token?: string;
  /** Device token issued by pairing, for nodes. */
  deviceToken?: string;
  /**
   * The role to connect as.
   * @defaultValue `"operator"`
   */
  role?: Role;
  /**
   * Identification sent with `connect`.
   * @defaultValue `{ name: "openclaw-client", version: "0.0.0", platform: <detected> }`
   */
  client?: ClientInfo;
  /** Commands this client can execute, for nodes. */
  capabilities?: string[];
  /** A node's stable id. */
  nodeId?: string;
  /** A node's human name. */
  displayName?: string;
  /**
   * The WebSocket implementation. Pass `WebSocket` from `ws` on Node 20.
   * @defaultValue `globalThis.WebSocket`
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Time limit of each request without its own `timeoutMs`.
   * @defaultValue 30000
   */
  requestTimeoutMs?: number;
  /**
   * Time limit from opening a socket to a successful `connect` response.
   * @defaultValue 10000
   */
  handshakeTimeoutMs?: number;
  /**
   * Reconnect policy after a lost connection (and between failed first attempts);
   * `false` disables reconnecting.
   * @defaultValue {@link DEFAULT_BACKOFF}
   */
  reconnect?: BackoffOptions | false;
  /**
   * Requests that may wait for a connection before new ones are refused.
   * @defaultValue 1000
   */
  maxQueuedRequests?: number;
  /**
   * Server requests (to nodes) whose answers are remembered by id: the gateway sends a request
   * again, with the same id, after a reconnect; the handler does not run twice, the first answer
   * (or the one still being worked on) is sent on the new connection.
   * @defaultValue 1000
   */
  maxRememberedRequests?: number;
  /**
   * Largest frame accepted from the server, in bytes.
   * @defaultValue {@link DEFAULT_MAX_FRAME_BYTES}
   */
  maxFrameBytes?: number;
  /**
   * Validate every result and event payload against the catalogue (costs CPU; useful in tests
   * and when talking to a server of another version).
   * @defaultValue false
   */
  validate?: boolean;
  /**
   * Missing heartbeats tolerated, as a multiple of the server's `heartbeatMs`, before the
   * connection is considered dead and dropped.
   * @defaultValue 2.5
   */
  heartbeatToleranceFactor?: number;
}

/** Options of one {@link GatewayClient.request} call. */
export interface RequestOptions {
  /** Time limit of this request, overriding `requestTimeoutMs`. */
  timeoutMs?: number;
  /** The node that should execute a forwardable method such as `agent.run`. */
  target?: string;
}

/** Connection state of a {@link GatewayClient}. */
export type GatewayClientState = "idle" | "connecting" | "ready" | "reconnecting" | "closed";

/** Why the connection ended, as reported by the `disconnected` event. */
export interface DisconnectInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
}

/** A request the server sent to this client (nodes receive forwarded calls this way). */
export interface IncomingRequest {
  id: string;
  method: string;
  data: unknown;
}

/** Answers a server-to-client request; its return value (or thrown error) becomes the response. */
export type RequestHandler = (data: unknown, request: IncomingRequest) => unknown;

type ProtocolEventListeners = {
  [E in EventName]: (data: EventData<E>, frame: EventFrame) => void;
};

/** Everything a {@link GatewayClient} emits: lifecycle events plus every protocol event. */
export interface GatewayClientEvents extends ProtocolEventListeners {
  /** The handshake succeeded (first connect and every reconnect). */
  connected: (hello: ConnectResult) => void;
  /** The connection ended. */
  disconnected: (info: DisconnectInfo) => void;
  /** A reconnect attempt is scheduled. */
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  /** A problem that is not tied to a request: a malformed frame, a refused handshake, a server error with `id: null`. */
  error: (error: ProtocolError) => void;
  /** Every event frame, including events this version does not know. */
  event: (frame: EventFrame) => void;
}

/** The defaults of {@link GatewayClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS = Object.freeze({
  role: "operator" as Role,
  requestTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  maxQueuedRequests: 1000,
  maxRememberedRequests: 1000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  validate: false,
  heartbeatToleranceFactor: 2.5,
});

interface Pending {
  readonly method: string;
  readonly frame: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: ProtocolError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  sent: boolean;
}

const FATAL_HANDSHAKE_CODES: ReadonlySet<ErrorCode> = new Set([
  "UNAUTHORIZED",
  "FORBIDDEN",
  "UNSUPPORTED_PROTOCOL",
  "INVALID_PARAMS",
]);

const CONNECT_ID = "connect";

/**
 * A client of the OpenClaw Gateway for Node and browsers: connects, performs the `connect`
 * handshake, sends typed requests with per-request timeouts, delivers typed events, answers
 * server-to-node requests, and reconnects with exponential backoff and jitter.
 *
 * @example
 * ```ts
 * import { WebSocket } from "ws";
 * import { GatewayClient } from "@openclaw/protocol";
 *
 * const client = new GatewayClient({ url: "ws://127.0.0.1:18789", token: process.env.OPENCLAW_GATEWAY_TOKEN, WebSocket });
 * client.on("channel.message.received", ({ channel, message }) => console.log(channel, message.text));
 * await client.connect();
 * const { messageId } = await client.request("message.send", { recipient: "alice", text: "hi" });
 * await client.close();
 * ```
 */
export class GatewayClient {
  readonly #options: GatewayClientOptions;
  readonly #emitter = new EventEmitter();
  readonly #pending = new Map<string, Pending>();
  readonly #queue: string[] = [];
  readonly #handlers = new Map<string, RequestHandler>();
  /** Answers to server requests by id, newest last (bounded by `maxRememberedRequests`). */
  readonly #served = new Map<string, Promise<string>>();
  readonly #idPrefix = Math.random().toString(36).slice(2, 8);
  #nextId = 0;
  #state: GatewayClientState = "idle";
  #socket: WebSocketLike | undefined;
  #hello: ConnectResult | undefined;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #lastFrameAt = 0;
  #connectWaiters: Array<{
    resolve: (hello: ConnectResult) => void;
    reject: (error: ProtocolError) => void;
  }> = [];
  #closeWaiters: Array<() => void> = [];

  /**
   * @param options - Where to connect and how; see {@link GatewayClientOptions}.
   */
  constructor(options: GatewayClientOptions) {
    this.#options = options;
  }

  /** The current connection state. */
  get state(): GatewayClientState {
    return this.#state;
  }

  /** The last successful handshake's result, or `undefined` before the first one. */
  get hello(): ConnectResult | undefined {
    return this.#hello;
  }

  /** Requests sent or queued and not yet answered. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Opens the connection and performs the handshake. Failed attempts are retried per the
   * `reconnect` policy; refusals that cannot succeed on retry (bad token, unsupported protocol)
   * reject at once.
   *
   * @returns The handshake result.
   */
  connect(): Promise<ConnectResult> {
    if (this.#state === "closed") {
      return Promise.reject(closedError("client_closed", "the client was closed"));
    }
    if (this.#state === "ready" && this.#hello !== undefined) return Promise.resolve(this.#hello);
    const promise = new Promise<ConnectResult>((resolve, reject) =>
      this.#connectWaiters.push({ resolve, reject }),
    );
    if (this.#state === "idle") this.#open();
    return promise;
  }

  /**
   * Sends a request and resolves with the response's `data`. While disconnected, requests wait
   * (bounded by `maxQueuedRequests`) and are sent after the next handshake; their timeout runs
   * from the call. A request already sent when the connection drops fails with
   * `CONNECTION_CLOSED`: repeat it with the same `idempotencyKey` to be safe.
   *
   * @param method - A method from the catalogue.
   * @param args - Its params (optional for methods without required params) and {@link RequestOptions}.
   * @returns The result, typed by the catalogue.
   */
  request<M extends MethodName>(
    method: M,
    ...args: undefined extends MethodParamsInput<M>
      ? [params?: MethodParamsInput<M>, options?: RequestOptions]
      : [params: MethodParamsInput<M>, options?: RequestOptions]
  ): Promise<MethodResult<M>> {
    const [params, options] = args;
    return this.#request(method, params, options) as Promise<MethodResult<M>>;
  }

  /**
   * Sends a request for a method this version's catalogue does not know (a newer server's).
   *
   * @param method - Any method name.
   * @param params - Its `data`.
   * @param options - Timeout and target.
   * @returns The response's `data`, unvalidated.
   */
  requestUntyped(method: string, params?: unknown, options?: RequestOptions): Promise<unknown> {
    return this.#request(method, params, options, false);
  }

  /**
   * Sends an event frame (no response), e.g. a node streaming `agent.chunk` while it runs an agent.
   * Events are not queued: while disconnected nothing is sent.
   *
   * @param event - The event name.
   * @param data - Its payload.
   * @returns Whether the frame was handed to the socket.
   */
  sendEvent<E extends EventName>(event: E, data: EventData<E>): boolean;
  sendEvent(event: string, data: unknown): boolean;
  sendEvent(event: string, data: unknown): boolean {
    const socket = this.#socket;
    if (this.#state !== "ready" || socket === undefined || socket.readyState !== WS_OPEN) return false;
    socket.send(encodeEvent(event, data));
    return true;
  }

  /**
   * Answers requests the server sends to this client (how nodes receive forwarded calls such
   * as `agent.run`). The handler's return value is sent as the result; a thrown error is sent
   * as a typed error. Requests without a handler are answered with `METHOD_NOT_FOUND`. A request
   * the gateway sends again after a reconnect (same id) does not run the handler twice: the answer
   * goes out on the connection open when it is ready.
   *
   * @param method - The method to answer.
   * @param handler - Produces the result.
   * @returns A function that removes the handler.
   */
  handle(method: string, handler: RequestHandler): () => void {
    this.#handlers.set(method, handler);
    return () => {
      if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
    };
  }

  /**
   * Subscribes to a lifecycle or protocol event.
   *
   * @param event - `connected`, `disconnected`, `reconnecting`, `error`, `event`, or an event name from the catalogue.
   * @param listener - Called with the event's data.
   * @returns A function that unsubscribes.
   */
  on<E extends keyof GatewayClientEvents>(event: E, listener: GatewayClientEvents[E]): () => void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return () => this.off(event, listener);
  }

  /**
   * Subscribes to the next occurrence of an event only.
   *
   * @param event - The event.
   * @param listener - Called once.
   * @returns A function that unsubscribes.
   */
  once<E extends keyof GatewayClientEvents>(event: E, listener: GatewayClientEvents[E]): () => void {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return () => this.off(event, listener);
  }

  /**
   * Removes a listener added with {@link GatewayClient.on} or {@link GatewayClient.once}.
   *
   * @param event - The event.
   * @param listener - The listener to remove.
   */
  off<E extends keyof GatewayClientEvents>(event: E, listener: GatewayClientEvents[E]): void {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
  }

  /**
   * Closes the connection for good: every pending request fails with `CONNECTION_CLOSED`,
   * no reconnect happens, and no timer or socket is left behind.
   *
   * @param code - Close code sent to the server.
   * @param reason - Close reason sent to the server.
   * @returns Resolves once the socket has closed (or after one second at most).
   */
  close(code: number = CloseCode.Normal, reason = "client closed"): Promise<void> {
    if (this.#state === "closed" && this.#socket === undefined) return Promise.resolve();
    this.#state = "closed";
    this.#clearTimers();
    const error = closedError("client_closed", "the client was closed");
    this.#failAll(error);
    this.#rejectConnectWaiters(error);
    const socket = this.#socket;
    if (socket === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.#detach(socket);
        hardClose(socket);
        this.#emitter.emit("disconnected", { code, reason, willReconnect: false } satisfies DisconnectInfo);
        this.#settleClose();
      }, 1000);
      this.#closeWaiters.push(() => {
        clearTimeout(force);
        resolve();
      });
      try {
        socket.close(code, reason);
      } catch {
        clearTimeout(force);
        this.#detach(socket);
        this.#settleClose();
      }
    });
  }

  #request(
    method: string,
    params: unknown,
    options: RequestOptions | undefined,
    validate = this.#options.validate ?? false,
  ): Promise<unknown> {
    if (this.#state === "closed")
      return Promise.reject(closedError("client_closed", "the client was closed"));
    const id = `${this.#idPrefix}-${++this.#nextId}`;
    const frame = encodeRequest(id, method, params, options?.target);
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = {
        method,
        frame,
        resolve: validate
          ? (value) => {
              const checked = parseResult(method as MethodName, value);
              if (checked.ok) resolve(checked.value);
              else reject(checked.error);
            }
          : resolve,
        reject,
        timer: undefined,
        sent: false,
      };
      const timeoutMs =
        options?.timeoutMs ?? this.#options.requestTimeoutMs ?? DEFAULT_CLIENT_OPTIONS.requestTimeoutMs;
      pending.timer = setTimeout(() => {
        this.#pending.delete(id);
        const index = this.#queue.indexOf(id);
        if (index !== -1) this.#queue.splice(index, 1);
        reject(
          new ProtocolError("TIMEOUT", `${method} timed out after ${timeoutMs} ms`, {
            details: { reason: "request_timeout", timeoutMs },
          }),
        );
      }, timeoutMs);
      this.#pending.set(id, pending);
      if (this.#state === "ready" && this.#trySend(pending)) return;
      const maxQueued = this.#options.maxQueuedRequests ?? DEFAULT_CLIENT_OPTIONS.maxQueuedRequests;
      if (this.#queue.length >= maxQueued) {
        this.#settle(
          id,
          undefined,
          closedError("queue_full", `not connected and ${maxQueued} requests are already waiting`),
        );
        return;
      }
      this.#queue.push(id);
    });
  }

  #trySend(pending: Pending): boolean {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== WS_OPEN) return false;
    socket.send(pending.frame);
    pending.sent = true;
    return true;
  }

  #open(): void {
    const WebSocketImpl =
      this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketImpl === undefined) {
      this.#fail(
        new ProtocolError(
          "CONNECTION_CLOSED",
          "no WebSocket implementation: pass the `WebSocket` option (e.g. from the ws package)",
          { details: { reason: "no_websocket" } },
        ),
      );
      return;
    }
    this.#state = this.#attempt === 0 ? "connecting" : "reconnecting";
    let socket: WebSocketLike;
    try {
      socket = new WebSocketImpl(this.#options.url);
    } catch (error) {
      this.#fail(
        new ProtocolError("CONNECTION_CLOSED", `cannot open ${this.#options.url}`, {
          details: { reason: "invalid_url" },
          cause: error,
        }),
      );
      return;
    }
    this.#socket = socket;
    const handshakeTimeoutMs = this.#options.handshakeTimeoutMs ?? DEFAULT_CLIENT_OPTIONS.handshakeTimeoutMs;
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = undefined;
      this.#lost(socket, CloseCode.PolicyViolation, `handshake timed out after ${handshakeTimeoutMs} ms`);
    }, handshakeTimeoutMs);

    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      socket.send(encodeRequest(CONNECT_ID, "connect", this.#connectParams()));
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) this.#onMessage(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (this.#socket === socket) this.#onClose(event.code, event.reason);
      else this.#settleClose();
    });
    socket.addEventListener("error", () => {
      // A close event always follows; nothing to do here.
    });
  }

  #connectParams(): ConnectParams {
    const o = this.#options;
    const params: ConnectParams = {
      role: o.role ?? DEFAULT_CLIENT_OPTIONS.role,
      client: o.client ?? { name: "openclaw-client", version: "0.0.0", platform: detectPlatform() },
      protocol: PROTOCOL_VERSION,
    };
    if (o.token !== undefined) params.token = o.token;
    if (o.deviceToken !== undefined) params.deviceToken = o.deviceToken;
    if (o.capabilities !== undefined) params.capabilities = o.capabilities;
    if (o.nodeId !== undefined) params.nodeId = o.nodeId;
    if (o.displayName !== undefined) params.displayName = o.displayName;
    return params;
  }

  #onMessage(raw: unknown): void {
    this.#lastFrameAt = Date.now();
    const input =
      typeof raw === "string" || raw instanceof Uint8Array || raw instanceof ArrayBuffer ? raw : String(raw);
    const parsed = parseFrame(input, {
      maxBytes: this.#options.maxFrameBytes ?? DEFAULT_CLIENT_OPTIONS.maxFrameBytes,
    });
    if (!parsed.ok) {
      this.#emitError(parsed.error);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === "res") this.#onResponse(frame);
    else if (frame.type === "event") this.#onEvent(frame);
    else this.#onServerRequest(frame);
  }

  #onResponse(frame: ResponseFrame): void {
    if (frame.id === CONNECT_ID && this.#state !== "ready") {
      this.#onHandshake(frame);
      return;
    }
    if (frame.id === null) {
      if (frame.error !== null) this.#emitError(ProtocolError.fromShape(frame.error));
      return;
    }
    this.#settle(
      frame.id,
      frame.data,
      frame.error === null ? undefined : ProtocolError.fromShape(frame.error),
    );
  }

  #onHandshake(frame: ResponseFrame): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    if (frame.error !== null) {
      const error = ProtocolError.fromShape(frame.error);
      if (FATAL_HANDSHAKE_CODES.has(error.code)) {
        this.#detach(socket);
        try {
          socket.close(CloseCode.Normal, "handshake refused");
        } catch {
          // already closing
        }
        this.#fail(error);
      } else {
        this.#emitError(error);
        this.#lost(socket, CloseCode.Normal, error.message);
      }
      return;
    }
    const hello = frame.data as ConnectResult;
    this.#hello = hello;
    this.#state = "ready";
    this.#attempt = 0;
    this.#startHeartbeatWatch(hello.heartbeatMs);
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.resolve(hello);
    this.#emitter.emit("connected", hello);
    this.#flushQueue();
  }

  #flushQueue(): void {
    while (this.#queue.length > 0 && this.#state === "ready") {
      const id = this.#queue.shift()!;
      const pending = this.#pending.get(id);
      if (pending !== undefined && !this.#trySend(pending)) {
        this.#queue.unshift(id);
        return;
      }
    }
  }

  #onEvent(frame: EventFrame): void {
    this.#emitter.emit("event", frame);
    let data = frame.data;
    if (this.#options.validate === true) {
      const checked = parseEventData(frame.event, data);
      if (!checked.ok) {
        this.#emitError(checked.error);
        return;
      }
      data = checked.value;
    }
    this.#emitter.emit(frame.event, data, frame);
  }

  #onServerRequest(frame: RequestFrame): void {
    // Answers go out on whichever connection is open when they are ready (a reconnect may come between).
    const reply = (text: string) => {
      const socket = this.#socket;
      if (socket !== undefined && socket.readyState === WS_OPEN) socket.send(text);
    };
    const served = this.#served.get(frame.id);
    if (served !== undefined) {
      void served.then(reply);
      return;
    }
    const handler = this.#handlers.get(frame.method);
    if (handler === undefined) {
      reply(
        encodeError(
          frame.id,
          new ProtocolError("METHOD_NOT_FOUND", `this client does not handle ${frame.method}`, {
            details: { reason: "no_handler" },
          }),
        ),
      );
      return;
    }
    const request: IncomingRequest = { id: frame.id, method: frame.method, data: frame.data };
    const answer = Promise.resolve()
      .then(() => handler(frame.data, request))
      .then(
        (result) => encodeResult(frame.id, result),
        (error: unknown) => encodeError(frame.id, toProtocolError(error)),
      );
    this.#served.set(frame.id, answer);
    const max = this.#options.maxRememberedRequests ?? DEFAULT_CLIENT_OPTIONS.maxRememberedRequests;
    while (this.#served.size > max) this.#served.delete(this.#served.keys().next().value!);
    void answer.then(reply);
  }

  #onClose(code: number, reason: string): void {
    const socket = this.#socket;
    if (socket !== undefined) this.#lost(socket, code, reason);
  }

  /** The connection is gone (closed, timed out, heartbeat missed): clean up and maybe reconnect. */
  #lost(socket: WebSocketLike, code: number, reason: string): void {
    if (this.#socket !== socket) return;
    this.#detach(socket);
    hardClose(socket);
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    if (this.#state === "closed") {
      this.#emitter.emit("disconnected", { code, reason, willReconnect: false } satisfies DisconnectInfo);
      this.#settleClose();
      return;
    }
    // Requests already on the wire may or may not have run: fail them. Unsent ones keep waiting.
    for (const [id, pending] of this.#pending) {
      if (pending.sent)
        this.#settle(
          id,
          undefined,
          closedError("connection_lost", `connection lost before ${pending.method} was answered`),
        );
    }
    const policy = this.#options.reconnect;
    const backoff = policy === false ? undefined : { ...DEFAULT_BACKOFF, ...policy };
    const willReconnect = backoff !== undefined && this.#attempt < backoff.maxAttempts;
    this.#emitter.emit("disconnected", { code, reason, willReconnect } satisfies DisconnectInfo);
    if (!willReconnect || backoff === undefined) {
      this.#fail(
        closedError("connection_lost", `connection closed (${code}${reason === "" ? "" : `: ${reason}`})`),
      );
      return;
    }
    this.#attempt += 1;
    const delayMs = backoffDelay(this.#attempt, backoff);
    this.#state = "reconnecting";
    this.#emitter.emit("reconnecting", { attempt: this.#attempt, delayMs });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === "reconnecting") this.#open();
    }, delayMs);
  }

  #startHeartbeatWatch(heartbeatMs: number): void {
    clearInterval(this.#heartbeatTimer);
    if (!(heartbeatMs > 0)) return;
    const tolerance =
      heartbeatMs *
      (this.#options.heartbeatToleranceFactor ?? DEFAULT_CLIENT_OPTIONS.heartbeatToleranceFactor);
    this.#lastFrameAt = Date.now();
    this.#heartbeatTimer = setInterval(() => {
      const socket = this.#socket;
      if (socket !== undefined && Date.now() - this.#lastFrameAt > tolerance) {
        this.#lost(socket, CloseCode.GoingAway, `no frame from the server for ${Math.round(tolerance)} ms`);
      }
    }, heartbeatMs);
  }

  /** Gives up: the client ends in the closed state and everything waiting fails with `error`. */
  #fail(error: ProtocolError): void {
    this.#state = "closed";
    this.#clearTimers();
    this.#socket = undefined;
    this.#failAll(error);
    this.#rejectConnectWaiters(error);
    this.#emitError(error);
  }

  #failAll(error: ProtocolError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined, error);
    this.#queue.length = 0;
  }

  #rejectConnectWaiters(error: ProtocolError): void {
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  #settle(id: string, data: unknown, error: ProtocolError | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return; // late answer after a timeout: ignore
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error === undefined) pending.resolve(data);
    else pending.reject(error);
  }

  #detach(socket: WebSocketLike): void {
    if (this.#socket === socket) this.#socket = undefined;
  }

  #settleClose(): void {
    this.#socket = undefined;
    const waiters = this.#closeWaiters;
    this.#closeWaiters = [];
    for (const waiter of waiters) waiter();
  }

  #clearTimers(): void {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#heartbeatTimer);
    this.#reconnectTimer = undefined;
    this.#handshakeTimer = undefined;
    this.#heartbeatTimer = undefined;
  }

  #emitError(error: ProtocolError): void {
    // An 'error' event without listeners must not throw (unlike Node's EventEmitter).
    if (this.#emitter.listenerCount("error") > 0) this.#emitter.emit("error", error);
  }
}

/** Ends a socket at once: `terminate()` where the implementation has it (ws), else `close()`. */
function hardClose(socket: WebSocketLike): void {
  try {
    const terminate = (socket as { terminate?: () => void }).terminate;
    if (typeof terminate === "function") terminate.call(socket);
    else socket.close(CloseCode.Normal, "connection dropped");
  } catch {
    // already closed
  }
}

function closedError(reason: string, message: string): ProtocolError {
  return new ProtocolError("CONNECTION_CLOSED", message, { details: { reason } });
}

function detectPlatform(): string {
  const g = globalThis as { process?: { platform?: string }; navigator?: { userAgent?: string } };
  if (typeof g.process?.platform === "string") return g.process.platform;
  if (typeof g.navigator?.userAgent === "string") return "browser";
  return "unknown";
}
