import { randomUUID } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { v } from "@openclaw/channel-sdk";

/** Name of the file, in the channel's `stateDir`, that holds the conversation references. */
export const CONVERSATION_REFERENCES_FILE = "conversation-references.json";

/** Schema of one stored conversation reference: what is needed to post in a conversation later. */
export const StoredReferenceSchema = v.object({
  /** The conversation id without any `;messageid=` thread suffix. */
  conversationId: v.pipe(v.string(), v.minLength(1)),
  /** `personal`, `groupChat` or `channel`. */
  conversationType: v.optional(v.string()),
  /** The Bot Connector base URL of this conversation (the activity's `serviceUrl`). */
  serviceUrl: v.pipe(v.string(), v.url()),
  tenantId: v.optional(v.string()),
  /** The bot's account in this conversation (`28:<app id>`). */
  botId: v.pipe(v.string(), v.minLength(1)),
  botName: v.optional(v.string()),
  /** For personal chats: the user the conversation is with. */
  userId: v.optional(v.string()),
  /** For personal chats: that user's Entra (AAD) object id. */
  userAadObjectId: v.optional(v.string()),
  /** The team a channel belongs to. */
  teamId: v.optional(v.string()),
  /** When the bot last heard from this conversation (ms since the epoch). */
  lastSeen: v.number(),
});

/** One stored conversation reference. */
export type StoredReference = v.InferOutput<typeof StoredReferenceSchema>;

/** Schema of a user the bot has seen (in any conversation), for proactive 1:1 messages. */
export const KnownUserSchema = v.object({
  /** The user's Teams id (`29:…`). */
  id: v.pipe(v.string(), v.minLength(1)),
  aadObjectId: v.optional(v.string()),
  name: v.optional(v.string()),
  tenantId: v.optional(v.string()),
  serviceUrl: v.pipe(v.string(), v.url()),
  botId: v.pipe(v.string(), v.minLength(1)),
  /** The user's personal chat with the bot, once known. */
  personalConversationId: v.optional(v.string()),
  lastSeen: v.number(),
});

/** A user the bot has seen. */
export type KnownUser = v.InferOutput<typeof KnownUserSchema>;

const FileSchema = v.object({
  version: v.literal(1),
  conversations: v.array(StoredReferenceSchema),
  users: v.array(KnownUserSchema),
});

/** Options of {@link ConversationReferenceStore}. */
export interface ConversationReferenceStoreOptions {
  /**
   * Directory of the references file (created with mode 0700; the file is written 0600). Without
   * it the references live in memory only and are lost on restart.
   */
  dir?: string | undefined;
  /** The most conversations (and, separately, users) kept; the least recently seen go first. */
  maxEntries: number;
}

/**
 * Where the plugin remembers the conversations and users it has seen, so that it can post to them
 * later (proactive messages) and after a restart. Bounded (least recently seen evicted first);
 * persisted atomically (temp file + rename) as JSON when a directory is given.
 */
export class ConversationReferenceStore {
  readonly #conversations = new Map<string, StoredReference>();
  readonly #users = new Map<string, KnownUser>();
  /** AAD object id → Teams user id. */
  readonly #byAadObjectId = new Map<string, string>();
  readonly #dir: string | undefined;
  readonly #maxEntries: number;
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(options: ConversationReferenceStoreOptions) {
    this.#dir = options.dir;
    this.#maxEntries = options.maxEntries;
  }

