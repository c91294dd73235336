/**
 * @packageDocumentation
 * A loopback fake of a signal-cli daemon (`signal-cli daemon --http`) for testing the Signal
 * channel and the gateway without Signal: the same JSON-RPC 2.0 on `POST /api/v1/rpc` (with
 * signal-cli's error objects), the same server-sent events on `GET /api/v1/events` (keepalive
 * comments, numbered events, `Last-Event-ID`), and `GET /api/v1/check`. It records every call.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  SignalAttachment,
  SignalDataMessage,
  SignalEnvelope,
  SignalMention,
  SignalReceivePayload,
} from "./types";

/** One HTTP request the fake received. */
export interface FakeSignalRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

/** One JSON-RPC call the fake received (batch entries each count). */
export interface FakeSignalCall {
  method: string;
  params: Record<string, unknown>;
  id: unknown;
}

/** An attachment a `send` carried, decoded from its data URI. */
export interface FakeSentAttachment {
  contentType: string;
  filename: string | undefined;
  size: number;
  /** The bytes, base64. */
  data: string;
}

/** One message the fake "sent" to Signal. */
export interface FakeSentMessage {
  timestamp: number;
  recipient: string[] | undefined;
  groupId: string | undefined;
  message: string | undefined;
  quoteTimestamp: number | undefined;
  quoteAuthor: string | undefined;
  attachments: FakeSentAttachment[];
}

/** A person known to the fake. */
export interface FakeSignalUser {
  number: string;
  uuid: string;
  name: string;
}

/** A JSON-RPC error object to answer with. */
export interface FakeRpcError {
  code: number;
  message: string;
  data?: unknown;
}

/** Options of {@link FakeSignalCli.start}. */
export interface FakeSignalCliOptions {
  /** The account the daemon runs. @defaultValue `+15550000000` */
  account?: string;
  /** Multi-account mode: calls naming another account are refused. @defaultValue false */
  multiAccount?: boolean;
  /** Interval of the `:` keepalive comments on the event stream (0: none). @defaultValue 15,000, as signal-cli */
  keepaliveMs?: number;
  /** How many events are kept for `Last-Event-ID` replays. @defaultValue 1000, as signal-cli */
  bufferSize?: number;
  /**
   * Where an event's `id:` line goes: before its `data:` line, or after it (both are valid
   * server-sent events; a client must take the id from either place). @defaultValue `"first"`
   */
  idLine?: "first" | "last";
}

interface Stream {
  res: ServerResponse;
  keepalive: ReturnType<typeof setInterval> | undefined;
  /** Highest event sequence number written to this stream. */
  sent: number;
}

interface BufferedEvent {
  seq: number;
  data: string;
  /** Whether it reached an open stream. */
  delivered: boolean;
}

