import { join } from "node:path";
import type { ConversationMessage, ConversationSummary, MessageContent, Sender } from "@openclaw/protocol";
import { readJsonFile, writeJsonFile } from "./files";

interface Conversation {
  summary: ConversationSummary;
  messages: ConversationMessage[];
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

/**
 * Conversations (per channel + conversation id) with their recent history, kept in memory and
 * written to `<stateDir>/conversations.json` atomically, at most every `flushDelayMs`. Bounded:
 * `historyLimit` messages per conversation, `maxConversations` conversations (the least recently updated is dropped).
 */
export class ConversationStore {
  readonly #conversations = new Map<string, Conversation>();
  readonly #file: string;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    stateDir: string,
    private historyLimit: number,
    private readonly maxConversations = 10_000,
    private readonly flushDelayMs = 200,
  ) {
    this.#file = join(stateDir, "conversations.json");
  }

  async load(): Promise<void> {
    const stored = await readJsonFile<{ conversations: Conversation[] }>(this.#file, { conversations: [] });
    for (const conversation of stored.conversations)
      this.#conversations.set(
        key(conversation.summary.channel, conversation.summary.conversationId),
        conversation,
      );
  }

  setHistoryLimit(limit: number): void {
    this.historyLimit = limit;
  }

  /**
   * Records a message.
   *
   * @returns The updated summary and the stored message (with its `seq`).
   */
  append(
    channel: string,
    conversationId: string,
    entry: ConversationEntry,
  ): { conversation: ConversationSummary; message: ConversationMessage } {
    const k = key(channel, conversationId);
    let conversation = this.#conversations.get(k);
    if (conversation === undefined) {
      conversation = {
        summary: { conversationId, channel, messageCount: 0, lastSeq: 0, lastMessageAt: entry.timestamp },
        messages: [],
      };
      if (this.#conversations.size >= this.maxConversations) {
        // The Map is kept in update order, so its first key is the least recently updated.
        const oldest = this.#conversations.keys().next().value;
        if (oldest !== undefined) this.#conversations.delete(oldest);
      }
    } else {
      this.#conversations.delete(k); // re-insert: Map order doubles as recency
    }
    this.#conversations.set(k, conversation);
    const summary = conversation.summary;
    if (entry.peerId !== undefined) summary.peerId = entry.peerId;
    if (entry.guildId !== undefined) summary.guildId = entry.guildId;
    summary.lastSeq += 1;
    summary.messageCount += 1;
    summary.lastMessageAt = entry.timestamp;
    const message: ConversationMessage = {
      seq: summary.lastSeq,
      direction: entry.direction,
      messageId: entry.messageId,
      content: entry.content,
      timestamp: entry.timestamp,
    };
    if (entry.sender !== undefined) message.sender = entry.sender;
    conversation.messages.push(message);
    if (conversation.messages.length > this.historyLimit)
      conversation.messages.splice(0, conversation.messages.length - this.historyLimit);
    this.#scheduleFlush();
    return { conversation: { ...summary }, message };
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
    const offset = options.cursor === undefined ? 0 : Math.max(0, Number.parseInt(options.cursor, 10) || 0);
    const limit = options.limit ?? 50;
    const page = all.slice(offset, offset + limit).map((summary) => ({ ...summary }));
    return { conversations: page, nextCursor: offset + limit < all.length ? String(offset + limit) : null };
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
    const page = newer.slice(0, limit);
    return { messages: page, cursor: page.at(-1)?.seq ?? since, hasMore: newer.length > page.length };
  }

  /** Writes pending changes now. */
  async flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushing = this.#flushing.then(() =>
      writeJsonFile(this.#file, { conversations: [...this.#conversations.values()] }),
    );
    await this.#flushing;
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.flush().catch(() => {});
    }, this.flushDelayMs);
  }
}

function key(channel: string, conversationId: string): string {
  return `${channel}\u0000${conversationId}`;
}