  /**
   * Opens the store, reading the references file when there is one.
   *
   * @param options - Directory and bound.
   * @returns The store, and a warning when an unreadable file was set aside.
   */
  static async open(
    options: ConversationReferenceStoreOptions,
  ): Promise<{ store: ConversationReferenceStore; warning?: string }> {
    const store = new ConversationReferenceStore(options);
    if (options.dir === undefined) return { store };
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    await chmod(options.dir, 0o700);
    const path = join(options.dir, CONVERSATION_REFERENCES_FILE);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { store };
      throw error;
    }
    let parsed: v.SafeParseResult<typeof FileSchema>;
    try {
      parsed = v.safeParse(FileSchema, JSON.parse(text));
    } catch {
      parsed = v.safeParse(FileSchema, undefined);
    }
    if (!parsed.success) {
      const aside = `${path}.corrupt-${Date.now()}`;
      await rename(path, aside);
      return { store, warning: `unreadable conversation references set aside as ${aside}` };
    }
    const byAge = <T extends { lastSeen: number }>(list: T[]) =>
      [...list].sort((a, b) => a.lastSeen - b.lastSeen);
    for (const reference of byAge(parsed.output.conversations))
      store.#conversations.set(reference.conversationId, reference);
    for (const user of byAge(parsed.output.users)) store.#setUser(user);
    store.#trim();
    return { store };
  }

  /** How many conversations are known. */
  get conversationCount(): number {
    return this.#conversations.size;
  }

  /** How many users are known. */
  get userCount(): number {
    return this.#users.size;
  }

  /**
   * The reference of a conversation.
   *
   * @param conversationId - The conversation id (a `;messageid=` suffix is ignored).
   * @returns The reference, or `undefined` when the bot has not seen the conversation.
   */
  conversation(conversationId: string): StoredReference | undefined {
    return this.#conversations.get(baseConversationId(conversationId));
  }

  /**
   * A user the bot has seen.
   *
   * @param id - The Teams user id (`29:…`) or the user's Entra object id.
   * @returns The user, or `undefined`.
   */
  user(id: string): KnownUser | undefined {
    return this.#users.get(id) ?? this.#users.get(this.#byAadObjectId.get(id.toLowerCase()) ?? "");
  }

  /**
   * Records a conversation (and its sender), marking the store dirty when anything a later send
   * needs has changed (`lastSeen` alone is written with the next change: the in-memory order is
   * what eviction uses).
   *
   * @param reference - The conversation.
   * @param user - The user who spoke in it, when known.
   */
  remember(reference: StoredReference, user?: KnownUser): void {
    const previous = this.#conversations.get(reference.conversationId);
    this.#conversations.delete(reference.conversationId);
    this.#conversations.set(reference.conversationId, reference);
    if (previous === undefined || !sameReference(previous, reference)) this.#dirty = true;
    if (user !== undefined) {
      const known = this.#users.get(user.id);
      const merged: KnownUser = { ...known, ...user };
      if (user.personalConversationId === undefined && known?.personalConversationId !== undefined)
        merged.personalConversationId = known.personalConversationId;
      if (known === undefined || !sameUser(known, merged)) this.#dirty = true;
      this.#setUser(merged);
    }
    this.#trim();
  }

  /**
   * Writes the store to its file when it changed since the last write. Writes are serialised; the
   * file is replaced atomically (temp file + rename) with mode 0600.
   *
   * @returns Resolves once the current state is on disk (at once without a directory).
   */
  flush(): Promise<void> {
    if (this.#dir === undefined || !this.#dirty) return this.#writing;
    const dir = this.#dir;
    this.#dirty = false;
    const snapshot = JSON.stringify({
      version: 1,
      conversations: [...this.#conversations.values()],
      users: [...this.#users.values()],
    });
    const write = async () => {
      const path = join(dir, CONVERSATION_REFERENCES_FILE);
      const temp = `${path}.${randomUUID()}.tmp`;
      try {
        await writeFile(temp, snapshot, { mode: 0o600 });
        await rename(temp, path);
      } catch (error) {
        this.#dirty = true;
        await rm(temp, { force: true }).catch(() => {});
        throw error;
      }
    };
    this.#writing = this.#writing.then(write, write);
    return this.#writing;
  }

  #setUser(user: KnownUser): void {
    this.#users.delete(user.id);
    this.#users.set(user.id, user);
    if (user.aadObjectId !== undefined) this.#byAadObjectId.set(user.aadObjectId.toLowerCase(), user.id);
  }

  #trim(): void {
    for (const key of this.#conversations.keys()) {
      if (this.#conversations.size <= this.#maxEntries) break;
      this.#conversations.delete(key);
    }
    for (const [key, user] of this.#users) {
      if (this.#users.size <= this.#maxEntries) break;
      this.#users.delete(key);
      if (user.aadObjectId !== undefined) this.#byAadObjectId.delete(user.aadObjectId.toLowerCase());
    }
  }
}

/**
 * A conversation id without the `;messageid=<root>` suffix Teams adds for channel threads.
 *
 * @param conversationId - A conversation id.
 * @returns The conversation's own id.
 */
export function baseConversationId(conversationId: string): string {
  const at = conversationId.indexOf(";messageid=");
  return at === -1 ? conversationId : conversationId.slice(0, at);
}

const sameReference = (a: StoredReference, b: StoredReference): boolean =>
  a.serviceUrl === b.serviceUrl &&
  a.botId === b.botId &&
  a.tenantId === b.tenantId &&
  a.conversationType === b.conversationType &&
  a.userId === b.userId &&
  a.teamId === b.teamId;

const sameUser = (a: KnownUser, b: KnownUser): boolean =>
  a.serviceUrl === b.serviceUrl &&
  a.botId === b.botId &&
  a.tenantId === b.tenantId &&
  a.aadObjectId === b.aadObjectId &&
  a.name === b.name &&
  a.personalConversationId === b.personalConversationId;