const E164 = /^\+[1-9]\d{6,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATA_URI = /^data:(?<type>.+?\/.+?)?(?<parameters>;.+?=.+?)?(?<base64>;base64)?,(?<data>.+)$/is;

/**
 * A loopback signal-cli daemon. Point the plugin's `daemonUrl` at {@link FakeSignalCli.url}, make
 * people write with {@link FakeSignalCli.receiveMessage}, and read what was sent in
 * {@link FakeSignalCli.sent}. It can close its event streams, fall silent, refuse calls with
 * JSON-RPC errors, and go down and come back on the same port.
 *
 * @example
 * ```ts
 * const daemon = await FakeSignalCli.start();
 * const ana = daemon.addUser("+15550001111", "Ana");
 * daemon.receiveMessage({ from: ana, text: "hi" });
 * await daemon.close();
 * ```
 */
export class FakeSignalCli {
  /** The account the daemon runs. */
  readonly account: string;
  /** The account's ACI. */
  readonly accountUuid = randomUUID();
  /** Every HTTP request, in order. */
  readonly requests: FakeSignalRequest[] = [];
  /** Every JSON-RPC call, in order. */
  readonly calls: FakeSignalCall[] = [];
  /** Every message sent (`send`), in order. */
  readonly sent: FakeSentMessage[] = [];
  /** People by number and by UUID. */
  readonly users = new Map<string, FakeSignalUser>();
  /** Numbers and UUIDs that are not registered with Signal. */
  readonly unregistered = new Set<string>();
  /** Groups by id: name and member numbers. */
  readonly groups = new Map<string, { name: string; members: string[] }>();
  /** Attachments the account can download, by id. */
  readonly attachments = new Map<string, { data: string; contentType: string; filename?: string }>();
  #stalled = false;
  readonly #options: Required<FakeSignalCliOptions>;
  readonly #server: Server;
  readonly #streams = new Set<Stream>();
  readonly #events: BufferedEvent[] = [];
  readonly #failures = new Map<string, FakeRpcError[]>();
  #seq = 0;
  #clock = 1_764_000_000_000;
  #port = 0;
  #listening = false;

  private constructor(options: FakeSignalCliOptions) {
    this.#options = {
      account: options.account ?? "+15550000000",
      multiAccount: options.multiAccount ?? false,
      keepaliveMs: options.keepaliveMs ?? 15_000,
      bufferSize: options.bufferSize ?? 1000,
      idLine: options.idLine ?? "first",
    };
    this.account = this.#options.account;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 1000;
  }

  /**
   * Starts a fake daemon on 127.0.0.1 and an ephemeral port.
   *
   * @param options - Account, multi-account mode, keepalive interval, replay buffer.
   * @returns The running fake.
   */
  static async start(options: FakeSignalCliOptions = {}): Promise<FakeSignalCli> {
    const fake = new FakeSignalCli(options);
    await fake.#listen(0);
    return fake;
  }

  /**
   * When true, the event streams stay open but write nothing (no events, no keepalives): a stalled
   * daemon. Events that arrive meanwhile are kept, and written when it is set back to false.
   */
  get stalled(): boolean {
    return this.#stalled;
  }

  set stalled(value: boolean) {
    this.#stalled = value;
    if (!value) this.flush();
  }

  /** The daemon's base URL, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** How many event streams are open. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** How many times a client opened the event stream. */
  get streamConnections(): number {
    return this.requests.filter((r) => r.method === "GET" && r.path === "/api/v1/events").length;
  }

  /** The texts of every message sent, in order. */
  sentTexts(): string[] {
    return this.sent.map((m) => m.message ?? "");
  }

  /**
   * Makes someone known to the daemon (a registered Signal user).
   *
   * @param number - E.164 phone number.
   * @param name - Profile name.
   * @param uuid - ACI; random when omitted.
   * @returns The user.
   */
  addUser(number: string, name: string, uuid: string = randomUUID()): FakeSignalUser {
    const user = { number, uuid, name };
    this.users.set(number, user);
    this.users.set(uuid, user);
    return user;
  }

  /**
   * Adds a group the account is a member of.
   *
   * @param name - Its name.
   * @param members - Member numbers (the account is added).
   * @returns Its id (base64 of 32 random bytes, as Signal's).
   */
  addGroup(name: string, members: string[] = []): string {
    const id = randomBytes(32).toString("base64");
    this.groups.set(id, { name, members: [this.account, ...members] });
    return id;
  }

  /**
   * Stores an attachment the account received, for `getAttachment`.
   *
   * @returns The attachment as it appears in a message's `attachments`.
   */
  addAttachment(bytes: Uint8Array, contentType: string, filename?: string): SignalAttachment {
    const id = `${randomBytes(10).toString("hex")}.bin`;
    const stored: { data: string; contentType: string; filename?: string } = {
      data: Buffer.from(bytes).toString("base64"),
      contentType,
    };
    if (filename !== undefined) stored.filename = filename;
    this.attachments.set(id, stored);
    return { contentType, filename: filename ?? null, id, size: bytes.byteLength };
  }

  /** Makes the next calls of `method` fail with these JSON-RPC error objects, in order. */
  failNext(method: string, ...errors: FakeRpcError[]): void {
    this.#failures.set(method, [...(this.#failures.get(method) ?? []), ...errors]);
  }

  /** Makes the next `send` fail as signal-cli does when Signal rate-limits the account. */
  rateLimitNextSend(retryAfterSeconds: number, recipient = "+15550001111"): void {
    this.failNext("send", {
      code: -5,
      message: "Failed to send message due to rate limiting",
      data: {
        response: {
          timestamp: this.#tick(),
          results: [
            {
              recipientAddress: { uuid: this.users.get(recipient)?.uuid ?? null, number: recipient },
              type: "RATE_LIMIT_FAILURE",
              retryAfterSeconds,
            },
          ],
        },
      },
    });
  }

  /**
   * Someone writes to the account: the daemon delivers a `receive` event.
   *
   * @param options - Sender, text, and optionally a group, quote, attachments, mentions, timestamp.
   * @returns The envelope delivered.
   */
  receiveMessage(options: {
    from: FakeSignalUser;
    text?: string;
    groupId?: string;
    quote?: { timestamp: number; author: FakeSignalUser | string; text?: string };
    attachments?: SignalAttachment[];
    mentions?: SignalMention[];
    timestamp?: number;
  }): SignalEnvelope {
    const timestamp = options.timestamp ?? this.#tick();
    const data: SignalDataMessage & Record<string, unknown> = {
      timestamp,
      message: options.text ?? null,
      expiresInSeconds: 0,
      viewOnce: false,
    };
    if (options.groupId !== undefined)
      data.groupInfo = {
        groupId: options.groupId,
        groupName: this.groups.get(options.groupId)?.name ?? null,
        revision: 1,
        type: "DELIVER",
      };
    if (options.quote !== undefined) {
      const author = typeof options.quote.author === "string" ? undefined : options.quote.author;
      const own = options.quote.author === this.account;
      data.quote = {
        id: options.quote.timestamp,
        author: own ? this.account : (author?.number ?? null),
        authorNumber: own ? this.account : (author?.number ?? null),
        authorUuid: own ? this.accountUuid : (author?.uuid ?? null),
        text: options.quote.text ?? "",
      };
    }
    if (options.attachments !== undefined) data.attachments = options.attachments;
    if (options.mentions !== undefined) data.mentions = options.mentions;
    return this.deliver({ ...this.#source(options.from), timestamp, dataMessage: data });
  }

  /**
   * Someone reacts to a message: a `dataMessage` with a `reaction`, as signal-cli sends it.
   *
   * @returns The envelope delivered.
   */
  receiveReaction(options: {
    from: FakeSignalUser;
    emoji: string;
    targetAuthor: FakeSignalUser | string;
    targetTimestamp: number;
    groupId?: string;
    remove?: boolean;
  }): SignalEnvelope {
    const timestamp = this.#tick();
    const target = typeof options.targetAuthor === "string" ? undefined : options.targetAuthor;
    const own = options.targetAuthor === this.account;
    const data: SignalDataMessage & Record<string, unknown> = {
      timestamp,
      message: null,
      expiresInSeconds: 0,
      viewOnce: false,
      reaction: {
        emoji: options.emoji,
        targetAuthor: own ? this.account : (target?.number ?? null),
        targetAuthorNumber: own ? this.account : (target?.number ?? null),
        targetAuthorUuid: own ? this.accountUuid : (target?.uuid ?? null),
        targetSentTimestamp: options.targetTimestamp,
        isRemove: options.remove ?? false,
      },
    };
    if (options.groupId !== undefined)
      data.groupInfo = { groupId: options.groupId, groupName: null, revision: 1, type: "DELIVER" };
    return this.deliver({ ...this.#source(options.from), timestamp, dataMessage: data });
  }

  /**
   * The account sends a message from another of its devices: signal-cli delivers a sync message.
   *
   * @returns The envelope delivered.
   */
  receiveSync(text: string, destination: FakeSignalUser): SignalEnvelope {
    const timestamp = this.#tick();
    return this.deliver({
      source: this.account,
      sourceNumber: this.account,
      sourceUuid: this.accountUuid,
      sourceName: "Me",
      sourceDevice: 2,
      timestamp,
      syncMessage: {
        sentMessage: {
          destination: destination.number,
          destinationNumber: destination.number,
          destinationUuid: destination.uuid,
          timestamp,
          message: text,
          expiresInSeconds: 0,
          viewOnce: false,
        },
      },
    });
  }

  /** Someone's phone says they are typing: a `typingMessage` envelope. */
  receiveTyping(from: FakeSignalUser): SignalEnvelope {
    const timestamp = this.#tick();
    return this.deliver({
      ...this.#source(from),
      timestamp,
      typingMessage: { action: "STARTED", timestamp },
    });
  }

  /**
   * Delivers an envelope as a `receive` event to every open stream (or keeps it for the next one).
   *
   * @param envelope - The envelope (signal-cli's `MessageEnvelope` JSON).
   * @returns The envelope.
   */
  deliver(envelope: SignalEnvelope & Record<string, unknown>): SignalEnvelope {
    const payload: SignalReceivePayload = { envelope, account: this.account };
    this.#push(JSON.stringify(payload));
    return envelope;
  }

  /** Writes raw SSE `data` (e.g. something that is not JSON) as a `receive` event. */
  deliverRaw(data: string): void {
    this.#push(data);
  }

  /** Ends every open event stream, as a daemon that closes them. */
  closeStreams(): void {
    for (const stream of this.#streams) this.#end(stream);
  }

  /** Stops the daemon: closes every stream and connection and stops listening (the port stays reserved in `url`). */
  async stop(): Promise<void> {
    this.closeStreams();
    if (!this.#listening) return;
    this.#listening = false;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Starts the daemon again on the same port after {@link FakeSignalCli.stop}. */
  async restart(): Promise<void> {
    if (!this.#listening) await this.#listen(this.#port);
  }

  /** Stops the daemon for good. */
  async close(): Promise<void> {
    await this.stop();
  }

  #tick(): number {
    this.#clock += 1000;
    return this.#clock;
  }

  #source(user: FakeSignalUser) {
    return {
      source: user.number,
      sourceNumber: user.number,
      sourceUuid: user.uuid,
      sourceName: user.name,
      sourceDevice: 1,
      serverReceivedTimestamp: this.#clock + 10,
      serverDeliveredTimestamp: this.#clock + 20,
    };
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
  }

  #push(data: string): void {
    const event: BufferedEvent = { seq: ++this.#seq, data, delivered: false };
    this.#events.push(event);
    if (this.#events.length > this.#options.bufferSize) this.#events.shift();
    if (this.stalled) return;
    for (const stream of this.#streams) this.#write(stream, event);
  }

  /** Writes what is buffered and not yet delivered to open streams (after a stall ends). */
  flush(): void {
    if (this.stalled) return;
    for (const stream of this.#streams)
      for (const event of this.#events) if (event.seq > stream.sent) this.#write(stream, event);
  }

  #write(stream: Stream, event: BufferedEvent): void {
    if (stream.res.destroyed || event.seq <= stream.sent) return;
    stream.sent = event.seq;
    event.delivered = true;
    stream.res.write(
      this.#options.idLine === "first"
        ? `id:${event.seq}\nevent:receive\ndata:${event.data}\n\n`
        : `event:receive\ndata:${event.data}\nid:${event.seq}\n\n`,
    );
  }

  #end(stream: Stream): void {
    clearInterval(stream.keepalive);
    this.#streams.delete(stream);
    if (!stream.res.writableEnded) stream.res.end();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, value]) => [
        k,
        Array.isArray(value) ? value.join(", ") : (value ?? ""),
      ]),
    );
    this.requests.push({
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
    });
    const empty = (status: number) => {
      res.writeHead(status, { "content-length": "0" });
      res.end();
    };
    if (url.pathname === "/api/v1/check") return req.method === "GET" ? empty(200) : empty(405);
    // Like signal-cli bound to a loopback address: a foreign Host header (DNS rebinding) is refused.
    const host = (headers.host ?? "").replace(/:\d+$/, "");
    if (host !== "127.0.0.1" && host !== "localhost") return empty(421);
    if (url.pathname === "/api/v1/events") {
      if (req.method !== "GET") return empty(405);
      const account = url.searchParams.get("account");
      if (account !== null && account !== "" && account !== this.account) return empty(400);
      return this.#openStream(req, res);
    }
    if (url.pathname !== "/api/v1/rpc") return empty(404);
    if (req.method !== "POST") return empty(405);
    if (!(headers["content-type"] ?? "").startsWith("application/json")) return empty(415);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return this.#json(res, {
        jsonrpc: "2.0",
        error: { code: -32700, message: "Parse error", data: null },
        id: null,
      });
    }
    if (Array.isArray(body)) {
      const answers = body.map((entry) => this.#call(entry)).filter((a) => a !== undefined);
      return answers.length === 0 ? empty(201) : this.#json(res, answers);
    }
    const answer = this.#call(body);
    return answer === undefined ? empty(201) : this.#json(res, answer);
  }

  #openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const stream: Stream = { res, keepalive: undefined, sent: 0 };
    this.#streams.add(stream);
    const last = req.headers["last-event-id"];
    const lastSeq = typeof last === "string" && /^\d+$/.test(last) ? Number(last) : undefined;
    const known = lastSeq !== undefined && this.#events.some((e) => e.seq === lastSeq);
    // Resume after a known id; an unknown id gets every kept event (as signal-cli after a restart);
    // no id gets what no stream has received yet.
    const backlog =
      lastSeq === undefined
        ? this.#events.filter((e) => !e.delivered)
        : known
          ? this.#events.filter((e) => e.seq > lastSeq)
          : [...this.#events];
    if (!this.stalled) for (const event of backlog) this.#write(stream, event);
    if (this.#options.keepaliveMs > 0)
      stream.keepalive = setInterval(() => {
        if (!this.stalled && !res.destroyed) res.write(":\n");
      }, this.#options.keepaliveMs);
    res.once("close", () => {
      clearInterval(stream.keepalive);
      this.#streams.delete(stream);
    });
  }

  #json(res: ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  #call(entry: unknown): Record<string, unknown> | undefined {
    const request = entry as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    const id = request?.id ?? null;
    const error = (code: number, message: string, data: unknown = null) => ({
      jsonrpc: "2.0",
      error: { code, message, data },
      id,
    });
    if (typeof request !== "object" || request === null || typeof request.method !== "string")
      return error(-32600, "method field must be set");
    const params = { ...((request.params as Record<string, unknown> | undefined) ?? {}) };
    this.calls.push({ method: request.method, params: { ...params }, id });
    const isNotification = !("id" in request);
    if (params.account !== undefined && params.account !== null) {
      if (params.account !== this.account) return error(-32602, "Specified account does not exist");
      delete params.account;
    }
    const failure = this.#failures.get(request.method)?.shift();
    if (failure !== undefined) return error(failure.code, failure.message, failure.data ?? null);
    let result: unknown;
    try {
      result = this.#run(request.method, params);
    } catch (thrown) {
      if (thrown instanceof RpcFailure) return error(thrown.code, thrown.message, thrown.data);
      throw thrown;
    }
    return isNotification ? undefined : { jsonrpc: "2.0", result, id };
  }

  #run(method: string, params: Record<string, unknown>): unknown {
    const list = (value: unknown): string[] | undefined =>
      value === undefined || value === null
        ? undefined
        : Array.isArray(value)
          ? value.map(String)
          : [String(value)];
    const recipients = list(params.recipient);
    const groupId = typeof params.groupId === "string" ? params.groupId : undefined;
    const needTarget = () => {
      if ((recipients === undefined || recipients.length === 0) && groupId === undefined)
        throw new RpcFailure(-1, "No recipients given");
      for (const r of recipients ?? [])
        if (!E164.test(r) && !UUID.test(r)) throw new RpcFailure(-1, `Invalid recipient: ${r}`);
      if (groupId !== undefined) {
        if (!this.groups.has(groupId)) throw new RpcFailure(-1, `Group not found: ${groupId}`);
      }
    };
    const results = (timestamp: number) => {
      const targets =
        groupId !== undefined
          ? this.groups.get(groupId)!.members.filter((m) => m !== this.account)
          : recipients!;
      const entries = targets.map((r) => {
        const user = this.users.get(r);
        return {
          recipientAddress: {
            uuid: user?.uuid ?? (UUID.test(r) ? r : null),
            number: user?.number ?? (E164.test(r) ? r : null),
          },
          ...(groupId === undefined ? {} : { groupId }),
          type: this.unregistered.has(r) ? "UNREGISTERED_FAILURE" : "SUCCESS",
        };
      });
      if (entries.length > 0 && entries.every((e) => e.type !== "SUCCESS"))
        throw new RpcFailure(-1, "Failed to send message", { response: { timestamp, results: entries } });
      return { timestamp, results: entries };
    };
    switch (method) {
      case "version":
        return { version: "0.13.22" };
      case "listGroups":
        return [...this.groups].map(([id, group]) => ({
          id,
          name: group.name,
          description: "",
          isMember: true,
          isBlocked: false,
          members: group.members.map((number) => ({ number, uuid: this.users.get(number)?.uuid ?? null })),
          pendingMembers: [],
          requestingMembers: [],
          admins: [],
        }));
      case "sendTyping":
        needTarget();
        return {};
      case "sendReaction": {
        needTarget();
        if (
          typeof params.emoji !== "string" ||
          params.targetAuthor === undefined ||
          params.targetTimestamp === undefined
        )
          throw new RpcFailure(-32602, "emoji, targetAuthor and targetTimestamp are required");
        return results(this.#tick());
      }
      case "getAttachment": {
        if (typeof params.id !== "string") throw new RpcFailure(-32602, "id is required");
        const stored = this.attachments.get(params.id);
        if (stored === undefined) throw new RpcFailure(-1, `Unable to find attachment: ${params.id}`);
        return { data: stored.data };
      }
      case "send": {
        needTarget();
        if (params.quoteTimestamp !== undefined && params.quoteAuthor === undefined)
          throw new RpcFailure(-1, "Quote author parameter is missing");
        const attachments: FakeSentAttachment[] = [];
        for (const uri of list(params.attachments ?? params.attachment) ?? []) {
          const match = DATA_URI.exec(uri);
          if (match?.groups === undefined)
            throw new RpcFailure(
              -32603,
              `Failed to send message: ${uri.slice(0, 40)} (AttachmentInvalidException)`,
            );
          const filename = /;filename=([^;]+)/.exec(match.groups.parameters ?? "")?.[1];
          const data = match.groups.data!;
          attachments.push({
            contentType: match.groups.type ?? "text/plain",
            filename: filename === undefined ? undefined : decodeURIComponent(filename),
            size: Buffer.from(data, "base64").byteLength,
            data,
          });
        }
        const message = typeof params.message === "string" ? params.message : undefined;
        if ((message === undefined || message === "") && attachments.length === 0)
          throw new RpcFailure(
            -1,
            "Sending empty message is not allowed, either a message, attachment or sticker must be given.",
          );
        const timestamp = this.#tick();
        const outcome = results(timestamp);
        this.sent.push({
          timestamp,
          recipient: recipients,
          groupId,
          message,
          quoteTimestamp: params.quoteTimestamp === undefined ? undefined : Number(params.quoteTimestamp),
          quoteAuthor: params.quoteAuthor === undefined ? undefined : String(params.quoteAuthor),
          attachments,
        });
        return outcome;
      }
      default:
        throw new RpcFailure(-32601, "Method not implemented");
    }
  }
}

class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown = null,
  ) {
    super(message);
  }
}
