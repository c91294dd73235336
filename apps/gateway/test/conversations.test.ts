import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConversationStore } from "../src/state/ConversationStore";

const dirs: string[] = [];
const stores: ConversationStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const entry = (n: number, direction: "in" | "out" = "in") => ({
  direction,
  messageId: `m${n}`,
  content: { text: `t${n}` },
  timestamp: n,
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-conv-"));
  dirs.push(dir);
  return dir;
}

async function open(dir: string, historyLimit = 100, maxConversations = 10_000): Promise<ConversationStore> {
  const store = new ConversationStore(dir, { maxMessagesPerConversation: historyLimit, maxConversations });
  await store.load();
  stores.push(store);
  return store;
}

async function reopen(
  store: ConversationStore,
  dir: string,
  historyLimit = 100,
  maxConversations = 10_000,
): Promise<ConversationStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return open(dir, historyLimit, maxConversations);
}

describe("ConversationStore", () => {
  it("keeps at most maxBytes of history, dropping the oldest messages anywhere, also after a restart", async () => {
    const dir = await tempDir();
    const limits = { maxBytes: 100 * 1024, maxConversations: 10_000, maxMessagesPerConversation: 200 };
    const store = new ConversationStore(dir, limits);
    await store.load();
    stores.push(store);
    const text = "x".repeat(1000);
    for (let i = 1; i <= 1000; i++)
      await store.append("c", `chat-${i % 37}`, { ...entry(i), content: { text: `${i} ${text}` } });
    expect(store.bytes).toBeLessThanOrEqual(limits.maxBytes);
    expect(store.bytes).toBeGreaterThan(limits.maxBytes * 0.8);
    const kept = store
      .list({ limit: 100 })
      .conversations.flatMap((c) => store.history("c", c.conversationId)!.messages.map((m) => m.messageId));
    const numbers = kept.map((id) => Number(id.slice(1))).sort((a, b) => a - b);
    // The newest messages are the ones kept, without a gap.
    expect(numbers.at(-1)).toBe(1000);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 1001 - numbers.length + i));
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const again = new ConversationStore(dir, limits);
    await again.load();
    stores.push(again);
    expect(again.bytes).toBe(store.bytes);
    // A lower limit at the next start applies to what was stored.
    const smaller = { ...limits, maxBytes: 65_536 };
    await again.close();
    stores.splice(stores.indexOf(again), 1);
    const shrunk = new ConversationStore(dir, smaller);
    await shrunk.load();
    stores.push(shrunk);
    expect(shrunk.bytes).toBeLessThanOrEqual(65_536);
  });

  it("drops the least recently updated conversation beyond maxConversations, and old messages beyond historyLimit", async () => {
    const dir = await tempDir();
    const store = await open(dir, 2, 2);
    await store.append("c", "a", entry(1));
    await store.append("c", "b", entry(2));
    await store.append("c", "a", entry(3)); // "a" is now the most recent
    await store.append("c", "c", entry(4)); // over the limit: "b" goes
    expect(store.list({}).conversations.map((c) => c.conversationId)).toEqual(["c", "a"]);
    await store.append("c", "a", entry(5));
    expect(store.history("c", "a")?.messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(store.history("c", "b")).toBeUndefined();
    // The same after a restart: dropped messages and conversations stay dropped.
    const again = await reopen(store, dir, 2, 2);
    expect(again.list({}).conversations.map((c) => c.conversationId)).toEqual(["a", "c"]);
    expect(again.history("c", "a")?.messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(again.history("c", "b")).toBeUndefined();
  });

  it("has a message on disk when append resolves, and rebuilds summaries, order and senders from the journal", async () => {
    const dir = await tempDir();
    const store = await open(dir);
    const recorded = await store.append("telegram", "42", {
      ...entry(1),
      sender: { id: "u1", name: "Ada" },
      peerId: "42",
    });
    expect(await readFile(join(dir, "conversations.log"), "utf8")).toContain('"messageId":"m1"');
    expect(recorded.conversation).toMatchObject({ messageCount: 1, lastSeq: 1, peerId: "42" });
    await store.append("discord", "chan", { ...entry(2, "out"), guildId: "g1" });
    await store.append("telegram", "42", entry(3, "out"));
    const before = store.list({});
    const again = await reopen(store, dir);
    expect(again.list({})).toEqual(before);
    expect(again.list({}).conversations[0]).toMatchObject({
      channel: "telegram",
      conversationId: "42",
      messageCount: 2,
      lastSeq: 2,
      lastMessageAt: 3,
      peerId: "42",
    });
    expect(again.list({ channel: "discord" }).conversations[0]).toMatchObject({ guildId: "g1" });
    expect(again.history("telegram", "42")?.messages).toEqual([
      {
        seq: 1,
        direction: "in",
        messageId: "m1",
        content: { text: "t1" },
        timestamp: 1,
        sender: { id: "u1", name: "Ada" },
      },
      { seq: 2, direction: "out", messageId: "m3", content: { text: "t3" }, timestamp: 3 },
    ]);
    // Numbering goes on where it stopped.
    expect((await again.append("telegram", "42", entry(4))).message.seq).toBe(3);
  });

  it("keeps counting messages past the history limit across restarts", async () => {
    const dir = await tempDir();
    const store = await open(dir, 3);
    for (let n = 1; n <= 10; n++) await store.append("c", "a", entry(n));
    const again = await reopen(store, dir, 3);
    expect(again.list({}).conversations[0]).toMatchObject({ messageCount: 10, lastSeq: 10 });
    expect(again.history("c", "a")?.messages.map((m) => m.seq)).toEqual([8, 9, 10]);
    // A lower limit set while stopped applies at load, and to the journal.
    const lower = await reopen(again, dir, 1);
    expect(lower.history("c", "a")?.messages.map((m) => m.seq)).toEqual([10]);
    const raised = await reopen(lower, dir, 5);
    expect(raised.history("c", "a")?.messages.map((m) => m.seq)).toEqual([10]);
  });

  it("compacts its journal instead of growing without bound", async () => {
    const dir = await tempDir();
    const store = await open(dir, 5);
    for (let n = 1; n <= 3000; n++) await store.append("c", `conv-${n % 3}`, entry(n));
    const size = (await stat(join(dir, "conversations.log"))).size;
    // 15 live messages; without compaction the log would hold 3,000 puts and 2,985 deletes.
    expect(size).toBeLessThan(500_000);
    const again = await reopen(store, dir, 5);
    expect(again.history("c", "conv-0")?.messages.map((m) => m.messageId)).toEqual([
      "m2988",
      "m2991",
      "m2994",
      "m2997",
      "m3000",
    ]);
  });

  it("ignores a torn last line left by a crash", async () => {
    const dir = await tempDir();
    const store = await open(dir);
    await store.append("c", "a", entry(1));
    await store.close();
    stores.splice(0);
    await appendFile(join(dir, "conversations.log"), '{"op":"put","record":{"id":"c\\u0000a\\u00002","se');
    const again = await open(dir);
    expect(again.history("c", "a")?.messages.map((m) => m.messageId)).toEqual(["m1"]);
    expect((await again.append("c", "a", entry(2))).message.seq).toBe(2);
  });

  it("moves the history of the legacy conversations.json into the journal once", async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, "conversations.json"),
      JSON.stringify({
        conversations: [
          {
            summary: {
              conversationId: "a",
              channel: "c",
              messageCount: 7,
              lastSeq: 7,
              lastMessageAt: 7,
              peerId: "a",
            },
            messages: [
              { seq: 6, direction: "in", messageId: "m6", content: { text: "t6" }, timestamp: 6 },
              { seq: 7, direction: "out", messageId: "m7", content: { text: "t7" }, timestamp: 7 },
            ],
          },
        ],
      }),
    );
    const store = await open(dir);
    await expect(stat(join(dir, "conversations.json"))).rejects.toMatchObject({ code: "ENOENT" });
    const again = await reopen(store, dir);
    expect(again.list({}).conversations[0]).toMatchObject({ messageCount: 7, lastSeq: 7, peerId: "a" });
    expect(again.history("c", "a")?.messages.map((m) => m.seq)).toEqual([6, 7]);
    expect((await again.append("c", "a", entry(8))).message.seq).toBe(8);
  });

  it("finds an inbound message by its platform id, per channel", async () => {
    const store = await open(await tempDir());
    await store.append("c", "a", entry(1));
    await store.append("c", "a", entry(2, "out"));
    expect(store.hasInbound("c", "a", "m1")).toBe(true);
    expect(store.hasInbound("c", "a", "m2")).toBe(false); // outbound
    expect(store.hasInbound("c", "b", "m1")).toBe(true); // platform ids are unique per channel
    expect(store.hasInbound("other", "a", "m1")).toBe(false);
  });

  it("forgets the ids of messages that leave the history unless told to keep them", async () => {
    const dir = await tempDir();
    const store = await open(dir, 2);
    for (let i = 1; i <= 3; i++) await store.append("c", "a", entry(i));
    expect(store.keepsInboundIds).toBe(false);
    expect(store.hasInbound("c", "a", "m1")).toBe(false);
    expect(store.hasInbound("c", "a", "m3")).toBe(true);
    expect(store.inboundIds).toBe(2);
  });
});

