import { ServerSentEventParser } from "./ServerSentEventParser";
import { type JsonRpcErrorObject, SignalCliError } from "./SignalCliError";
import type {
  SignalGroup,
  SignalRecipientParams,
  SignalSendParams,
  SignalSendResult,
  SignalVersion,
} from "./types";

/** Options of a {@link SignalCliClient}. */
export interface SignalCliClientOptions {
  /** The daemon's HTTP base URL, as started with `signal-cli daemon --http=HOST:PORT`, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /**
   * The account to act as. When set, every call carries `params.account` and the event stream
   * `?account=`, as signal-cli's multi-account mode requires. Leave unset for a single-account daemon.
   */
  account?: string | undefined;
  /**
   * Time limit of one JSON-RPC call, in milliseconds.
   * @defaultValue {@link SIGNAL_CLI_CLIENT_DEFAULTS}.requestTimeoutMs (30,000: sends to large groups are slow)
   */
  requestTimeoutMs?: number | undefined;
  /**
   * Time limit for the event stream's response headers, in milliseconds.
   * @defaultValue {@link SIGNAL_CLI_CLIENT_DEFAULTS}.connectTimeoutMs (10,000)
   */
  connectTimeoutMs?: number | undefined;
  /**
   * The largest event the stream delivers, in characters: the data of a longer event is dropped as
   * it arrives (at most this much of one event is held, however it is cut into chunks), and the
   * event is reported to `onSkipped` with its id once it ends, in order with the other events.
   * @defaultValue {@link SIGNAL_CLI_CLIENT_DEFAULTS}.maxEventChars (4,194,304)
   */
  maxEventChars?: number | undefined;
  /**
   * The largest JSON-RPC response body read, in bytes (attachments come base64-encoded in them).
   * @defaultValue {@link SIGNAL_CLI_CLIENT_DEFAULTS}.maxResponseBytes (67,108,864)
   */
  maxResponseBytes?: number | undefined;
  /** Aborts every request of this client (e.g. on shutdown). */
  signal?: AbortSignal | undefined;
}

/** Defaults of {@link SignalCliClientOptions}. */
export const SIGNAL_CLI_CLIENT_DEFAULTS = Object.freeze({
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxEventChars: 4 * 1024 * 1024,
  maxResponseBytes: 64 * 1024 * 1024,
});

/** One server-sent event of `GET /api/v1/events`. */
export interface SignalCliEvent {
  /** The event's `id`, when the daemon numbers its events (then reconnects resume after it). */
  id?: string | undefined;
  /** The event type; signal-cli sends `receive`. */
  event?: string | undefined;
  /** The data lines, joined: JSON `{envelope, account}` for `receive`. */
  data: string;
}

/** What {@link SignalCliClient.subscribe} calls while the stream is open. */
export interface SignalCliEventHandlers {
  /** One event. Awaited: the next event is read only after it settles. */
  onEvent(event: SignalCliEvent): Promise<void> | void;
  /** A comment line (signal-cli sends `:` every 15 s as a keepalive). */
  onComment?(comment: string): void;
  /**
   * An event longer than `maxEventChars`, skipped: called in its place among the events (after the
   * ones before it settled), with its id wherever the id stood in the event.
   */
  onSkipped?(event: { id: string | undefined; event: string | undefined; chars: number }): void;
}

/** An open event stream. */
export interface SignalCliSubscription {
  /** Resolves when the daemon ends the stream or it is aborted; rejects when reading fails. */
  readonly closed: Promise<void>;
  /** Closes the stream. */
  close(): void;
}

/**
 * A small typed client of signal-cli's HTTP daemon (`signal-cli daemon --http`): JSON-RPC 2.0 calls
 * on `POST /api/v1/rpc`, server-sent events on `GET /api/v1/events`, and `GET /api/v1/check`.
 * Every failure is a {@link SignalCliError}.
 *
 * @example
 * ```ts
 * const signal = new SignalCliClient({ baseUrl: "http://127.0.0.1:8080" });
 * const { timestamp } = await signal.send({ recipient: ["+15550001111"], message: "hi" });
 * ```
 */
