import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { ConversationMessage, ConversationSummary, MessageContent, Sender } from "@openclaw/protocol";
import { RecordLog } from "@openclaw/task-queue";
import { cursorAfter, offsetOf } from "../paging";
import { readJsonFile } from "./files";

interface Conversation {
  summary: ConversationSummary;
  /** The journal's own records (not copies), oldest first. */
  messages: MessageRecord[];
}

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
 * One journal line: a message with what its conversation's summary became when it was recorded,
 * so the summaries are rebuilt from the messages alone.
 */
interface MessageRecord extends ConversationMessage {
  id: string;
  channel: string;
  conversationId: string;
  messageCount: number;
  peerId?: string;
  guildId?: string;
}

/** How many of a conversation's latest messages {@link ConversationStore.hasInbound} looks at. */
export const RECENT_INBOUND_SCAN = 1000;

/** The file earlier versions rewrote every 200 ms; read once, moved into the journal, removed. */
const LEGACY_FILE = "conversations.json";

/**
 * Conversations (per channel + conversation id) with their recent history, in memory and in a
 * journal: every message is one line of `<stateDir>/conversations.log` (a {@link RecordLog}: group
 * commit, fsync, compaction), and {@link append} resolves once its line is on disk. Bounded:
 * `historyLimit` messages per conversation, `maxConversations` conversations (the least recently
 * updated is dropped); messages that fall out are deleted from the journal too. Each message is
 * held in memory once: the conversations point at the journal's own records.
 */
export class ConversationStore {
  readonly #conversations = new Map<string, Conversation>();
  readonly #stateDir: string;
  #log: RecordLog<MessageRecord> | undefined;

  constructor(
    stateDir: string,
    private historyLimit: number,
    private readonly maxConversations = 10_000,
  ) {
    this.#stateDir = stateDir;
  }

  /** Opens the journal and rebuilds the conversations from it (importing a legacy JSON file once). */
  async load(): Promise<void> {
    const log = await RecordLog.open<MessageRecord>({ dir: this.#stateDir, name: "conversations" });
    this.#log = log;
    for (const record of log.values()) this.#restore(record);
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
          this.#restore(log.get(record.id)!);
        });
      }
      await Promise.all(writes);
      await rm(legacy, { force: true });
    }
    // A lowered historyLimit or maxConversations applies to what was stored too.
    const excess: Promise<void>[] = [];
    while (this.#conversations.size > this.maxConversations) excess.push(...this.#dropOldest());
    for (const conversation of this.#conversations.values()) excess.push(...this.#trim(conversation));
    await Promise.all(excess);
  }

  setHistoryLimit(limit: number): void {
    this.historyLimit = limit;
  }

  /**
   * Whether an inbound message with this platform id is among the conversation's last
   * {@link RECENT_INBOUND_SCAN} messages. It catches a replay that arrives before the message's id
   * reached the dedupe log, which is written right behind the history.
   */
  hasInbound(channel: string, conversationId: string, messageId: string): boolean {
    const messages = this.#conversations.get(key(channel, conversationId))?.messages;
    if (messages === undefined) return false;
    const oldest = Math.max(0, messages.length - RECENT_INBOUND_SCAN);
    for (let i = messages.length - 1; i >= oldest; i--) {
      const message = messages[i]!;
      if (message.direction === "in" && message.messageId === messageId) return true;
    }
    return false;
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
    const writes = [log.put(record)];
    // Applied as a reload applies it, to the log's own copy (held once).
    const conversation = this.#restore(log.get(record.id)!);
    while (this.#conversations.size > this.maxConversations) writes.push(...this.#dropOldest());
    writes.push(...this.#trim(conversation));
    const summary = { ...conversation.summary };
    await Promise.all(writes);
    return { conversation: summary, message };
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

  /** Waits for pending writes and closes the journal. */
  async close(): Promise<void> {
    await this.#log?.close();
  }

  /**
   * Applies one journal record to memory, in journal order: its conversation becomes the most
   * recent (Map order doubles as recency) and its summary follows the record.
   */
  #restore(record: MessageRecord): Conversation {
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
    conversation.messages.push(record);
    return conversation;
  }

  /** Drops the messages beyond `historyLimit`, oldest first. */
  #trim(conversation: Conversation): Promise<void>[] {
    const over = conversation.messages.length - this.historyLimit;
    if (over <= 0) return [];
    return conversation.messages.splice(0, over).map((message) => this.#log!.delete(message.id));
  }

  /** Drops the least recently updated conversation (the Map's first key). */
  #dropOldest(): Promise<void>[] {
    const first = this.#conversations.entries().next().value;
    if (first === undefined) return [];
    const [k, conversation] = first;
    this.#conversations.delete(k);
    return conversation.messages.map((message) => this.#log!.delete(message.id));
  }
}

function key(channel: string, conversationId: string): string {
  return `${channel}\u0000${conversationId}`;
}

function recordId(channel: string, conversationId: string, seq: number): string {
  return `${channel}\u0000${conversationId}\u0000${seq}`;
}

/** A journal record as the protocol's message (a copy: records must not change). */
function toMessage(record: MessageRecord): ConversationMessage {
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
): MessageRecord {
  const record: MessageRecord = {
    ...message,
    id: recordId(channel, conversationId, message.seq),
    channel,
    conversationId,
    messageCount,
  };
  if (where.peerId !== undefined) record.peerId = where.peerId;
  if (where.guildId !== undefined) record.guildId = where.guildId;
  return record;
}