describe("ConversationStore keeping inbound ids (dedupe)", () => {
  let clock = 1_000_000;
  const ids = { maxIds: 1000, windowMs: 60_000 };
  async function openKeeping(
    dir: string,
    limits: { maxMessagesPerConversation?: number; maxConversations?: number; maxBytes?: number } = {},
  ): Promise<ConversationStore> {
    const store = new ConversationStore(dir, { maxMessagesPerConversation: 2, ...limits }, undefined, {
      inboundIds: () => ids,
      now: () => clock,
    });
    await store.load();
    stores.push(store);
    return store;
  }
  async function reopenKeeping(
    store: ConversationStore,
    dir: string,
    limits = {},
  ): Promise<ConversationStore> {
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    return openKeeping(dir, limits);
  }
  afterEach(() => {
    clock = 1_000_000;
    ids.maxIds = 1000;
    ids.windowMs = 60_000;
  });

  it("keeps the ids of trimmed inbound messages in the journal, one line per departure, across a restart", async () => {
    const dir = await tempDir();
    let store = await openKeeping(dir);
    expect(store.keepsInboundIds).toBe(true);
    for (let i = 1; i <= 5; i++) await store.append("c", "a", entry(i));
    await store.append("c", "a", entry(6, "out"));
    expect(store.history("c", "a")?.messages.map((m) => m.messageId)).toEqual(["m5", "m6"]);
    for (let i = 1; i <= 5; i++) expect(store.hasInbound("c", "a", `m${i}`)).toBe(true);
    expect(store.hasInbound("c", "a", "m6")).toBe(false); // outbound
    expect(store.inboundIds).toBe(5);
    // 6 appends, 4 departures: each an id put in the message's place, no separate delete.
    expect(store.journal?.lines).toBe(10);
    store = await reopenKeeping(store, dir);
    for (let i = 1; i <= 5; i++) expect(store.hasInbound("c", "a", `m${i}`)).toBe(true);
    expect(store.hasInbound("c", "a", "m7")).toBe(false);
    expect(store.history("c", "a")?.messages.map((m) => m.messageId)).toEqual(["m5", "m6"]);
    expect(store.list({}).conversations).toHaveLength(1);
  });

  it("keeps the ids of dropped conversations and shed messages", async () => {
    const dir = await tempDir();
    let store = await openKeeping(dir, { maxMessagesPerConversation: 100, maxConversations: 2 });
    await store.append("c", "a", entry(1));
    await store.append("c", "b", entry(2));
    await store.append("c", "d", entry(3)); // drops conversation a
    expect(store.history("c", "a")).toBeUndefined();
    expect(store.hasInbound("c", "a", "m1")).toBe(true);
    store = await reopenKeeping(store, dir, { maxMessagesPerConversation: 100, maxBytes: 1 });
    // maxBytes sheds all but the newest message, oldest first, past the departed id at the journal's front.
    expect(store.history("c", "b")?.messages).toEqual([]);
    expect(store.history("c", "d")?.messages.map((m) => m.messageId)).toEqual(["m3"]);
    for (const id of ["m1", "m2", "m3"]) expect(store.hasInbound("c", "x", id)).toBe(true);
    await store.append("c", "e", entry(4));
    expect(store.history("c", "d")?.messages ?? []).toEqual([]);
    expect(store.history("c", "e")?.messages.map((m) => m.messageId)).toEqual(["m4"]);
    store = await reopenKeeping(store, dir, { maxMessagesPerConversation: 100, maxBytes: 1 });
    for (const id of ["m1", "m2", "m3", "m4"]) expect(store.hasInbound("c", "x", id)).toBe(true);
  });

  it("forgets departed ids beyond maxIds and after windowMs, the longest gone first, also on disk", async () => {
    const dir = await tempDir();
    let store = await openKeeping(dir);
    ids.maxIds = 4;
    for (let i = 1; i <= 6; i++) {
      clock += 1000;
      await store.append("c", "a", entry(i));
    }
    // m5 and m6 in the history, m3 and m4 departed, m1 and m2 forgotten (beyond 4 ids).
    expect([1, 2, 3, 4, 5, 6].map((i) => store.hasInbound("c", "a", `m${i}`))).toEqual([
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
    expect(store.inboundIds).toBe(4);
    store = await reopenKeeping(store, dir);
    expect(store.inboundIds).toBe(4);
    expect(store.hasInbound("c", "a", "m2")).toBe(false);
    expect(store.hasInbound("c", "a", "m3")).toBe(true);
    // m3 left at 1,005,000 (when m5 came), m4 at 1,006,000: a window of 60 s from there.
    ids.maxIds = 1000;
    clock = 1_005_000 + 60_000;
    await store.append("c", "b", { ...entry(7, "out") });
    expect(store.hasInbound("c", "a", "m3")).toBe(false);
    expect(store.hasInbound("c", "a", "m4")).toBe(true);
    clock += 1000;
    await Promise.all(store.enforceLimits());
    expect(store.hasInbound("c", "a", "m4")).toBe(false);
    expect(store.hasInbound("c", "a", "m5")).toBe(true); // in the history: no window
    store = await reopenKeeping(store, dir);
    expect(store.inboundIds).toBe(2);
  });

  it("moves a departed id aside when a restarted conversation takes its record id again", async () => {
    const dir = await tempDir();
    let store = await openKeeping(dir, { maxMessagesPerConversation: 100, maxConversations: 1 });
    await store.append("c", "a", entry(1)); // record c/a/1
    await store.append("c", "b", entry(2)); // drops a: m1's id kept under c/a/1
    await store.append("c", "a", entry(3)); // a again, from seq 1: takes c/a/1
    expect(store.history("c", "a")?.messages.map((m) => [m.seq, m.messageId])).toEqual([[1, "m3"]]);
    for (const id of ["m1", "m2", "m3"]) expect(store.hasInbound("c", "a", id)).toBe(true);
    store = await reopenKeeping(store, dir, { maxMessagesPerConversation: 100, maxConversations: 1 });
    for (const id of ["m1", "m2", "m3"]) expect(store.hasInbound("c", "a", id)).toBe(true);
    expect(store.history("c", "a")?.messages.map((m) => m.messageId)).toEqual(["m3"]);
  });

  it("takes the ids of a legacy inbound-seen.log into the journal once and removes that log", async () => {
    const dir = await tempDir();
    const line = (id: string, at: number) =>
      `${JSON.stringify({ op: "put", record: { id, at, value: 1 } })}\n`;
    await writeFile(
      join(dir, "inbound-seen.log"),
      line("c\u0000old-1", clock - 1000) + line("c\u0000old-2", clock - 500) + line("no-channel", clock),
    );
    let store = await openKeeping(dir);
    await expect(stat(join(dir, "inbound-seen.log"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(join(dir, "inbound-seen.lock"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(store.hasInbound("c", "a", "old-1")).toBe(true);
    expect(store.hasInbound("c", "a", "old-2")).toBe(true);
    expect(store.inboundIds).toBe(2);
    store = await reopenKeeping(store, dir);
    expect(store.hasInbound("c", "a", "old-1")).toBe(true);
    expect(store.list({}).conversations).toEqual([]);
    // Still within the window counted from when they were remembered.
    clock += 60_000 - 1000;
    await Promise.all(store.enforceLimits());
    expect(store.hasInbound("c", "a", "old-1")).toBe(false);
    expect(store.hasInbound("c", "a", "old-2")).toBe(true);
  });

  it("drops the departed ids a journal holds when opened without keeping them", async () => {
    const dir = await tempDir();
    const store = await openKeeping(dir);
    for (let i = 1; i <= 3; i++) await store.append("c", "a", entry(i));
    const plain = await reopen(store, dir, 2);
    expect(plain.hasInbound("c", "a", "m1")).toBe(false);
    expect(plain.history("c", "a")?.messages.map((m) => m.messageId)).toEqual(["m2", "m3"]);
    expect(plain.list({}).conversations).toHaveLength(1);
    expect(plain.journal?.records).toBe(2);
  });
});