export class SignalCliClient {
  readonly baseUrl: string;
  readonly account: string | undefined;
  readonly #options: Record<keyof typeof SIGNAL_CLI_CLIENT_DEFAULTS, number>;
  readonly #signal: AbortSignal | undefined;
  #nextId = 1;

  constructor(options: SignalCliClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.account = options.account;
    this.#signal = options.signal;
    this.#options = {
      requestTimeoutMs: options.requestTimeoutMs ?? SIGNAL_CLI_CLIENT_DEFAULTS.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? SIGNAL_CLI_CLIENT_DEFAULTS.connectTimeoutMs,
      maxEventChars: options.maxEventChars ?? SIGNAL_CLI_CLIENT_DEFAULTS.maxEventChars,
      maxResponseBytes: options.maxResponseBytes ?? SIGNAL_CLI_CLIENT_DEFAULTS.maxResponseBytes,
    };
  }

  /** `POST /api/v1/rpc`'s URL. */
  get rpcUrl(): string {
    return `${this.baseUrl}/api/v1/rpc`;
  }

  /** `GET /api/v1/events`'s URL (with `?account=` when the client has an account). */
  get eventsUrl(): string {
    const query = this.account === undefined ? "" : `?account=${encodeURIComponent(this.account)}`;
    return `${this.baseUrl}/api/v1/events${query}`;
  }

  /**
   * Calls a JSON-RPC method.
   *
   * @param method - signal-cli's command name, e.g. `send`.
   * @param params - Its parameters in camelCase; `account` is added when the client has one.
   * @param options - `signal` to abort this call.
   * @returns The `result` member of the response.
   * @throws {@link SignalCliError} `RPC` with the error object, or `NETWORK`, `TIMEOUT`, `HTTP`, `PROTOCOL`.
   */
  async request<T>(
    method: string,
    params: Record<string, unknown> = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const id = this.#nextId++;
    const body = {
      jsonrpc: "2.0",
      id,
      method,
      params: this.account === undefined ? params : { ...params, account: this.account },
    };
    const url = this.rpcUrl;
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs);
    const signal = AbortSignal.any(
      [timeout, this.#signal, options.signal].filter((s): s is AbortSignal => s !== undefined),
    );
    let text: string;
    let status: number;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
        signal,
      });
      status = response.status;
      text = await readLimited(response, this.#options.maxResponseBytes);
    } catch (error) {
      throw this.#transportError(error, url, method, timeout);
    }
    if (status !== 200 && status !== 201) {
      throw new SignalCliError("HTTP", `signal-cli answered ${method} with HTTP ${status}${hint(status)}`, {
        url,
        method,
        status,
      });
    }
    if (status === 201 || text === "") return undefined as T;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SignalCliError("PROTOCOL", `signal-cli answered ${method} with something that is not JSON`, {
        url,
        method,
        status,
        cause: error,
      });
    }
    const reply = parsed as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: unknown };
    if (typeof reply !== "object" || reply === null || reply.jsonrpc !== "2.0")
      throw new SignalCliError("PROTOCOL", `signal-cli answered ${method} with no JSON-RPC 2.0 response`, {
        url,
        method,
      });
    if (reply.error !== undefined && reply.error !== null) {
      const error = reply.error as Partial<JsonRpcErrorObject>;
      const rpcError: JsonRpcErrorObject = {
        code: typeof error.code === "number" ? error.code : -32603,
        message: typeof error.message === "string" ? error.message : "unknown error",
      };
      if (error.data !== undefined && error.data !== null) rpcError.data = error.data;
      throw new SignalCliError("RPC", `signal-cli ${method} failed (${rpcError.code}): ${rpcError.message}`, {
        url,
        method,
        rpcError,
      });
    }
    if (reply.id !== id)
      throw new SignalCliError("PROTOCOL", `signal-cli answered ${method} for another request id`, {
        url,
        method,
      });
    return reply.result as T;
  }

  /**
   * Sends a message (`send`): to `recipient` numbers or UUIDs, or to `groupId`.
   *
   * @param params - Recipients, text, attachments (paths or `data:` URIs), quote.
   * @returns The message's timestamp (its id on Signal, with the author) and per-recipient results.
   */
  send(params: SignalSendParams, options: { signal?: AbortSignal } = {}): Promise<SignalSendResult> {
    return this.request<SignalSendResult>("send", { ...params }, options);
  }

  /**
   * Reacts to a message (`sendReaction`).
   *
   * @param params - Where (`recipient` or `groupId`), `emoji`, and the target's `targetAuthor` and `targetTimestamp`.
   */
  sendReaction(
    params: SignalRecipientParams & {
      emoji: string;
      targetAuthor: string;
      targetTimestamp: number;
      remove?: boolean;
    },
    options: { signal?: AbortSignal } = {},
  ): Promise<SignalSendResult> {
    return this.request<SignalSendResult>("sendReaction", { ...params }, options);
  }

  /**
   * Shows (or, with `stop`, hides) the typing indicator (`sendTyping`); Signal hides it after 15 s.
   *
   * @param params - Where (`recipient` or `groupId`) and `stop`.
   */
  async sendTyping(
    params: SignalRecipientParams & { stop?: boolean },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.request<unknown>("sendTyping", { ...params }, options);
  }

  /**
   * Downloads a received attachment (`getAttachment`).
   *
   * @param params - The attachment `id` from the message, and the `recipient` who sent it or the `groupId`.
   * @returns Its bytes, base64-encoded.
   */
  async getAttachment(
    params: { id: string; recipient?: string; groupId?: string },
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    const result = await this.request<{ data?: unknown } | string>("getAttachment", { ...params }, options);
    const data = typeof result === "string" ? result : result?.data;
    if (typeof data !== "string")
      throw new SignalCliError("PROTOCOL", "signal-cli answered getAttachment without data", {
        url: this.rpcUrl,
        method: "getAttachment",
      });
    return data;
  }

  /** The account's groups (`listGroups`). */
  async listGroups(options: { signal?: AbortSignal } = {}): Promise<SignalGroup[]> {
    const result = await this.request<SignalGroup[]>("listGroups", {}, options);
    return Array.isArray(result) ? result : [];
  }

  /** The daemon's version (`version`). */
  version(options: { signal?: AbortSignal } = {}): Promise<SignalVersion> {
    return this.request<SignalVersion>("version", {}, options);
  }

  /**
   * Checks that the daemon runs (`GET /api/v1/check`).
   *
   * @throws {@link SignalCliError} when it does not answer 200.
   */
  async check(options: { signal?: AbortSignal } = {}): Promise<void> {
    const url = `${this.baseUrl}/api/v1/check`;
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs);
    const signal = AbortSignal.any(
      [timeout, this.#signal, options.signal].filter((s): s is AbortSignal => s !== undefined),
    );
    let status: number;
    try {
      const response = await fetch(url, { signal });
      status = response.status;
      await response.body?.cancel();
    } catch (error) {
      throw this.#transportError(error, url, "check", timeout);
    }
    if (status !== 200)
      throw new SignalCliError("HTTP", `signal-cli's check answered HTTP ${status}${hint(status)}`, {
        url,
        status,
      });
  }

  /**
   * Opens the event stream (`GET /api/v1/events`) and feeds its events to `handlers`, one at a time.
   *
   * @param handlers - Called for every event and comment.
   * @param options - `lastEventId` resumes after that event (sent as `Last-Event-ID`); `signal` closes the stream.
   * @returns Once the daemon has answered with the stream: the subscription.
   * @throws {@link SignalCliError} when the daemon cannot be reached or refuses the stream.
   */
  async subscribe(
    handlers: SignalCliEventHandlers,
    options: { lastEventId?: string | undefined; signal?: AbortSignal } = {},
  ): Promise<SignalCliSubscription> {
    const url = this.eventsUrl;
    const controller = new AbortController();
    const outer = [this.#signal, options.signal].filter((s): s is AbortSignal => s !== undefined);
    const onAbort = () => controller.abort();
    for (const s of outer) {
      if (s.aborted) controller.abort();
      else s.addEventListener("abort", onAbort, { once: true });
    }
    const release = () => {
      for (const s of outer) s.removeEventListener("abort", onAbort);
    };
    // The time limit covers the response headers only: the stream itself stays open indefinitely.
    const connecting = new AbortController();
    const timer = setTimeout(
      () => connecting.abort(new Error("connect timeout")),
      this.#options.connectTimeoutMs,
    );
    let response: Response;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
      if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
      response = await fetch(url, {
        headers,
        signal: AbortSignal.any([controller.signal, connecting.signal]),
      });
    } catch (error) {
      release();
      throw this.#transportError(error, url, "events", connecting.signal);
    } finally {
      clearTimeout(timer);
    }
    const type = response.headers.get("content-type") ?? "";
    if (response.status !== 200 || !type.startsWith("text/event-stream") || response.body === null) {
      release();
      await response.body?.cancel().catch(() => {});
      throw new SignalCliError(
        response.status === 200 ? "PROTOCOL" : "HTTP",
        response.status === 200
          ? `signal-cli's event stream answered ${type || "no content type"}, not text/event-stream`
          : `signal-cli's event stream answered HTTP ${response.status}${hint(response.status, this.account)}`,
        { url, status: response.status },
      );
    }
    const body = response.body;
    const closed = (async () => {
      // Events and skips in stream order: a skip is reported only after the events before it.
      const queue: Array<
        | { kind: "event"; event: SignalCliEvent }
        | { kind: "skipped"; event: { id: string | undefined; event: string | undefined; chars: number } }
      > = [];
      const parser = new ServerSentEventParser({
        maxEventChars: this.#options.maxEventChars,
        onEvent: (event) => queue.push({ kind: "event", event }),
        // Breaking the stream would only make the daemon send it again.
        onSkipped: (event) => queue.push({ kind: "skipped", event }),
        onComment: (comment) => handlers.onComment?.(comment),
      });
      const decoder = new TextDecoder();
      const reader = body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          parser.feed(decoder.decode(value, { stream: true }));
          while (queue.length > 0) {
            const item = queue.shift()!;
            if (item.kind === "event") await handlers.onEvent(item.event);
            else handlers.onSkipped?.(item.event);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        throw error instanceof SignalCliError
          ? error
          : new SignalCliError("NETWORK", `signal-cli's event stream broke: ${describe(error)}`, {
              url,
              cause: error,
            });
      } finally {
        release();
        controller.abort();
        reader.releaseLock();
        await body.cancel().catch(() => {});
      }
    })();
    // Handled by whoever awaits `closed`; never an unhandled rejection.
    closed.catch(() => {});
    return { closed, close: () => controller.abort() };
  }

  #transportError(error: unknown, url: string, method: string, timeout: AbortSignal): SignalCliError {
    if (error instanceof SignalCliError) return error;
    if (timeout.aborted)
      return new SignalCliError("TIMEOUT", `signal-cli at ${url} did not answer ${method} in time`, {
        url,
        method,
        cause: error,
      });
    return new SignalCliError("NETWORK", `cannot reach the signal-cli daemon at ${url}: ${describe(error)}`, {
      url,
      method,
      cause: error,
    });
  }
}

/** What an HTTP status of signal-cli's daemon usually means. */
function hint(status: number, account?: string): string {
  if (status === 421)
    return " (it refuses Host headers other than the address it listens on: use that address in daemonUrl)";
  if (status === 400 && account !== undefined) return ` (the daemon has no account ${account})`;
  if (status === 404) return " (is this signal-cli's HTTP daemon, `signal-cli daemon --http`?)";
  return "";
}

/** The most telling message of a fetch failure (undici hides the socket error in `cause`). */
function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (typeof cause?.code === "string") return cause.code;
  if (typeof cause?.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** Reads a response body as text, refusing more than `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new SignalCliError("PROTOCOL", `signal-cli's response is larger than ${limit} bytes`);
  }
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Throwing out of the loop cancels the body.
    if (size > limit)
      throw new SignalCliError("PROTOCOL", `signal-cli's response is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
