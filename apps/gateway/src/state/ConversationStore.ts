import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type {
  ConversationRecord,
  RecordStore,
  RecordStoreChange,
  RecordStoreFactory,
} from "@openclaw/backend";
import type { ConversationMessage, ConversationSummary, MessageContent, Sender } from "@openclaw/protocol";
import { ProtocolError } from "@openclaw/protocol";
import { RecordLog, type RecordLogStats } from "@openclaw/record-log";
import { cursorAfter, offsetOf } from "../paging";
import { FileRecordStore } from "./FileRecordStore";
import { readJsonFile } from "./files";

interface Conversation {
  summary: ConversationSummary;
  /** The journal's own records (not copies), oldest first. */
  messages: ConversationRecord[];
}

/** How much history a {@link ConversationStore} keeps (the config's `conversations` section). */
export interface ConversationLimits {
  /** Conversations kept; the least recently updated one is dropped beyond it. */
  maxConversations: number;
  /** Messages kept per conversation. */
  maxMessagesPerConversation: number;
  /** Bytes of history (the messages' JSON) kept in all; the oldest messages go first beyond it. */
  maxBytes: number;
}

/** Defaults of {@link ConversationLimits}, as in the config. */
export const DEFAULT_CONVERSATION_LIMITS: Readonly<ConversationLimits> = Object.freeze({
  maxConversations: 10_000,
  maxMessagesPerConversation: 200,
  maxBytes: 32 * 1024 * 1024,
});

/** Bytes a message is counted as beyond its JSON: the record's fields and the runtime's overhead. */
const RECORD_OVERHEAD_BYTES = 256;

/** What is recorded for one message. */
export interface ConversationEntry {
  direction: "in" | "out";
  messageId: string;
  content: MessageContent;
  timestamp: number;
  sender?: Sender | undefined;
  peerId?: string | undefined;
  guildId?: string | undefined;
}

/** A recorded message and the summary of its conversation right after it. */
export interface Recorded {
  conversation: ConversationSummary;
  message: ConversationMessage;
}

/**
 * The id of an inbound message that left the history, kept in the journal for dedupe (see
 * {@link ConversationStoreOptions.inboundIds}): it replaces the message's record, so that forgetting a
 * message and remembering its id are one journal line.
 */
export interface InboundIdRecord {
  /**
   * The record id: the one of the message it replaced, or `\u0001<channel>\u0000<messageId>` once a
   * new message of a restarted conversation took that one.
   */
  id: string;
  kind: "inbound-id";
  channel: string;
  /** The platform's message id. */
  messageId: string;
  /** When the message left the history (ms since the epoch): the dedupe window counts from here. */
  at: number;
}

/** What the conversation journal holds: messages, and the ids of inbound messages that left it. */
export type HistoryRecord = ConversationRecord | InboundIdRecord;

/** How many inbound message ids a {@link ConversationStore} remembers, and how long (dedupe). */
export interface InboundIdLimits {
  /**
   * Ids remembered at most, those of the inbound messages in the history among them; beyond it the
   * ids of the messages that left the history longest ago are forgotten first (the config's
   * `delivery.maxInboundDedupeIds`, 50,000 by default).
   */
  maxIds: number;
  /**
   * How long the id of a message that left the history is remembered after it left (the config's
   * `delivery.inboundDedupeWindowMs`, 7 days by default). Ids of messages in the history are
   * remembered as long as they are there.
   */
  windowMs: number;
}

/** Options of a {@link ConversationStore} beyond its limits and its store. */
export interface ConversationStoreOptions {
  /**
   * Keep the ids of inbound messages that leave the history (trimmed, shed, dropped with their
   * conversation) in the journal, bounded by these limits (read at every append), so that
   * {@link ConversationStore.hasInbound} answers for them too, also after a restart: the gateway's
   * inbound dedupe then needs no log of its own. Applies to a store only this process writes; on a
   * shared one (cluster mode, with `putIfAbsent`) the ids of departed messages are not kept here.
   * @defaultValue not kept: `hasInbound` knows the messages in the history only
   */
  inboundIds?: (() => InboundIdLimits) | undefined;
  /**
   * The clock (ms since the epoch), for {@link InboundIdLimits.windowMs}.
   * @defaultValue `Date.now`
   */
  now?: (() => number) | undefined;
}

