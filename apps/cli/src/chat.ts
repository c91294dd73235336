// `openclaw chat`: talk to the gateway's agents through the built-in `webchat` channel, as the
// control UI's Chat view does (client name "openclaw-cli" in the handshake).
//
// - Interactive (stdin a TTY, or --interactive): each line is one message; the reply streams to
//   stdout as `chat.chunk` events come; the next line is sent once the reply has ended (lines typed
//   meanwhile wait their turn). Ctrl-C during a reply aborts it (`chat.abort`, "(cancelled)"); a
//   second Ctrl-C before that reply has ended exits (130). Ctrl-C at an empty prompt, Ctrl-D,
//   end of input and /quit exit 0; Ctrl-C on a typed line clears the line.
// - One message (-m "…", or stdin when it is not a TTY): send it, print the reply, exit 0
//   (1 when the reply failed or was cancelled elsewhere, 130 on Ctrl-C).
// - A lost connection is reconnected; a `chat.send` whose answer was lost is sent again with the same
//   idempotency key (recorded once), and the reply in progress is picked up again from
//   `chat.subscribe` (its text so far) or, when it ended meanwhile, from the history.
import { randomUUID } from "node:crypto";
import { createInterface, type Interface } from "node:readline";
import {
  type ChatRunEvent,
  type ConversationMessage,
  type EventData,
  type GatewayClient,
  isProtocolError,
  type MethodResult,
  ProtocolError,
  WEBCHAT_CHANNEL,
} from "@openclaw/protocol";
import { type CommandContext, EXIT, UsageError } from "./commands";

/** Limits and defaults of `openclaw chat`. */
export const CHAT_DEFAULTS = Object.freeze({
  /** Messages `/history` shows without a count. */
  historyCount: 20,
  /** Most messages `/history N` shows. */
  maxHistoryCount: 1000,
  /** Longest message, in characters (the gateway's limit for `chat.send`). */
  maxTextLength: 100_000,
  /** Times one message is sent (with the same idempotency key) when the connection drops before its answer. */
  maxSendAttempts: 5,
  /** Reconnect attempts after a lost connection before the session gives up (about 40 s, at most 5 s apart). */
  reconnectAttempts: 10,
});

/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

const INTERRUPTED = Symbol("interrupted");

/** How a reply ended, as the CLI saw it. */
interface RunEnd {
  status: "completed" | "aborted" | "failed";
  messageId?: string;
  error?: { code: string; message: string };
}

/** The reply being shown. */
interface Run {
  readonly runId: string;
  readonly conversationId: string;
  readonly agent: string;
  /** The seq of the message it answers (to find it in the history after a reconnect); 0 if not ours. */
  readonly afterSeq: number;
  /** The index of the next chunk to print. */
  nextIndex: number;
  /** Chunks that came before their turn, by index. */
  readonly early: Map<number, string>;
  /** The text printed so far. */
  printed: string;
  /** Catching up after a reconnect: chunks wait in `early`. */
  resyncing: boolean;
  abortRequested: boolean;
  /** Printed (a reply already running in a conversation continued by a one-shot send is only waited for). */
  readonly shown: boolean;
  ended: boolean;
  readonly done: Promise<RunEnd>;
  finish(end: RunEnd): void;
}

type ChunkEvent = EventData<"chat.chunk">;

