import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConversationStore } from "../src/state/ConversationStore";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const entry = (n: number) => ({
  direction: "in" as const,
  messageId: `m${n}`,
  content: { text: `t${n}` },
  timestamp: n,
});

describe("ConversationStore bounds", () => {
  it("drops the least recently updated conversation beyond maxConversations, and old messages beyond historyLimit", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-conv-"));
    dirs.push(dir);
    const store = new ConversationStore(dir, 2, 2);
    store.append("c", "a", entry(1));
    store.append("c", "b", entry(2));
    store.append("c", "a", entry(3)); // "a" is now the most recent
    store.append("c", "c", entry(4)); // over the limit: "b" goes
    expect(store.list({}).conversations.map((c) => c.conversationId)).toEqual(["c", "a"]);
    store.append("c", "a", entry(5));
    expect(store.history("c", "a")?.messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(store.history("c", "b")).toBeUndefined();
    await store.flush();
  });
});