/** The dedupe ids file of earlier versions: read once into the journal, then removed. */
const LEGACY_SEEN_LOG = "inbound-seen";

/**
 * How many seqs one append tries in cluster mode (a store with `putIfAbsent`) before it fails: each
 * try that finds its seq taken by another instance's message moves on to the next.
 */
export const APPEND_SEQ_ATTEMPTS = 32;

/** The file earlier versions rewrote every 200 ms; read once, moved into the journal, removed. */
const LEGACY_FILE = "conversations.json";

/**
 * Conversations (per channel + conversation id) with their recent history, in memory and in a
 * {@link RecordStore} (by default a journal: every message is one line of
 * `<stateDir>/conversations.log`, with group commit, fsync and compaction), and {@link append}
 * resolves once its record is durable. Bounded by
 * {@link ConversationLimits}: messages per conversation, conversations (the least recently updated
 * is dropped) and bytes in all (the oldest messages anywhere go first), read at every append so
 * that config reloads apply; messages that fall out are deleted from the journal too. Each message
 * is held in memory once: the conversations point at the store's own records.
 *
 * On a store shared by several instances (one with `putIfAbsent` and `watch`: cluster mode), an
 * append takes its seq with a conditional put (the next free seq of the conversation across every
 * instance, so concurrent appends on two instances never overwrite each other), and the messages
 * other instances record or drop are applied here as they arrive, kept in seq order: `history` and
 * `list` are the same on every instance. A single process numbers messages from what it holds, as
 * before, and sees them at once.
 */
export class ConversationStore {
  readonly #conversations = new Map<string, Conversation>();
  readonly #stateDir: string;
  readonly #limits: () => ConversationLimits;
  readonly #openStore: RecordStoreFactory<HistoryRecord>;
  readonly #inboundIdLimits: (() => InboundIdLimits) | undefined;
  readonly #now: () => number;
  #log: RecordStore<HistoryRecord> | undefined;
  /** Whether the ids of inbound messages that leave the history are kept (set at load). */
  #keepsInboundIds = false;
  /**
   * The inbound ids known, per channel: the history's own record while the message is in the
   * history, then its {@link InboundIdRecord} (when kept).
   */
  readonly #inbound = new Map<string, Map<string, HistoryRecord>>();
  /** Entries in {@link #inbound}. */
  #inboundCount = 0;
  /** The kept ids of messages that left the history, by record id, the longest gone first. */
  readonly #departed = new Map<string, InboundIdRecord>();
  /** The messages held, least recently put first (the journal's order, without the departed ids). */
  readonly #byAge = new Set<ConversationRecord>();
  #unwatch: (() => void) | undefined;
  /**
   * Shared store only: the highest seq this instance has tried per conversation, so that its own
   * concurrent appends try distinct seqs and only other instances' appends make one try again.
   */
  readonly #tried = new Map<string, number>();
  /** The counted size of every message held. */
  #bytes = 0;

  /**
   * @param stateDir - Where `conversations.log` lives.
   * @param limits - The bounds, or a function returning the bounds in force.
   * @param openStore - Opens where the messages are kept (by default `FileRecordStore.open`:
   *   `conversations.log` in the state dir).
   * @param options - Whether inbound ids outlive their messages (dedupe), and the clock.
   */
  constructor(
    stateDir: string,
    limits: Partial<ConversationLimits> | (() => ConversationLimits) = {},
    openStore: RecordStoreFactory<HistoryRecord> = FileRecordStore.open<HistoryRecord>,
    options: ConversationStoreOptions = {},
  ) {
    this.#stateDir = stateDir;
    this.#openStore = openStore;
    this.#inboundIdLimits = options.inboundIds;
    this.#now = options.now ?? Date.now;
    this.#limits =
      typeof limits === "function" ? limits : () => ({ ...DEFAULT_CONVERSATION_LIMITS, ...limits });
  }