/** A message as `--json` prints it. */
function jsonMessage(conversationId: string, m: ConversationMessage) {
  return {
    conversationId,
    seq: m.seq,
    direction: m.direction,
    messageId: m.messageId,
    ...(m.sender === undefined ? {} : { sender: m.sender }),
    text: m.content.text ?? "",
    timestamp: m.timestamp,
  };
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/**
 * `openclaw chat [--agent a] [--conversation id] [-m text | --interactive] [--json]`.
 *
 * @param ctx - The command's context.
 * @returns The exit code.
 */
export async function chat(ctx: CommandContext): Promise<number> {
  const { flags } = ctx;
  if (ctx.args.length > 0)
    throw new UsageError(
      `unexpected argument "${ctx.args[0]}": send one message with -m "…", or pipe it on stdin`,
    );
  const message = str(flags.message);
  const interactive = flags.interactive === true || (message === undefined && process.stdin.isTTY === true);
  if (message !== undefined && flags.interactive === true)
    throw new UsageError("-m sends one message and exits; it cannot be used with --interactive");
  // Ctrl-C before the session runs (reading stdin, connecting) exits: a pipe cut short by Ctrl-C
  // is not sent.
  let interrupted = false;
  const stopped = ctx.interrupted.then((): typeof INTERRUPTED => {
    interrupted = true;
    return INTERRUPTED;
  });
  let text: string | undefined;
  if (!interactive) {
    const read = message ?? (await Promise.race([readStdin(), stopped]));
    if (read === INTERRUPTED || interrupted) return EXIT_INTERRUPTED;
    text = read;
    if (text.trim() === "")
      throw new UsageError(
        message === undefined ? "nothing to send: stdin was empty" : "nothing to send: -m is empty",
      );
    if (text.length > CHAT_DEFAULTS.maxTextLength)
      throw new UsageError(
        `the message is ${text.length} characters long; the most is ${CHAT_DEFAULTS.maxTextLength}`,
      );
  }
  const conversation = str(flags.conversation);
  if (conversation === "") throw new UsageError("--conversation needs a conversation id");
  const agent = str(flags.agent);
  if (agent === "") throw new UsageError("--agent needs an agent name");

  const client = await Promise.race([ctx.client(), stopped]);
  if (client === INTERRUPTED || interrupted) return EXIT_INTERRUPTED;
  const session = new ChatSession(ctx, client, { interactive, conversationId: conversation, agent });
  try {
    return await session.start(text);
  } finally {
    session.dispose();
  }
}

/** Reads all of stdin as text (at most a little over the message limit). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    bytes += chunk.length;
    // Up to 4 bytes per character: past this it is too long whatever it holds.
    if (bytes > CHAT_DEFAULTS.maxTextLength * 4)
      throw new UsageError(
        `stdin holds more than the most a message may have (${CHAT_DEFAULTS.maxTextLength} characters)`,
      );
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

class ChatSession {
  readonly #ctx: CommandContext;
  readonly #client: GatewayClient;
  readonly #interactive: boolean;
  readonly #json: boolean;
  #conversationId: string | undefined;
  #agent: string | undefined;
  #run: Run | undefined;
  /** A `chat.send` is waiting for its answer: events of its run come before it. */
  #sending = false;
  /** A line or the start is being handled: no prompt until it is done. */
  #busy = false;
  /** Events that came while a send waited for its answer. */
  #pendingEvents: Array<{
    chunk?: ChunkEvent;
    run?: ChatRunEvent;
    update?: EventData<"conversation.updated">;
  }> = [];
  /** Ctrl-C came while a send waited for its answer. */
  #abortOnStart = false;
  /** Messages of this conversation from elsewhere, held while our send or reply is shown. */
  #held: ConversationMessage[] = [];
  /** Message ids of our own messages and the replies we showed. */
  readonly #own = new Set<string>();
  #rl: Interface | undefined;
  #exit!: (code: number) => void;
  readonly #exited: Promise<number>;
  readonly #disposers: Array<() => void> = [];

  constructor(
    ctx: CommandContext,
    client: GatewayClient,
    options: { interactive: boolean; conversationId: string | undefined; agent: string | undefined },
  ) {
    this.#ctx = ctx;
    this.#client = client;
    this.#interactive = options.interactive;
    this.#json = ctx.out.json;
    this.#conversationId = options.conversationId;
    this.#agent = options.agent;
    this.#exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
    this.#disposers.push(
      client.on("chat.chunk", (chunk) => this.#onChunk(chunk)),
      client.on("chat.run", (run) => this.#onRun(run)),
      client.on("conversation.updated", (update) => this.#onUpdated(update)),
      client.on("disconnected", ({ willReconnect }) => {
        this.#emit({ type: "connection", state: "lost", willReconnect }, () =>
          this.#note(`(connection lost${willReconnect ? "; reconnecting…" : ""})`),
        );
        if (this.#run !== undefined) this.#run.resyncing = true;
        if (!willReconnect) {
          this.#ctx.out.error("the connection to the gateway is lost and could not be made again", {
            code: "CONNECTION_CLOSED",
          });
          this.#exit(EXIT.ERROR);
        }
      }),
      client.on("connected", () => {
        this.#emit({ type: "connection", state: "restored" }, () => this.#note("(reconnected)"));
        void this.#resubscribe();
      }),
    );
    const onSignal = () => this.#interrupt();
    process.on("SIGINT", onSignal);
    this.#disposers.push(() => process.off("SIGINT", onSignal));
  }

  /** Runs the session: one message, or the prompt loop. Resolves with the exit code. */
  async start(text: string | undefined): Promise<number> {
    return Promise.race([this.#exited, this.#main(text)]);
  }

  dispose(): void {
    for (const dispose of this.#disposers.splice(0)) dispose();
    this.#rl?.close();
  }

  async #main(text: string | undefined): Promise<number> {
    this.#busy = true;
    if (this.#interactive && !this.#json)
      this.#say(
        this.#ctx.out.color.dim(
          `Chatting through the gateway's webchat channel${this.#agent === undefined ? "" : ` with ${this.#agent}`}. /help for commands, Ctrl-D to quit.`,
        ),
      );
    if (this.#conversationId !== undefined) await this.#open(this.#conversationId);
    else if (this.#interactive)
      this.#emit({ type: "conversation", conversationId: null, new: true }, () =>
        this.#say(this.#ctx.out.color.dim("(new conversation)")),
      );
    if (this.#interactive) return this.#repl();
    let end: RunEnd | undefined;
    try {
      end = await this.#send(text ?? "");
    } catch (error) {
      // Connection and permission errors get main's hints; the gateway's answers are told here.
      if (!isProtocolError(error) || PASSED_ON.has(error.code)) throw error;
      this.#report(error);
      return EXIT.ERROR;
    }
    if (end === undefined || end.status === "completed") return EXIT.OK;
    if (end.status === "aborted") {
      if (this.#lastAbortRequested) return EXIT_INTERRUPTED;
      this.#ctx.out.error("the reply was cancelled (by another client)");
      return EXIT.ERROR;
    }
    return EXIT.ERROR;
  }

  #lastAbortRequested = false;

  // ---- the prompt loop ----

  async #repl(): Promise<number> {
    const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal,
      prompt: this.#json ? "" : "> ",
      historySize: 1000,
    });
    this.#rl = rl;
    rl.on("SIGINT", () => this.#interrupt());
    this.#busy = false;
    this.#prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === "") {
        this.#prompt();
        continue;
      }
      this.#busy = true;
      if (line.startsWith("/") && !line.startsWith("//")) {
        const code = await this.#command(line);
        if (code !== undefined) return code;
      } else {
        // `//text` sends "/text".
        const message = line.startsWith("//") ? line.slice(1) : raw;
        if (message.length > CHAT_DEFAULTS.maxTextLength)
          this.#ctx.out.error(
            `the message is ${message.length} characters long; the most is ${CHAT_DEFAULTS.maxTextLength}`,
          );
        else {
          try {
            await this.#send(message);
          } catch (error) {
            this.#report(error);
          }
        }
      }
      this.#busy = false;
      this.#prompt();
    }
    return EXIT.OK;
  }

  #prompt(): void {
    if (this.#rl?.terminal) this.#rl.prompt();
  }

  /** Runs a slash command; resolves with an exit code to stop. */
  async #command(line: string): Promise<number | undefined> {
    const [name = "", ...rest] = line.slice(1).split(/\s+/);
    const arg = rest.join(" ");
    const c = this.#ctx.out.color;
    try {
      switch (name) {
        case "quit":
        case "exit":
        case "q":
          return EXIT.OK;
        case "help":
        case "?":
          this.#emit({ type: "help" }, () => this.#say(HELP));
          return undefined;
        case "new":
          await this.#leave();
          this.#conversationId = undefined;
          this.#emit({ type: "conversation", conversationId: null, new: true }, () =>
            this.#say(c.dim("(new conversation)")),
          );
          return undefined;
        case "agent":
          if (arg === "") {
            const agents = await this.#agents();
            this.#emit({ type: "agent", agent: this.#agent ?? null, agents }, () =>
              this.#say(
                `agent: ${this.#agent ?? "the channel's default"}${agents.length === 0 ? "" : ` (agents: ${agents.join(", ")})`}`,
              ),
            );
          } else {
            this.#agent = arg;
            this.#emit({ type: "agent", agent: arg }, () =>
              this.#say(c.dim(`(agent ${arg} answers from the next message on)`)),
            );
          }
          return undefined;
        case "history": {
          const count = arg === "" ? CHAT_DEFAULTS.historyCount : Number(arg);
          if (!Number.isInteger(count) || count < 1 || count > CHAT_DEFAULTS.maxHistoryCount) {
            this.#ctx.out.error(`/history takes a count from 1 to ${CHAT_DEFAULTS.maxHistoryCount}`);
            return undefined;
          }
          await this.#history(count);
          return undefined;
        }
        default:
          this.#ctx.out.error(
            `unknown command /${name}: /help lists the commands (start with // to send a /)`,
          );
          return undefined;
      }
    } catch (error) {
      this.#report(error);
      return undefined;
    }
  }

  /** Agent names from the gateway's config, or none when `config.get` is refused. */
  async #agents(): Promise<string[]> {
    try {
      const { config } = await this.#client.request("config.get", {});
      const list = (config as { agents?: { list?: Record<string, unknown> } }).agents?.list ?? {};
      return [...new Set(["echo", ...Object.keys(list)])].sort();
    } catch {
      return [];
    }
  }

  async #history(count: number): Promise<void> {
    const conversationId = this.#conversationId;
    if (conversationId === undefined) {
      this.#emit({ type: "history", conversationId: null, messages: [] }, () =>
        this.#say(this.#ctx.out.color.dim("(no messages yet)")),
      );
      return;
    }
    // The history reads oldest first, page by page: keep the last `count`.
    let recent: ConversationMessage[] = [];
    let since = 0;
    for (;;) {
      const page = await this.#client.request("conversation.history", {
        channel: WEBCHAT_CHANNEL,
        conversationId,
        since,
        limit: CHAT_DEFAULTS.maxHistoryCount,
      });
      recent = [...recent, ...page.messages].slice(-count);
      if (!page.hasMore || page.messages.length === 0) break;
      since = page.cursor;
    }
    this.#emit(
      { type: "history", conversationId, messages: recent.map((m) => jsonMessage(conversationId, m)) },
      () =>
        this.#say(
          recent.length === 0
            ? this.#ctx.out.color.dim("(no messages yet)")
            : recent.map((m) => this.#format(m)).join("\n"),
        ),
    );
  }

  #format(m: ConversationMessage): string {
    const c = this.#ctx.out.color;
    const who = m.direction === "in" ? (m.sender?.name ?? m.sender?.id ?? "user") : "reply";
    return `${c.dim(`#${m.seq}`)} ${m.direction === "in" ? c.cyan(who) : c.green(who)}: ${m.content.text ?? "(no text)"}`;
  }

  // ---- conversations ----

  /** Follows an existing conversation; shows (and waits for) a reply already running in it. */
  async #open(conversationId: string): Promise<void> {
    const { running } = await this.#client.request("chat.subscribe", { conversationId });
    this.#conversationId = conversationId;
    this.#emit({ type: "conversation", conversationId, new: false }, () =>
      this.#interactive
        ? this.#say(this.#ctx.out.color.dim(`(conversation ${conversationId})`))
        : process.stderr.write(`conversation: ${conversationId}\n`),
    );
    if (running === null) return;
    const run = this.#newRun(
      running.runId,
      conversationId,
      running.agent,
      0,
      this.#interactive || this.#json,
    );
    run.printed = running.text;
    run.nextIndex = running.nextIndex;
    this.#emit(
      {
        type: "run",
        conversationId,
        runId: running.runId,
        agent: running.agent,
        status: "running",
        text: running.text,
      },
      () => {
        if (this.#interactive) process.stdout.write(running.text);
      },
    );
    this.#run = run;
    this.#drain(run);
    await this.#waitRun(run);
  }

  /** Stops following the current conversation. */
  async #leave(): Promise<void> {
    const conversationId = this.#conversationId;
    if (conversationId === undefined) return;
    await this.#client.request("chat.unsubscribe", { conversationId }).catch(() => undefined);
  }

  /** After a reconnect: follow the conversation again and catch up with the reply in progress. */
  async #resubscribe(): Promise<void> {
    const conversationId = this.#conversationId;
    // A send waiting for its answer catches up itself once it has one.
    if (conversationId === undefined || this.#sending) return;
    try {
      const run = this.#run;
      if (run !== undefined) await this.#resync(run);
      else await this.#client.request("chat.subscribe", { conversationId });
    } catch (error) {
      this.#report(error);
    }
  }

  // ---- sending and replies ----

  /** Sends one message and shows its reply; resolves once the reply has ended. */
  async #send(text: string): Promise<RunEnd | undefined> {
    const params = {
      ...(this.#conversationId === undefined ? {} : { conversationId: this.#conversationId }),
      ...(this.#agent === undefined ? {} : { agent: this.#agent }),
      text,
      idempotencyKey: randomUUID(),
    };
    this.#sending = true;
    this.#pendingEvents = [];
    this.#abortOnStart = false;
    this.#lastAbortRequested = false;
    let result: MethodResult<"chat.send">;
    let retried = false;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          result = await this.#client.request("chat.send", params);
          break;
        } catch (error) {
          if (
            !retryable(error) ||
            attempt >= CHAT_DEFAULTS.maxSendAttempts ||
            this.#client.state === "closed"
          )
            throw error;
          retried = true;
        }
      }
    } catch (error) {
      this.#sending = false;
      this.#flushHeld();
      throw error;
    }
    this.#sending = false;
    const isNew = this.#conversationId !== result.conversationId;
    this.#conversationId = result.conversationId;
    this.#own.add(result.messageId);
    if (isNew)
      this.#emit({ type: "conversation", conversationId: result.conversationId, new: true }, () =>
        this.#interactive
          ? this.#say(
              this.#ctx.out.color.dim(
                `(conversation ${result.conversationId}; continue it later with --conversation ${result.conversationId})`,
              ),
            )
          : process.stderr.write(`conversation: ${result.conversationId}\n`),
      );
    this.#emit({ type: "sent", ...result, text }, () => undefined);
    // What came before the answer, in order: our message, and maybe the whole reply.
    const events = this.#pendingEvents;
    this.#pendingEvents = [];
    if (result.runId === null || result.agent === null) {
      for (const event of events) if (event.update !== undefined) this.#onUpdated(event.update);
      this.#emit(
        { type: "run", conversationId: result.conversationId, runId: null, agent: null, status: "none" },
        () => this.#note("(no agent answers in this conversation)"),
      );
      this.#flushHeld();
      return undefined;
    }
    const run = this.#newRun(result.runId, result.conversationId, result.agent, result.seq, true);
    this.#run = run;
    for (const event of events) {
      if (event.update !== undefined) this.#onUpdated(event.update);
      if (event.chunk?.runId === run.runId) this.#onChunk(event.chunk);
      if (event.run?.runId === run.runId) this.#onRun(event.run);
    }
    if (this.#abortOnStart) this.#abort(run);
    // Sent again on a new connection: that connection may not follow the chat yet.
    if (retried && !run.ended) await this.#resync(run).catch((error: unknown) => this.#report(error));
    return this.#waitRun(run);
  }

  async #waitRun(run: Run): Promise<RunEnd> {
    const end = await run.done;
    this.#lastAbortRequested = run.abortRequested;
    this.#flushHeld();
    return end;
  }

  #newRun(runId: string, conversationId: string, agent: string, afterSeq: number, shown: boolean): Run {
    let finish!: (end: RunEnd) => void;
    const done = new Promise<RunEnd>((resolve) => {
      finish = resolve;
    });
    const run: Run = {
      runId,
      conversationId,
      agent,
      afterSeq,
      nextIndex: 0,
      early: new Map(),
      printed: "",
      resyncing: false,
      abortRequested: false,
      shown,
      ended: false,
      done,
      finish: (end) => {
        if (run.ended) return;
        run.ended = true;
        if (this.#run === run) this.#run = undefined;
        if (end.messageId !== undefined) this.#own.add(end.messageId);
        if (run.shown) this.#showEnd(run, end);
        finish(end);
      },
    };
    return run;
  }

  #onChunk(chunk: ChunkEvent): void {
    if (this.#sending && this.#run === undefined) {
      this.#pendingEvents.push({ chunk });
      return;
    }
    const run = this.#run;
    if (run === undefined || chunk.runId !== run.runId || chunk.index < run.nextIndex) return;
    run.early.set(chunk.index, chunk.delta);
    if (!run.resyncing) this.#drain(run);
  }

  /** Prints the chunks that are next in line. */
  #drain(run: Run): void {
    for (;;) {
      const delta = run.early.get(run.nextIndex);
      if (delta === undefined) break;
      run.early.delete(run.nextIndex);
      const index = run.nextIndex++;
      run.printed += delta;
      if (run.shown)
        this.#emit(
          { type: "chunk", conversationId: run.conversationId, runId: run.runId, index, delta },
          () => process.stdout.write(delta),
        );
    }
    for (const index of run.early.keys()) if (index < run.nextIndex) run.early.delete(index);
  }

  #onRun(event: ChatRunEvent): void {
    if (this.#sending && this.#run === undefined) {
      this.#pendingEvents.push({ run: event });
      return;
    }
    const run = this.#run;
    if (run === undefined || event.runId !== run.runId) return;
    if (event.status === "started") {
      this.#emit({ type: "run", ...event }, () => undefined);
      return;
    }
    // The last chunks were sent before the run's end.
    this.#drain(run);
    run.finish({
      status: event.status,
      ...(event.messageId === undefined ? {} : { messageId: event.messageId }),
      ...(event.error === undefined ? {} : { error: event.error }),
    });
  }

  /** Catches up with `run` after a reconnect: the text so far, or its recorded end. */
  async #resync(run: Run): Promise<void> {
    run.resyncing = true;
    try {
      const { running } = await this.#client.request("chat.subscribe", {
        conversationId: run.conversationId,
      });
      if (run.ended) return;
      if (running !== null && running.runId === run.runId) {
        if (running.nextIndex > run.nextIndex) {
          const missing = running.text.slice(run.printed.length);
          if (missing !== "" && run.shown)
            this.#emit(
              {
                type: "chunk",
                conversationId: run.conversationId,
                runId: run.runId,
                index: running.nextIndex - 1,
                delta: missing,
                resync: true,
              },
              () => process.stdout.write(missing),
            );
          run.printed = running.text;
          run.nextIndex = running.nextIndex;
        }
        return;
      }
      // It ended while the connection was down: its reply is in the history.
      const { messages } = await this.#client.request("conversation.history", {
        channel: WEBCHAT_CHANNEL,
        conversationId: run.conversationId,
        since: run.afterSeq,
        limit: 50,
      });
      if (run.ended) return;
      const reply = messages.find((m) => m.direction === "out" && !this.#own.has(m.messageId));
      if (reply === undefined) {
        run.finish({
          status: "failed",
          error: {
            code: "CONNECTION_CLOSED",
            message: "the connection was lost while the reply ran, and no reply was recorded",
          },
        });
        return;
      }
      const text = reply.content.text ?? "";
      const missing = text.startsWith(run.printed) ? text.slice(run.printed.length) : `\n${text}`;
      if (missing !== "" && run.shown)
        this.#emit(
          {
            type: "chunk",
            conversationId: run.conversationId,
            runId: run.runId,
            index: run.nextIndex,
            delta: missing,
            resync: true,
          },
          () => process.stdout.write(missing),
        );
      run.printed = text;
      run.finish({ status: run.abortRequested ? "aborted" : "completed", messageId: reply.messageId });
    } finally {
      run.resyncing = false;
      if (!run.ended) this.#drain(run);
    }
  }

  #showEnd(run: Run, end: RunEnd): void {
    this.#emit(
      { type: "run", conversationId: run.conversationId, runId: run.runId, agent: run.agent, ...end },
      () => {
        const newline = run.printed === "" || run.printed.endsWith("\n") ? "" : "\n";
        if (newline !== "" && (this.#interactive || end.status === "completed" || run.printed !== ""))
          process.stdout.write(newline);
        if (end.status === "aborted") {
          if (this.#interactive) this.#say(this.#ctx.out.color.yellow("(cancelled)"));
          else process.stderr.write("(cancelled)\n");
        } else if (end.status === "failed") {
          const error = end.error ?? { code: "ERROR", message: "the reply failed" };
          this.#ctx.out.error(`${error.code}: ${error.message}`);
        }
      },
    );
    if (this.#json && end.status === "failed") {
      const error = end.error ?? { code: "ERROR", message: "the reply failed" };
      this.#ctx.out.error(`${error.code}: ${error.message}`, { code: error.code });
    }
  }

  // ---- Ctrl-C ----

  #interrupt(): void {
    const run = this.#run;
    if (run !== undefined) {
      if (run.abortRequested) {
        this.#exit(EXIT_INTERRUPTED);
        return;
      }
      this.#abort(run);
      return;
    }
    if (this.#sending) {
      if (this.#abortOnStart) this.#exit(EXIT_INTERRUPTED);
      else this.#abortOnStart = true;
      return;
    }
    // Idle.
    if (!this.#interactive) {
      this.#exit(EXIT_INTERRUPTED);
      return;
    }
    const rl = this.#rl;
    if (rl?.terminal && rl.line !== "") {
      // Ctrl-C on a typed line clears it, as shells do.
      rl.write(null, { ctrl: true, name: "e" });
      rl.write(null, { ctrl: true, name: "u" });
      return;
    }
    if (rl?.terminal === true) process.stdout.write("\n");
    this.#exit(EXIT.OK);
  }

  #abort(run: Run): void {
    run.abortRequested = true;
    this.#client
      .request("chat.abort", { conversationId: run.conversationId, runId: run.runId })
      .then((result) => {
        // Nothing was running any more: the run's end is on its way, or was missed in a reconnect.
        if (!result.aborted && !run.ended && !run.resyncing) void this.#resync(run).catch(() => undefined);
      })
      .catch((error: unknown) => this.#report(error));
  }

  // ---- messages from elsewhere ----

  #onUpdated(update: EventData<"conversation.updated">): void {
    if (this.#sending) {
      this.#pendingEvents.push({ update });
      return;
    }
    const { conversation, message } = update;
    if (
      message === undefined ||
      conversation.channel !== WEBCHAT_CHANNEL ||
      conversation.conversationId !== this.#conversationId
    )
      return;
    if (this.#json) {
      this.#emit({ type: "message", ...jsonMessage(conversation.conversationId, message) }, () => undefined);
      return;
    }
    // Our own message and the reply we stream come this way too: decide once they are known.
    if (this.#sending || this.#run !== undefined) this.#held.push(message);
    else this.#showMessage(message);
  }

  #flushHeld(): void {
    const held = this.#held;
    this.#held = [];
    for (const message of held) this.#showMessage(message);
  }

  #showMessage(message: ConversationMessage): void {
    if (this.#own.has(message.messageId) || !this.#interactive) return;
    this.#say(this.#format(message));
  }

  // ---- output ----

  /** `--json`: one line on stdout; otherwise `human()`. */
  #emit(value: Record<string, unknown>, human: () => void): void {
    if (this.#json) process.stdout.write(`${JSON.stringify(value)}\n`);
    else human();
  }

  /** A line on stdout, above the prompt when one is shown. */
  #say(line: string): void {
    const rl = this.#rl;
    const idle = rl?.terminal === true && !this.#busy;
    if (idle) process.stdout.write("\r\u001b[K");
    process.stdout.write(`${line}\n`);
    if (idle) rl?.prompt(true);
  }

  /** A status note: stdout in the interactive session, stderr otherwise. */
  #note(line: string): void {
    if (this.#interactive) this.#say(this.#ctx.out.color.dim(line));
    else process.stderr.write(`${line}\n`);
  }

  #report(error: unknown): void {
    if (isProtocolError(error)) {
      const details = (error.details ?? {}) as { reason?: string; agents?: string[] };
      const extra =
        details.reason === "unknown_agent" && Array.isArray(details.agents)
          ? ` (agents: ${details.agents.join(", ")})`
          : "";
      this.#ctx.out.error(`${error.code}: ${error.message}${extra}`, {
        code: error.code,
        details: error.details,
      });
    } else this.#ctx.out.error(error instanceof Error ? error.message : String(error));
  }
}

