import { randomUUID } from "node:crypto";
import { type EventData, isProtocolError } from "@openclaw/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, collect, type Harness, pairNode, startGateway, until } from "./harness";

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

const AGENTS = {
  default: "echo",
  list: {
    echo: { provider: "echo" },
    // A pause before each word: a reply that takes long enough to watch and cancel.
    slow: { provider: "echo", delayMs: 100 },
    phone: { provider: "node", node: "mobile-device-1" },
  },
};

type Chunk = EventData<"chat.chunk">;
type Run = EventData<"chat.run">;
type Updated = EventData<"conversation.updated">;

/** Resolves with the run's last `chat.run` event (completed, aborted, failed). */
function runEnd(runs: unknown[], runId: string): Promise<Run> {
  return until(
    () => (runs as Run[]).some((run) => run.runId === runId && run.status !== "started"),
    10_000,
  ).then(() => (runs as Run[]).find((run) => run.runId === runId && run.status !== "started")!);
}

describe("the built-in chat channel (webchat)", () => {
  it("is listed as a channel with no config at all", async () => {
    h = await startGateway({ testChannel: false });
    const client = await h.client();
    const { channels } = await client.request("channel.list", {});
    expect(channels).toContainEqual(
      expect.objectContaining({ name: "webchat", plugin: "webchat", state: "ready" }),
    );
  });

  it("records the message, streams the echo agent's reply to the sender, records the reply", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const client = await h.client();
    const chunks = collect(client, "chat.chunk") as Chunk[];
    const runs = collect(client, "chat.run") as Run[];
    const updates = collect(client, "conversation.updated") as Updated[];
    const received = collect(client, "channel.message.received");
    const sent = await client.request("chat.send", {
      text: "hello there friend",
      idempotencyKey: randomUUID(),
    });
    expect(sent).toMatchObject({ seq: 1, agent: "echo" });
    expect(sent.conversationId).toMatch(/^web-/);
    const end = await runEnd(runs, sent.runId!);
    expect(end).toMatchObject({ status: "completed", agent: "echo", conversationId: sent.conversationId });
    expect(runs[0]).toMatchObject({ status: "started", runId: sent.runId });
    const mine = chunks.filter((chunk) => chunk.runId === sent.runId);
    expect(mine.map((chunk) => chunk.index)).toEqual([0, 1, 2]);
    expect(mine.map((chunk) => chunk.delta).join("")).toBe("hello there friend");
    await until(() => updates.length === 2);
    expect(updates.map((update) => [update.message?.seq, update.message?.direction])).toEqual([
      [1, "in"],
      [2, "out"],
    ]);
    expect(updates[1]!.message).toMatchObject({
      messageId: end.messageId,
      content: { text: "hello there friend" },
    });
    expect(received).toHaveLength(1);
    const history = await client.request("conversation.history", {
      channel: "webchat",
      conversationId: sent.conversationId,
    });
    expect(history.messages.map((message) => [message.direction, message.content.text])).toEqual([
      ["in", "hello there friend"],
      ["out", "hello there friend"],
    ]);
    expect(history.messages[0]!.sender).toMatchObject({ id: expect.stringMatching(/^operator:/) });
    expect(history.messages[1]!.sender).toEqual({ id: "agent:echo", name: "echo", isBot: true });
    const { conversations } = await client.request("conversation.list", { channel: "webchat" });
    expect(conversations.map((c) => c.conversationId)).toEqual([sent.conversationId]);
  });

  it("gives the agent the chat's earlier turns", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const client = await h.client();
    const runs = collect(client, "chat.run") as Run[];
    const first = await client.request("chat.send", { text: "one" });
    await runEnd(runs, first.runId!);
    const second = await client.request("chat.send", { conversationId: first.conversationId, text: "two" });
    expect(second.seq).toBe(3);
    await runEnd(runs, second.runId!);
    const history = await client.request("conversation.history", {
      channel: "webchat",
      conversationId: first.conversationId,
    });
    expect(history.messages.map((m) => m.content.text)).toEqual(["one", "one", "two", "two"]);
  });

  it("sends chunks only to the chat's subscribers; other operators see the recorded messages", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const alice = await h.client();
    const bob = await h.client();
    const aliceChunks = collect(alice, "chat.chunk") as Chunk[];
    const aliceRuns = collect(alice, "chat.run") as Run[];
    const bobChunks = collect(bob, "chat.chunk") as Chunk[];
    const bobRuns = collect(bob, "chat.run") as Run[];
    const bobUpdates = collect(bob, "conversation.updated") as Updated[];
    const sent = await alice.request("chat.send", { text: "private words here" });
    await runEnd(aliceRuns, sent.runId!);
    await until(() => bobUpdates.length === 2);
    expect(aliceChunks.length).toBe(3);
    expect(bobChunks).toEqual([]);
    expect(bobRuns).toEqual([]);

    // Bob opens the chat (a second tab): from now on he gets its stream too.
    const opened = await bob.request("chat.subscribe", { conversationId: sent.conversationId });
    expect(opened).toEqual({ conversationId: sent.conversationId, running: null });
    const again = await alice.request("chat.send", { conversationId: sent.conversationId, text: "now both" });
    await runEnd(bobRuns, again.runId!);
    expect(bobChunks.map((chunk) => chunk.delta).join("")).toBe("now both");
    expect(await bob.request("chat.unsubscribe", { conversationId: sent.conversationId })).toEqual({
      unsubscribed: true,
    });
    expect(await bob.request("chat.unsubscribe", { conversationId: sent.conversationId })).toEqual({
      unsubscribed: false,
    });
  });

  it("aborts a slow reply and keeps what it had written; a subscriber joining late gets the text so far", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const client = await h.client();
    const chunks = collect(client, "chat.chunk") as Chunk[];
    const runs = collect(client, "chat.run") as Run[];
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
    const sent = await client.request("chat.send", { text: words, agent: "slow" });
    await until(() => chunks.length >= 2, 10_000);

    const late = await h.client();
    const opened = await late.request("chat.subscribe", { conversationId: sent.conversationId });
    expect(opened.running).toMatchObject({ runId: sent.runId, agent: "slow" });
    expect(words.startsWith(opened.running!.text)).toBe(true);
    expect(opened.running!.nextIndex).toBeGreaterThanOrEqual(2);

    // While it runs, the chat takes no second message.
    const busy = await client
      .request("chat.send", { conversationId: sent.conversationId, text: "more" })
      .catch((error: unknown) => error);
    expect(isProtocolError(busy, "CONFLICT")).toBe(true);
    expect((busy as { details?: { reason?: string; runId?: string } }).details).toMatchObject({
      reason: "reply_running",
      runId: sent.runId,
    });

    expect(await client.request("chat.abort", { conversationId: sent.conversationId })).toEqual({
      aborted: true,
      runId: sent.runId,
    });
    const end = await runEnd(runs, sent.runId!);
    expect(end.status).toBe("aborted");
    const partial = chunks.map((chunk) => chunk.delta).join("");
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(words.length);
    const history = await client.request("conversation.history", {
      channel: "webchat",
      conversationId: sent.conversationId,
    });
    expect(history.messages.map((m) => m.content.text)).toEqual([words, partial]);
    expect(end.messageId).toBe(history.messages[1]!.messageId);
    // Nothing is running any more.
    expect(await client.request("chat.abort", { conversationId: sent.conversationId })).toEqual({
      aborted: false,
      runId: null,
    });
  });

  it("records a repeated chat.send (same idempotency key) once", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const client = await h.client();
    const runs = collect(client, "chat.run") as Run[];
    const idempotencyKey = randomUUID();
    const first = await client.request("chat.send", { text: "only once", idempotencyKey });
    await runEnd(runs, first.runId!);
    const repeat = await client.request("chat.send", {
      conversationId: first.conversationId,
      text: "only once",
      idempotencyKey,
    });
    expect(repeat).toEqual(first);
    const history = await client.request("conversation.history", {
      channel: "webchat",
      conversationId: first.conversationId,
    });
    expect(history.messages).toHaveLength(2);
  });

  it("posts into a chat with message.send from another client", async () => {
    h = await startGateway({ config: { agents: AGENTS } });
    const client = await h.client();
    const runs = collect(client, "chat.run") as Run[];
    const updates = collect(client, "conversation.updated") as Updated[];
    const sent = await client.request("chat.send", { text: "hi" });
    await runEnd(runs, sent.runId!);
    const other = await h.client();
    const posted = await other.request("message.send", {
      channel: "webchat",
      recipient: sent.conversationId,
      text: "a note from elsewhere",
    });
    expect(posted).toMatchObject({ channel: "webchat", conversationId: sent.conversationId });
    await until(() => updates.some((u) => u.message?.content.text === "a note from elsewhere"));
    const note = updates.find((u) => u.message?.content.text === "a note from elsewhere")!;
    expect(note.message).toMatchObject({ seq: 3, direction: "out" });
  });

  it("refuses bad input with typed errors", async () => {
    h = await startGateway({
      config: { agents: AGENTS, channels: { webchat: { maxSubscriptionsPerConnection: 2 } } },
    });
    const client = await h.client();
    const fail = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(isProtocolError(await fail(client.request("chat.send", { text: "" })), "INVALID_PARAMS")).toBe(
      true,
    );
    const unknown = await fail(client.request("chat.send", { text: "hi", agent: "nobody" }));
    expect(isProtocolError(unknown, "NOT_FOUND")).toBe(true);
    expect((unknown as { details?: { reason?: string } }).details?.reason).toBe("unknown_agent");
    await client.request("chat.subscribe", { conversationId: "a" });
    await client.request("chat.subscribe", { conversationId: "b" });
    await client.request("chat.subscribe", { conversationId: "b" }); // again: no new slot
    const third = await fail(client.request("chat.subscribe", { conversationId: "c" }));
    expect(isProtocolError(third, "CONFLICT")).toBe(true);
    expect((third as { details?: { reason?: string } }).details).toMatchObject({
      reason: "too_many_subscriptions",
      limit: 2,
    });
    // A node (device token) may not chat.
    const { node } = await pairNode(h, "mobile-device-1", () => ({ output: "x" }));
    expect(isProtocolError(await fail(node.request("chat.send", { text: "hi" })), "FORBIDDEN")).toBe(true);
  });

  it("limits the replies one connection runs at once", async () => {
    h = await startGateway({
      config: { agents: AGENTS, channels: { webchat: { maxRepliesPerConnection: 2 } } },
    });
    const client = await h.client();
    const runs = collect(client, "chat.run") as Run[];
    const a = await client.request("chat.send", { text: "a b c d e f g h", agent: "slow" });
    const b = await client.request("chat.send", { text: "a b c d e f g h", agent: "slow" });
    const third = await client.request("chat.send", { text: "c", agent: "slow" }).catch((e: unknown) => e);
    expect(isProtocolError(third, "RATE_LIMITED")).toBe(true);
    expect((third as { details?: { reason?: string } }).details?.reason).toBe("too_many_replies");
    // Another connection is not held up by this one.
    const other = await h.client();
    const otherRuns = collect(other, "chat.run") as Run[];
    const c = await other.request("chat.send", { text: "fine" });
    await runEnd(otherRuns, c.runId!);
    for (const sent of [a, b]) await client.request("chat.abort", { conversationId: sent.conversationId });
    await runEnd(runs, a.runId!);
    await runEnd(runs, b.runId!);
    await client.request("chat.send", { text: "again" });
  });

  it("is refused when switched off", async () => {
    h = await startGateway({ config: { agents: AGENTS, channels: { webchat: { enabled: false } } } });
    const client = await h.client();
    const error = await client.request("chat.send", { text: "hi" }).catch((e: unknown) => e);
    expect(isProtocolError(error, "CHANNEL_UNAVAILABLE")).toBe(true);
    const { channels } = await client.request("channel.list", {});
    expect(channels.map((c) => c.name)).not.toContain("webchat");
  });

  it("streams a node-hosted agent's reply to that chat only, not to every operator", async () => {
    h = await startGateway({ config: { agents: { ...AGENTS, default: "phone" } } });
    const { admin } = await pairNode(h, "mobile-device-1", async (data, node) => {
      const { runId, input } = data as { runId: string; input: string };
      const words = ["phone ", "says ", input];
      for (const [index, delta] of words.entries()) node.sendEvent("agent.chunk", { runId, index, delta });
      node.sendEvent("agent.chunk", { runId, index: words.length, delta: "", done: true });
      return { runId, output: words.join("") };
    });
    const adminAgentChunks = collect(admin, "agent.chunk");
    const adminChatChunks = collect(admin, "chat.chunk");
    const user = await h.client();
    const chunks = collect(user, "chat.chunk") as Chunk[];
    const runs = collect(user, "chat.run") as Run[];
    const sent = await user.request("chat.send", { text: "hi" });
    expect(sent.agent).toBe("phone");
    const end = await runEnd(runs, sent.runId!);
    expect(end.status).toBe("completed");
    expect(chunks.map((chunk) => chunk.delta)).toEqual(["phone ", "says ", "hi"]);
    // The operator watching everything saw neither the node's chunks nor the chat's.
    await admin.request("ping", {});
    expect(adminAgentChunks).toEqual([]);
    expect(adminChatChunks).toEqual([]);
    const history = await user.request("conversation.history", {
      channel: "webchat",
      conversationId: sent.conversationId,
    });
    expect(history.messages.map((m) => m.content.text)).toEqual(["hi", "phone says hi"]);
  });

  it("reports a failing agent as a failed run with its error", async () => {
    h = await startGateway({ config: { agents: { ...AGENTS, default: "phone" } } });
    const user = await h.client({ token: ADMIN });
    const runs = collect(user, "chat.run") as Run[];
    // No node is connected: the node-hosted agent fails.
    const sent = await user.request("chat.send", { text: "hi" });
    const end = await runEnd(runs, sent.runId!);
    expect(end).toMatchObject({ status: "failed", error: { code: "NODE_OFFLINE" } });
    expect(end.messageId).toBeUndefined();
  });
});