  /** Facts about the journal (skipped lines among them), once loaded, when the store keeps one. */
  get journal(): RecordLogStats | undefined {
    return this.#log?.journal;
  }

  /** The counted size of the history held, in bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Whether the ids of inbound messages that leave the history are kept for dedupe (the
   * `inboundIds` option, on a store only this process writes), once loaded.
   */
  get keepsInboundIds(): boolean {
    return this.#keepsInboundIds;
  }

  /** Inbound message ids {@link hasInbound} knows: in the history, and kept after it. */
  get inboundIds(): number {
    return this.#inboundCount;
  }

  /**
   * Opens the store and rebuilds the conversations from it (importing a legacy JSON file and a
   * legacy `inbound-seen.log` once).
   */
  async load(): Promise<void> {
    const log = await this.#openStore({ stateDir: this.#stateDir, name: "conversations" });
    this.#log = log;
    this.#keepsInboundIds = this.#inboundIdLimits !== undefined && log.putIfAbsent === undefined;
    const stale: Promise<void>[] = [];
    for (const record of log.values()) {
      if (!isInboundId(record)) this.#restore(record);
      else if (this.#keepsInboundIds) this.#keepDeparted(record);
      else stale.push(log.delete(record.id)); // kept by a run with journal dedupe: not used now
    }
    await Promise.all(stale);
    this.#unwatch = log.watch?.((change) =>
      this.#applyChange(change as RecordStoreChange<ConversationRecord>),
    );
    if (this.#keepsInboundIds) await this.#importSeenLog(log);
    const legacy = join(this.#stateDir, LEGACY_FILE);
    const stored = await readJsonFile<{
      conversations?: Array<{ summary: ConversationSummary; messages: ConversationMessage[] }>;
    }>(legacy, {});
    if (stored.conversations !== undefined) {
      const writes: Promise<void>[] = [];
      for (const { summary, messages } of stored.conversations) {
        const base = summary.messageCount - messages.length;
        messages.forEach((message, i) => {
          const record = toRecord(summary.channel, summary.conversationId, message, base + i + 1, summary);
          if (log.get(record.id) !== undefined) return;
          writes.push(log.put(record));
          this.#restore(log.get(record.id) as ConversationRecord);
        });
      }
      await Promise.all(writes);
      await rm(legacy, { force: true });
    }
    // Lowered limits apply to what was stored too.
    await Promise.all(this.enforceLimits());
  }

  /**
   * Reads the dedupe ids an earlier version kept in `inbound-seen.log` into the journal (those the
   * journal does not know yet, with the time they were remembered), then removes that log.
   */
  async #importSeenLog(log: RecordStore<HistoryRecord>): Promise<void> {
    if (!(await exists(join(this.#stateDir, `${LEGACY_SEEN_LOG}.log`)))) return;
    const seen = await RecordLog.open<{ id: string; at?: unknown }>({
      dir: this.#stateDir,
      name: LEGACY_SEEN_LOG,
    });
    try {
      const writes: Promise<void>[] = [];
      for (const entry of seen.values()) {
        const at = entry.id.indexOf("\u0000");
        if (at <= 0 || typeof entry.at !== "number") continue;
        const channel = entry.id.slice(0, at);
        const messageId = entry.id.slice(at + 1);
        if (this.#inbound.get(channel)?.has(messageId) === true) continue;
        const mark: InboundIdRecord = {
          id: departedId(channel, messageId),
          kind: "inbound-id",
          channel,
          messageId,
          at: entry.at,
        };
        writes.push(log.put(mark));
        this.#keepDeparted(log.get(mark.id) as InboundIdRecord);
      }
      await Promise.all(writes);
    } finally {
      await seen.close();
    }
    await rm(join(this.#stateDir, `${LEGACY_SEEN_LOG}.log`), { force: true });
  }

  /**
   * Drops what is beyond the limits in force (after a config change lowered them).
   *
   * @returns The journal deletes, resolving once they are on disk.
   */
  enforceLimits(): Promise<void>[] {
    const excess: Promise<void>[] = [];
    const limits = this.#limits();
    while (this.#conversations.size > limits.maxConversations) excess.push(...this.#dropOldest());
    for (const conversation of this.#conversations.values()) excess.push(...this.#trim(conversation, limits));
    excess.push(...this.#shed(limits));
    excess.push(...this.#expireDeparted());
    return excess;
  }

  /**
   * Whether an inbound message with this platform id was recorded on this channel: it is in the
   * history, or it left the history within the {@link InboundIdLimits} (when the `inboundIds`
   * option keeps them). A lookup in an index of the ids, kept per channel.
   *
   * @param channel - The channel.
   * @param _conversationId - The conversation (ids are unique per channel; kept for callers).
   * @param messageId - The platform's message id.
   */
  hasInbound(channel: string, _conversationId: string, messageId: string): boolean {
    return this.#inbound.get(channel)?.has(messageId) === true;
  }

  /**
   * Records a message. It is visible to {@link list} and {@link history} at once; the returned
   * promise resolves once it is on disk.
   *
   * @returns The updated summary and the stored message (with its `seq`).
   */
  async append(channel: string, conversationId: string, entry: ConversationEntry): Promise<Recorded> {
    const log = this.#log;
    if (log === undefined) throw new Error("ConversationStore.load() was not called");
    if (log.putIfAbsent !== undefined) return this.#appendShared(log, channel, conversationId, entry);
    const previous = this.#conversations.get(key(channel, conversationId))?.summary;
    const message: ConversationMessage = {
      seq: (previous?.lastSeq ?? 0) + 1,
      direction: entry.direction,
      messageId: entry.messageId,
      content: entry.content,
      timestamp: entry.timestamp,
    };
    if (entry.sender !== undefined) message.sender = entry.sender;
    const record = toRecord(channel, conversationId, message, (previous?.messageCount ?? 0) + 1, {
      peerId: entry.peerId ?? previous?.peerId,
      guildId: entry.guildId ?? previous?.guildId,
    });
    const writes: Promise<void>[] = [];
    // A restarted conversation reuses seqs: a departed id kept under this record id moves aside.
    const taken = log.get(record.id);
    if (taken !== undefined && isInboundId(taken)) writes.push(this.#moveDeparted(log, taken));
    const put = log.put(record);
    // Applied as a reload applies it, to the log's own copy (held once).
    const held = log.get(record.id) as ConversationRecord;
    // Not on disk: not in the history either, so that the platform's redelivery is taken.
    writes.push(
      put.catch((error: unknown) => {
        this.#withdraw(held);
        throw error;
      }),
    );
    const conversation = this.#restore(held);
    const limits = this.#limits();
    while (this.#conversations.size > limits.maxConversations) writes.push(...this.#dropOldest());
    writes.push(...this.#trim(conversation, limits));
    writes.push(...this.#shed(limits));
    writes.push(...this.#expireDeparted());
    const summary = { ...conversation.summary };
    await Promise.all(writes);
    return { conversation: summary, message };
  }

  /**
   * {@link append} on a shared store: takes the next seq no instance has taken (a conditional put
   * per try), then applies the record as the other instances will.
   */
  async #appendShared(
    log: RecordStore<HistoryRecord>,
    channel: string,
    conversationId: string,
    entry: ConversationEntry,
  ): Promise<Recorded> {
    const k = key(channel, conversationId);
    for (let attempt = 0; attempt < APPEND_SEQ_ATTEMPTS; attempt++) {
      const previous = this.#conversations.get(k)?.summary;
      const seq = Math.max(previous?.lastSeq ?? 0, this.#tried.get(k) ?? 0) + 1;
      this.#tried.set(k, seq);
      const message: ConversationMessage = {
        seq,
        direction: entry.direction,
        messageId: entry.messageId,
        content: entry.content,
        timestamp: entry.timestamp,
      };
      if (entry.sender !== undefined) message.sender = entry.sender;
      const count = Math.max(previous?.messageCount ?? 0, seq - 1) + 1;
      const record = toRecord(channel, conversationId, message, count, {
        peerId: entry.peerId ?? previous?.peerId,
        guildId: entry.guildId ?? previous?.guildId,
      });
      let stored: boolean;
      try {
        stored = await log.putIfAbsent!(record);
      } catch (error) {
        this.#forgetTried(k, seq);
        throw error;
      }
      if (!stored) {
        // This instance's own earlier write of this message, whose answer was lost (Redis died after
        // storing it; a retried delivery to a web chat appends it again): it is recorded already.
        const mine = await this.#ownEarlierWrite(log, record, k, seq);
        if (mine !== undefined) return mine;
        // Taken by another message (its notice brings it here): try past it.
        continue;
      }
      this.#forgetTried(k, seq);
      const conversation = this.#restore((log.get(record.id) as ConversationRecord | undefined) ?? record);
      const limits = this.#limits();
      const writes: Promise<void>[] = [];
      while (this.#conversations.size > limits.maxConversations) writes.push(...this.#dropOldest());
      writes.push(...this.#trim(conversation, limits));
      writes.push(...this.#shed(limits));
      const summary = { ...conversation.summary };
      await Promise.all(writes);
      return { conversation: summary, message };
    }
    this.#tried.delete(k);
    throw new ProtocolError("UNAVAILABLE", `no free message seq in ${APPEND_SEQ_ATTEMPTS} tries`, {
      details: { reason: "conversation_seq_contended", retryable: true },
    });
  }

  /**
   * When the seq `record` tried is taken by a message with the same id and direction (the same
   * message, stored by an earlier attempt whose answer never came), that message as recorded.
   *
   * @throws When the store cannot be read: whether the message is recorded is not known.
   */
  async #ownEarlierWrite(
    log: RecordStore<HistoryRecord>,
    record: ConversationRecord,
    k: string,
    seq: number,
  ): Promise<Recorded | undefined> {
    let taken: HistoryRecord | undefined;
    try {
      taken = await log.fetch?.(record.id);
    } catch (error) {
      this.#forgetTried(k, seq);
      throw error;
    }
    if (
      taken === undefined ||
      isInboundId(taken) ||
      taken.messageId !== record.messageId ||
      taken.direction !== record.direction
    )
      return undefined;
    this.#forgetTried(k, seq);
    const conversation = this.#restore((log.get(taken.id) as ConversationRecord | undefined) ?? taken);
    return { conversation: { ...conversation.summary }, message: toMessage(taken) };
  }

  /** Forgets the seq tried last, once no append of this instance is past it (the summary has it). */
  #forgetTried(k: string, seq: number): void {
    if (this.#tried.get(k) === seq) this.#tried.delete(k);
  }

  /** Applies a record another instance put or deleted. */
  #applyChange(change: RecordStoreChange<ConversationRecord>): void {
    if (change.kind === "put") {
      this.#restore(change.record);
      return;
    }
    const record = change.record;
    if (record === undefined) return;
    const k = key(record.channel, record.conversationId);
    const conversation = this.#conversations.get(k);
    if (conversation === undefined) return;
    const at = conversation.messages.findIndex((message) => message.id === record.id);
    if (at === -1) return;
    const [dropped] = conversation.messages.splice(at, 1);
    this.#bytes -= sizeOf(dropped!);
    this.#byAge.delete(dropped!);
    this.#unindex(dropped!);
    if (conversation.messages.length === 0) this.#conversations.delete(k);
  }

  /** Conversations, most recent first. */
  list(options: { channel?: string | undefined; limit?: number | undefined; cursor?: string | undefined }): {
    conversations: ConversationSummary[];
    nextCursor: string | null;
  } {
    const all = [...this.#conversations.values()]
      .map((c) => c.summary)
      .filter((summary) => options.channel === undefined || summary.channel === options.channel)
      .reverse();
    const offset = offsetOf(options.cursor);
    const limit = options.limit ?? 50;
    const page = all.slice(offset, offset + limit).map((summary) => ({ ...summary }));
    return { conversations: page, nextCursor: cursorAfter(offset, limit, offset + limit < all.length) };
  }

  /** Messages after `since`, oldest first; `undefined` when the conversation is unknown. */
  history(
    channel: string,
    conversationId: string,
    since = 0,
    limit = 100,
  ): { messages: ConversationMessage[]; cursor: number; hasMore: boolean } | undefined {
    const conversation = this.#conversations.get(key(channel, conversationId));
    if (conversation === undefined) return undefined;
    const newer = conversation.messages.filter((message) => message.seq > since);
    const page = newer.slice(0, limit).map(toMessage);
    return { messages: page, cursor: page.at(-1)?.seq ?? since, hasMore: newer.length > page.length };
  }

  /**
   * The message with this id in a conversation's history (either direction), newest first: how a
   * web chat delivery that was recorded by an earlier attempt is found (by its delivery's message id).
   * In cluster mode it sees what this instance's mirror holds: every instance's messages, once
   * their notices (or the reload after Redis came back) arrived.
   *
   * @returns The message, or `undefined` when the history (as held) has none with this id.
   */
  findMessage(channel: string, conversationId: string, messageId: string): ConversationMessage | undefined {
    const messages = this.#conversations.get(key(channel, conversationId))?.messages;
    if (messages === undefined) return undefined;
    for (let i = messages.length - 1; i >= 0; i--)
      if (messages[i]!.messageId === messageId) return toMessage(messages[i]!);
    return undefined;
  }

  /** The newest `count` messages, oldest first; none when the conversation is unknown. */
  recent(channel: string, conversationId: string, count: number): ConversationMessage[] {
    const conversation = this.#conversations.get(key(channel, conversationId));
    return conversation === undefined ? [] : conversation.messages.slice(-count).map(toMessage);
  }

  /** Waits for pending writes and closes the journal. */
  async close(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    await this.#log?.close();
  }

  /**
   * Applies one journal record to memory, in journal order: its conversation becomes the most
   * recent (Map order doubles as recency) and its summary follows the record. The messages stay in
   * seq order (another instance's message may arrive after a later one of this instance), and a
   * record held already (by id) replaces the one held.
   */
  #restore(record: ConversationRecord): Conversation {
    const k = key(record.channel, record.conversationId);
    let conversation = this.#conversations.get(k);
    if (conversation === undefined) {
      conversation = {
        summary: {
          conversationId: record.conversationId,
          channel: record.channel,
          messageCount: 0,
          lastSeq: 0,
          lastMessageAt: record.timestamp,
        },
        messages: [],
      };
    } else {
      this.#conversations.delete(k);
    }
    this.#conversations.set(k, conversation);
    const summary = conversation.summary;
    if (record.peerId !== undefined) summary.peerId = record.peerId;
    if (record.guildId !== undefined) summary.guildId = record.guildId;
    if (record.seq >= summary.lastSeq) {
      summary.lastSeq = record.seq;
      summary.lastMessageAt = record.timestamp;
    }
    summary.messageCount = Math.max(summary.messageCount, record.messageCount);
    const messages = conversation.messages;
    let at = messages.length;
    while (at > 0 && messages[at - 1]!.seq > record.seq) at--;
    const same = at > 0 && messages[at - 1]!.id === record.id;
    if (same) {
      const replaced = messages[at - 1]!;
      this.#bytes -= sizeOf(replaced);
      this.#byAge.delete(replaced);
      this.#unindex(replaced);
      messages[at - 1] = record;
    } else {
      messages.splice(at, 0, record);
    }
    this.#bytes += sizeOf(record);
    this.#byAge.add(record);
    if (record.direction === "in") this.#index(record.channel, record.messageId, record);
    return conversation;
  }

  /**
   * Takes back a message whose write failed (the journal has undone it in its own memory): out of
   * its conversation, the byte count and the inbound index, and the summary's counters back.
   */
  #withdraw(record: ConversationRecord): void {
    const k = key(record.channel, record.conversationId);
    const conversation = this.#conversations.get(k);
    const at = conversation?.messages.indexOf(record) ?? -1;
    if (conversation === undefined || at === -1) return; // already trimmed away
    conversation.messages.splice(at, 1);
    this.#bytes -= sizeOf(record);
    this.#byAge.delete(record);
    this.#unindex(record);
    const summary = conversation.summary;
    summary.messageCount = Math.max(0, summary.messageCount - 1);
    if (summary.lastSeq === record.seq) {
      const last = conversation.messages.at(-1);
      summary.lastSeq = last?.seq ?? record.seq - 1;
      if (last !== undefined) summary.lastMessageAt = last.timestamp;
    }
    if (conversation.messages.length === 0 && summary.messageCount === 0) this.#conversations.delete(k);
  }

  /** Drops the messages beyond `maxMessagesPerConversation`, oldest first. */
  #trim(conversation: Conversation, limits: ConversationLimits): Promise<void>[] {
    const messages = conversation.messages;
    const over = messages.length - limits.maxMessagesPerConversation;
    if (over <= 0) return [];
    // One over (each append in a full conversation): shift, which V8 does in place, not splice.
    if (over === 1) return [this.#forget(messages.shift()!)];
    return messages.splice(0, over).map((message) => this.#forget(message));
  }

  /** Drops the least recently updated conversation (the Map's first key). */
  #dropOldest(): Promise<void>[] {
    const first = this.#conversations.entries().next().value;
    if (first === undefined) return [];
    const [k, conversation] = first;
    this.#conversations.delete(k);
    return conversation.messages.map((message) => this.#forget(message));
  }

  /**
   * Drops the oldest messages anywhere until the history fits in `maxBytes`. {@link #byAge} holds
   * the messages in the order they were written, so its first is the oldest message, and the oldest
   * of its conversation.
   */
  #shed(limits: ConversationLimits): Promise<void>[] {
    const deletes: Promise<void>[] = [];
    while (this.#bytes > limits.maxBytes && this.#byAge.size > 1) {
      const oldest = this.#byAge.values().next().value;
      if (oldest === undefined) break;
      const conversation = this.#conversations.get(key(oldest.channel, oldest.conversationId));
      const at = conversation?.messages.indexOf(oldest) ?? -1;
      if (at !== -1) conversation!.messages.splice(at, 1);
      deletes.push(this.#forget(oldest));
    }
    return deletes;
  }

  /**
   * Deletes a message from the journal and from the byte count. The id of an inbound one is kept
   * (when kept at all) by an {@link InboundIdRecord} put in its place: one journal line either way.
   */
  #forget(message: ConversationRecord): Promise<void> {
    this.#bytes -= sizeOf(message);
    this.#byAge.delete(message);
    const log = this.#log!;
    if (
      message.direction === "in" &&
      this.#inbound.get(message.channel)?.get(message.messageId) === message
    ) {
      this.#unindex(message);
      if (this.#keepsInboundIds) {
        const write = log.put({
          id: message.id,
          kind: "inbound-id",
          channel: message.channel,
          messageId: message.messageId,
          at: this.#now(),
        });
        this.#keepDeparted(log.get(message.id) as InboundIdRecord);
        return write;
      }
    }
    return log.delete(message.id);
  }

  /** Adds an inbound id to the index (replacing what it held for it). */
  #index(channel: string, messageId: string, record: HistoryRecord): void {
    let ids = this.#inbound.get(channel);
    if (ids === undefined) {
      ids = new Map();
      this.#inbound.set(channel, ids);
    }
    const size = ids.size;
    ids.set(messageId, record);
    this.#inboundCount += ids.size - size;
  }

  /** Removes an inbound id from the index, if the index holds it for this record. */
  #unindex(record: HistoryRecord): void {
    if (!isInboundId(record) && record.direction !== "in") return;
    const ids = this.#inbound.get(record.channel);
    if (ids?.get(record.messageId) !== record) return;
    ids.delete(record.messageId);
    this.#inboundCount--;
    if (ids.size === 0) this.#inbound.delete(record.channel);
  }

  /** Indexes a departed message's id (the store's own record) as the youngest departed one. */
  #keepDeparted(mark: InboundIdRecord): void {
    this.#departed.delete(mark.id);
    this.#departed.set(mark.id, mark);
    const held = this.#inbound.get(mark.channel)?.get(mark.messageId);
    // A message in the history with the same id (recorded again) stays what the index points at.
    if (held === undefined || isInboundId(held)) this.#index(mark.channel, mark.messageId, mark);
  }

  /** Moves a departed id off a record id that a new message takes (a restarted conversation). */
  #moveDeparted(log: RecordStore<HistoryRecord>, mark: InboundIdRecord): Promise<void> {
    this.#departed.delete(mark.id);
    this.#unindex(mark);
    const moved: InboundIdRecord = { ...mark, id: departedId(mark.channel, mark.messageId) };
    const write = log.put(moved);
    this.#keepDeparted(log.get(moved.id) as InboundIdRecord);
    return write;
  }

  /**
   * Forgets the departed ids beyond {@link InboundIdLimits.maxIds} or older than its `windowMs`,
   * the longest gone first.
   *
   * @returns The journal deletes.
   */
  #expireDeparted(): Promise<void>[] {
    if (!this.#keepsInboundIds || this.#departed.size === 0) return [];
    const { maxIds, windowMs } = this.#inboundIdLimits!();
    const expired = this.#now() - windowMs;
    const deletes: Promise<void>[] = [];
    for (const mark of this.#departed.values()) {
      if (this.#inboundCount <= maxIds && mark.at > expired) break;
      this.#departed.delete(mark.id);
      this.#unindex(mark);
      deletes.push(this.#log!.delete(mark.id));
    }
    return deletes;
  }
}

/** Whether a journal record is a departed message's id rather than a message. */
function isInboundId(record: HistoryRecord): record is InboundIdRecord {
  return (record as Partial<InboundIdRecord>).kind === "inbound-id";
}

/** The record id a departed message's id moves to when its own is taken again. */
function departedId(channel: string, messageId: string): string {
  return `\u0001${channel}\u0000${messageId}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The size a message is counted as: its content's and sender's JSON, plus the record's overhead. */
function sizeOf(record: ConversationRecord): number {
  let size = RECORD_OVERHEAD_BYTES + record.id.length + JSON.stringify(record.content).length;
  if (record.sender !== undefined) size += JSON.stringify(record.sender).length;
  return size;
}

function key(channel: string, conversationId: string): string {
  return `${channel}\u0000${conversationId}`;
}

function recordId(channel: string, conversationId: string, seq: number): string {
  return `${channel}\u0000${conversationId}\u0000${seq}`;
}

/** A journal record as the protocol's message (a copy: records must not change). */
function toMessage(record: ConversationRecord): ConversationMessage {
  const message: ConversationMessage = {
    seq: record.seq,
    direction: record.direction,
    messageId: record.messageId,
    content: record.content,
    timestamp: record.timestamp,
  };
  if (record.sender !== undefined) message.sender = record.sender;
  return message;
}

function toRecord(
  channel: string,
  conversationId: string,
  message: ConversationMessage,
  messageCount: number,
  where: { peerId?: string | undefined; guildId?: string | undefined },
): ConversationRecord {
  // Field by field: spreading a message that got its `sender` after creation took V8's slow path
  // (several µs a message, the largest single cost of an inbound webhook in the profile).
  const record: ConversationRecord = {
    seq: message.seq,
    direction: message.direction,
    messageId: message.messageId,
    content: message.content,
    timestamp: message.timestamp,
    id: recordId(channel, conversationId, message.seq),
    channel,
    conversationId,
    messageCount,
  };
  if (message.sender !== undefined) record.sender = message.sender;
  if (where.peerId !== undefined) record.peerId = where.peerId;
  if (where.guildId !== undefined) record.guildId = where.guildId;
  return record;
}