/** Errors `main` explains (with what to do), rather than the chat. */
const PASSED_ON = new Set(["UNAUTHORIZED", "FORBIDDEN", "CONNECTION_CLOSED", "TIMEOUT"]);

/** A `chat.send` that may not have reached the gateway: sent again with the same key. */
function retryable(error: unknown): boolean {
  if (!(error instanceof ProtocolError)) return false;
  const reason = (error.details as { reason?: string } | undefined)?.reason;
  return (
    (error.code === "CONNECTION_CLOSED" && reason === "connection_lost") ||
    (error.code === "TIMEOUT" && reason === "request_timeout")
  );
}

const HELP = `Type a message and press Enter; the reply streams below. Ctrl-C stops a reply (twice: quit).
  /new            start a new conversation
  /agent [NAME]   switch the agent that replies (without NAME: show it and the agents)
  /history [N]    the conversation's last N messages (default ${CHAT_DEFAULTS.historyCount})
  /help           this help
  /quit           leave (also Ctrl-D, or Ctrl-C at an empty prompt)
Start a line with // to send a message that begins with /.`;

/** `openclaw chat --help`. */
export const CHAT_USAGE = `openclaw chat [--agent a] [--conversation id] [-m text | --interactive] [--json]

Chat with the gateway's agents through its built-in webchat channel (client "openclaw-cli"): the
same conversations as the control UI's Chat view.

  (stdin a terminal)   a prompt: each line is one message, the reply streams below
  -m, --message text   send one message, print the reply, exit
  (stdin piped)        all of stdin is one message: send it, print the reply, exit
  -i, --interactive    the prompt even when stdin is not a terminal (one message per line)
  --agent name         the agent that replies (default: the webchat channel's agent)
  --conversation id    continue a conversation (its id is printed when a new one starts)
  --json               one JSON object per line for every event (see the README)

In the prompt: /new, /agent [NAME], /history [N], /help, /quit; Ctrl-C stops a reply (a second
Ctrl-C before it has stopped exits with 130); Ctrl-C at an empty prompt, Ctrl-D and /quit exit 0.
One message: exit 0 when the reply completed, 1 when it failed, 130 on Ctrl-C.
`;
