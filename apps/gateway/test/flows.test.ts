import { defineChannel, v, type WebhookRequest, type WebhookResponse } from "@openclaw/channel-sdk";
import { GatewayClient, ProtocolError } from "@openclaw/protocol";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  ADMIN,
  collect,
  type Harness,
  pairNode,
  SIGNING_SECRET,
  startGateway,
  TOKEN,
  until,
} from "./harness";

let h: Harness;
beforeEach(async () => {
  h = await startGateway();
});
afterEach(async () => {
  await h.stop();
});

describe("flow 1: CLI → message.send → router → channel → platform", () => {
  it("routes by binding, reaches the platform, answers {messageId, channel} and tells the other clients", async () => {
    const admin = await h.client({ token: ADMIN });
    await admin.request("binding.add", {
      level: "account",
      match: { userId: "alice" },
      target: { channel: "test", address: "chat-42" },
    });
    const cli = await h.client();
    const other = await h.client();
    const seenByOther = collect(other, "channel.message.sent");
    const seenByCli = collect(cli, "channel.message.sent");
    const result = await cli.request("message.send", { recipient: "alice", text: "Hello, OpenClaw!" });
    expect(result).toMatchObject({
      messageId: "tg-1",
      channel: "test",
      address: "chat-42",
      route: { level: "account" },
    });
    const sent = await h.platform.waitFor((r) => r.path === "/messages");
    expect(sent.json).toEqual({ to: "chat-42", text: "Hello, OpenClaw!" });
    expect(sent.headers.authorization).toBe("Bearer platform-token-0123456789");
    await until(() => seenByOther.length === 1);
    expect(seenByOther[0]).toMatchObject({
      channel: "test",
      messageId: "tg-1",
      address: "chat-42",
      content: { text: "Hello, OpenClaw!" },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seenByCli).toEqual([]);
    const route = await cli.request("route.resolve", { recipient: "alice" });
    expect(route.reason).toContain("account binding");
  });

  it("sends to an explicit channel, and gives typed errors for no route, an unknown channel and a platform failure", async () => {
    const cli = await h.client();
    await expect(
      cli.request("message.send", { recipient: "chat-1", channel: "test", text: "direct" }),
    ).resolves.toMatchObject({ channel: "test", address: "chat-1" });
    await expect(cli.request("message.send", { recipient: "nobody", text: "x" })).rejects.toMatchObject({
      code: "NO_ROUTE",
      details: { reason: "no_binding" },
    });
    await expect(
      cli.request("message.send", { recipient: "x", channel: "telegram", text: "x" }),
    ).rejects.toMatchObject({ code: "CHANNEL_UNAVAILABLE", details: { reason: "unknown_channel" } });
    // A refusal for good is the answer; a rate limit queues the message (see delivery.test.ts).
    h.platform.failNext({ status: 404 });
    await expect(
      cli.request("message.send", { recipient: "chat-404", channel: "test", text: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND", details: { channel: "test" } });
    h.platform.failNext({ status: 429, headers: { "retry-after": "3" } });
    await expect(
      cli.request("message.send", { recipient: "chat-1", channel: "test", text: "x" }),
    ).resolves.toMatchObject({ status: "queued", deliveryId: expect.any(String), channel: "test" });
  });

  it("persists bindings across a restart", async () => {
    const admin = await h.client({ token: ADMIN });
    const { binding } = await admin.request("binding.add", {
      id: "alice-pref",
      level: "account",
      match: { userId: "alice" },
      target: { channel: "test" },
    });
    await admin.close();
    const stateDir = h.stateDir;
    await h.gateway.stop();
    const again = await startGateway({ stateDir });
    try {
      const cli = await again.client({ token: ADMIN });
      expect((await cli.request("binding.list")).bindings).toEqual([binding]);
    } finally {
      await again.stop();
    }
  });
});

describe("flow 2: platform → webhook → every client, conversation in sync", () => {
  it("verifies the signature, broadcasts channel.message.received and conversation.updated, and records history", async () => {
    const a = await h.client();
    const b = await h.client();
    const receivedA = collect(a, "channel.message.received");
    const receivedB = collect(b, "channel.message.received");
    const updated = collect(b, "conversation.updated");
    const response = await h.webhook({
      id: "in-1",
      chat: "chat-7",
      from: { id: "u-7", name: "Ana" },
      text: "hi gateway",
    });
    expect(response.status).toBe(200);
    await until(() => receivedA.length === 1 && receivedB.length === 1 && updated.length === 1);
    expect(receivedA[0]).toMatchObject({
      channel: "test",
      message: {
        id: "in-1",
        channel: "test",
        conversationId: "chat-7",
        sender: { id: "u-7", name: "Ana" },
        text: "hi gateway",
      },
    });
    expect(updated[0]).toMatchObject({
      conversation: { conversationId: "chat-7", channel: "test", lastSeq: 1 },
      message: { seq: 1, direction: "in", content: { text: "hi gateway" } },
    });
    await a.request("message.send", { recipient: "chat-7", channel: "test", text: "hello Ana" });
    const history = await b.request("conversation.history", { channel: "test", conversationId: "chat-7" });
    expect(history.messages.map((m) => [m.seq, m.direction, m.content.text])).toEqual([
      [1, "in", "hi gateway"],
      [2, "out", "hello Ana"],
    ]);
    const since = await b.request("conversation.history", {
      channel: "test",
      conversationId: "chat-7",
      since: 1,
    });
    expect(since.messages.map((m) => m.seq)).toEqual([2]);
    expect((await b.request("conversation.list")).conversations[0]).toMatchObject({
      conversationId: "chat-7",
      messageCount: 2,
    });
  });

  it("refuses a bad signature with 401 and an unknown channel with 404, processing nothing", async () => {
    const a = await h.client();
    const received = collect(a, "channel.message.received");
    const forged = await h.webhook(
      { id: "in-2", chat: "c", from: { id: "u" }, text: "forged" },
      "not-the-secret-0123456789",
    );
    expect(forged.status).toBe(401);
    const unknown = await fetch(`${h.http}/webhook/nope`, { method: "POST", body: "{}" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    const huge = await fetch(`${h.http}/webhook/test`, { method: "POST", body: "x".repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    // Chunked, with no content-length to refuse it by: counted while it is read.
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const streamed = await fetch(`${h.http}/webhook/test`, {
      method: "POST",
      body: new ReadableStream({
        pull(controller) {
          if (sent++ < 32) controller.enqueue(chunk);
          else controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({
      error: { code: "PAYLOAD_TOO_LARGE", details: { reason: "too_large" } },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toEqual([]);
    expect(SIGNING_SECRET).toBeTruthy();
  });
});

describe("webhook requests and answers", () => {
  /** A channel whose webhooks `answer` handles. */
  const webhookChannel = (
    name: string,
    answer: (request: WebhookRequest) => WebhookResponse | Promise<WebhookResponse>,
  ) =>
    defineChannel({
      name,
      capabilities: ["text"],
      webhooks: true,
      config: v.object({}),
      create: () => ({ start() {}, send: () => ({ messageId: "m" }), stop() {}, webhook: answer }),
    });

  it("hands the plugin the method, the path after the channel, headers, query and raw body, and writes its answer as given", async () => {
    const seen: WebhookRequest[] = [];
    const echo = webhookChannel("echo", (request) => {
      seen.push(request);
      if (request.method === "GET")
        return { status: 200, headers: { "Content-Type": "text/xml" }, body: "<ok/>" };
      if (request.query.empty !== undefined) return { status: 204 };
      return { status: 202, headers: { "X-Echo": "yes" }, body: { got: request.body.length } };
    });
    await h.stop();
    h = await startGateway({ plugins: [echo], config: { channels: { echo: {} } } });
    const json = await fetch(
      `${h.http}/webhook/echo/sub/path?a=1&a=2&b=x+y%21&=skip&c&toString=t&__proto__=p`,
      {
        method: "POST",
        headers: { "x-platform": "p1" },
        body: '{"hello":"wörld"}',
      },
    );
    expect(json.status).toBe(202);
    expect(json.headers.get("content-type")).toBe("application/json");
    expect(json.headers.get("x-echo")).toBe("yes");
    expect(await json.json()).toEqual({ got: 18 });
    expect(seen[0]).toMatchObject({
      method: "POST",
      path: "/sub/path",
      query: { a: "1", b: "x y!", c: "", toString: "t", ["__proto__"]: "p" },
      headers: { "x-platform": "p1" },
    });
    // An empty name is left out; names of Object.prototype are parameters like any other.
    expect(Object.keys(seen[0]!.query)).toEqual(["a", "b", "c", "toString", "__proto__"]);
    expect(String(seen[0]!.body)).toBe('{"hello":"wörld"}'); // the raw bytes
    // A verification handshake: GET, the plugin's own content type wins over the default.
    const text = await fetch(`${h.http}/webhook/echo?challenge=abc`);
    expect(text.status).toBe(200);
    expect(text.headers.get("content-type")).toBe("text/xml");
    expect(await text.text()).toBe("<ok/>");
    const empty = await fetch(`${h.http}/webhook/echo?empty`, { method: "POST", body: "" });
    expect(empty.status).toBe(204);
    // A percent-encoded path is decoded as the router decodes paths.
    await fetch(`${h.http}/webhook/echo/a%20b`, { method: "POST", body: "x" });
    expect(seen.at(-1)!.path).toBe("/a b");
    const put = await fetch(`${h.http}/webhook/echo`, { method: "PUT", body: "x" });
    expect(put.status).toBe(405);
    expect(await put.json()).toMatchObject({
      error: { code: "INVALID_PARAMS", details: { reason: "method_not_allowed" } },
    });
    // Health and readiness stay theirs whatever the base path.
    expect((await fetch(`${h.http}/health`)).status).toBe(200);
  });

  it("answers a plugin that throws with a 500 in the protocol's shape and goes on", async () => {
    const broken = webhookChannel("broken", () => {
      throw new TypeError("plugin bug");
    });
    await h.stop();
    h = await startGateway({ plugins: [broken], config: { channels: { broken: {} } } });
    const answer = await fetch(`${h.http}/webhook/broken`, { method: "POST", body: "{}" });
    expect(answer.status).toBe(500);
    expect(await answer.json()).toMatchObject({ error: { code: "INTERNAL", message: "plugin bug" } });
    expect((await fetch(`${h.http}/health`)).status).toBe(200);
  });
});

describe("flow 3: CLI → agent.run with target → node → back", () => {
  it("pairs a device, forwards agent.run to it and returns its answer", async () => {
    const { admin } = await pairNode(h, "mobile-device-1", (data) => ({
      runId: "r-1",
      output: `ran: ${(data as { input: string }).input}`,
    }));
    const cli = await h.client();
    const result = await cli.request(
      "agent.run",
      { input: "summarise my day" },
      { target: "mobile-device-1" },
    );
    expect(result).toMatchObject({
      runId: "r-1",
      output: "ran: summarise my day",
      nodeId: "mobile-device-1",
    });
    expect((await cli.request("node.list")).nodes).toMatchObject([
      { nodeId: "mobile-device-1", displayName: "Ana's phone", capabilities: ["agent.run"] },
    ]);
    expect((await admin.request("device.list")).devices).toMatchObject([
      { nodeId: "mobile-device-1", online: true },
    ]);
    // by display name too
    await expect(cli.request("agent.run", { input: "x" }, { target: "ana's phone" })).resolves.toMatchObject({
      nodeId: "mobile-device-1",
    });
  });

  it("answers NODE_OFFLINE for an absent node and TIMEOUT for a slow one, without hanging", async () => {
    await pairNode(h, "slow-phone", () => new Promise(() => {}));
    const cli = await h.client();
    await expect(cli.request("agent.run", { input: "x" }, { target: "ghost-phone" })).rejects.toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "not_connected" },
    });
    await expect(
      cli.request("agent.run", { input: "x", timeoutMs: 100 }, { target: "slow-phone" }),
    ).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("fails a pending call at once when the node disconnects, and refuses a revoked device token", async () => {
    const { node, deviceToken, admin } = await pairNode(h, "flaky-phone", () => new Promise(() => {}));
    const cli = await h.client();
    const offline = collect(cli, "node.offline");
    const pending = cli
      .request("agent.run", { input: "x", timeoutMs: 60_000 }, { target: "flaky-phone" })
      .catch((error: unknown) => error);
    await until(() => h.gateway.registry.pendingCount("flaky-phone") === 1);
    await node.close();
    expect(await pending).toMatchObject({ code: "NODE_OFFLINE" });
    await until(() => offline.length === 1);
    expect(await admin.request("device.revoke", { nodeId: "flaky-phone" })).toEqual({ revoked: true });
    const again = new GatewayClient({ url: h.url, role: "node", deviceToken, WebSocket, reconnect: false });
    const refused = await again.connect().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused).toMatchObject({ code: "UNAUTHORIZED", details: { reason: "device_token_invalid" } });
  });

  it("keeps pairing codes single-use, refuses unknown codes and rate-limits guessing", async () => {
    await pairNode(h, "phone-a", () => ({ runId: "r", output: "ok" }));
    const admin = await h.client({ token: ADMIN });
    await expect(admin.request("pairing.approve", { code: "4821" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      details: { reason: "unknown_or_expired_code" },
    });
    let limited: unknown;
    for (let i = 0; i < 15 && limited === undefined; i++) {
      const error = await admin
        .request("pairing.approve", { code: `9${String(i).padStart(3, "0")}` })
        .catch((e: unknown) => e);
      if ((error as ProtocolError).code === "RATE_LIMITED") limited = error;
    }
    expect(limited).toMatchObject({ code: "RATE_LIMITED", details: { reason: "too_many_failed_codes" } });
    const operator = await h.client({ token: TOKEN });
    await expect(operator.request("pairing.approve", { code: "1234" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
  });
});

describe("HTTP: OpenAI-compatible API through the official openai client", () => {
  const openai = () => new OpenAI({ baseURL: `${h.http}/v1`, apiKey: TOKEN, maxRetries: 0 });

  it("lists agents as models and completes with the echo agent", async () => {
    const models = await openai().models.list();
    expect(models.data.map((m) => m.id)).toContain("echo");
    const completion = await openai().chat.completions.create({
      model: "echo",
      messages: [{ role: "user", content: "Hello, OpenClaw!" }],
    });
    expect(completion.choices[0]?.message).toEqual({ role: "assistant", content: "Hello, OpenClaw!" });
  });

  it("streams chunks in OpenAI's format, ending with [DONE]", async () => {
    const stream = await openai().chat.completions.create({
      model: "echo",
      stream: true,
      messages: [{ role: "user", content: "one two three" }],
    });
    const parts: string[] = [];
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      parts.push(chunk.choices[0]?.delta.content ?? "");
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(parts.join("")).toBe("one two three");
    expect(finish).toBe("stop");
    const raw = await fetch(`${h.http}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "echo", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    expect((await raw.text()).trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  it("streams a long answer whole and in order to a client that reads slowly", async () => {
    const words = Array.from({ length: 60_000 }, (_, i) => `w${i}`);
    const response = await fetch(`${h.http}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "echo",
        stream: true,
        messages: [{ role: "user", content: words.join(" ") }],
      }),
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    // Nothing is read for a while: the gateway's socket buffer fills (about 9 MB are streamed).
    await new Promise((done) => setTimeout(done, 300));
    const events = (await response.text()).split("\n\n").filter(Boolean);
    expect(events.at(-1)).toBe("data: [DONE]");
    const content = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.slice("data: ".length)).choices[0].delta.content ?? "")
      .join("");
    expect(content).toBe(words.join(" "));
  });

  it("refuses a missing or wrong token, an unknown model and a malformed body with JSON errors", async () => {
    const wrong = new OpenAI({ baseURL: `${h.http}/v1`, apiKey: "nope", maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toMatchObject({ status: 401 });
    await expect(
      openai().chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({ status: 404 });
    const bad = await fetch(`${h.http}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "{oops",
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { type: "invalid_request_error", param: null, code: "invalid_json" },
    });
  });
});

describe("config through the protocol", () => {
  it("shows the config redacted, validates, and applies live changes with config.reloaded", async () => {
    const admin = await h.client({ token: ADMIN });
    const got = await admin.request("config.get");
    expect(JSON.stringify(got.config)).not.toContain(TOKEN);
    expect(JSON.stringify(got.config)).not.toContain("platform-token");
    expect(
      (await admin.request("config.validate", { config: { heartbeat: { intervalMs: "often" } } })).valid,
    ).toBe(false);
    const reloaded = collect(admin, "config.reloaded");
    const result = await admin.request("config.apply", {
      config: { heartbeat: { intervalMs: 5000 }, gateway: { host: "127.0.0.2" } },
      mode: "merge",
      baseHash: got.hash,
    });
    expect(result).toMatchObject({ applied: ["heartbeat"], restartRequired: ["gateway.host"] });
    await until(() => reloaded.length === 1);
    await expect(admin.request("config.apply", { config: {}, baseHash: got.hash })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    await expect(
      admin.request("config.apply", { config: { heartbeat: { intervalMs: -5 } } }),
    ).rejects.toMatchObject({ code: "INVALID_PARAMS" });
  });
});

describe("tasks through the protocol", () => {
  it("schedules a message.send task that reaches the platform, with lifecycle events", async () => {
    const cli = await h.client();
    const completed = collect(cli, "task.completed");
    const { taskId } = await cli.request("task.schedule", {
      type: "message.send",
      payload: { recipient: "chat-9", channel: "test", text: "scheduled hello" },
      delayMs: 10,
    });
    await until(() => completed.length === 1);
    expect(completed[0]).toMatchObject({ taskId, type: "message.send" });
    await h.platform.waitFor((r) => (r.json as { text?: string } | undefined)?.text === "scheduled hello");
    expect((await cli.request("task.list", { status: "completed" })).tasks).toMatchObject([
      { taskId, status: "completed" },
    ]);
    await expect(cli.request("task.execute", { type: "noop" })).resolves.toMatchObject({
      status: "completed",
    });
  });

  it("pages task.list with a cursor, soonest first, 100 a page by default", async () => {
    const cli = await h.client();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await cli.request("task.schedule", { type: "noop", delayMs: 600_000 + i * 1000 })).taskId);
    const seen: string[] = [];
    const pages: number[] = [];
    for (let cursor: string | undefined, more = true; more; ) {
      const page = await cli.request("task.list", {
        status: "scheduled",
        limit: 2,
        ...(cursor === undefined ? {} : { cursor }),
      });
      pages.push(page.tasks.length);
      seen.push(...page.tasks.map((t) => t.taskId));
      cursor = page.nextCursor ?? undefined;
      more = page.nextCursor != null;
    }
    expect(pages).toEqual([2, 2, 1]);
    expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
    const all = await cli.request("task.list", { status: "scheduled" });
    expect(all.nextCursor).toBeNull();
    expect(all.tasks.map((t) => t.taskId)).toEqual(expect.arrayContaining(ids));
    for (const id of ids) await cli.request("task.cancel", { taskId: id });
  });
});

describe("flow 2, end: an agent bound to the channel answers in the conversation", () => {
  it("replies through the channel with the agent's output, threaded to the inbound message", async () => {
    await h.stop();
    h = await startGateway({ testChannel: { agent: "echo" } });
    const cli = await h.client();
    const sent = collect(cli, "channel.message.sent");
    await h.webhook({ id: "in-77", chat: "chat-77", from: { id: "u-1" }, text: "ping from the platform" });
    const reply = await h.platform.waitFor((r) => r.path === "/messages");
    expect(reply.json).toEqual({ to: "chat-77", text: "ping from the platform", replyTo: "in-77" });
    await until(() => sent.length === 1);
    const history = await cli.request("conversation.history", { channel: "test", conversationId: "chat-77" });
    expect(history.messages.map((m) => m.direction)).toEqual(["in", "out"]);
  });
});

describe("graceful shutdown", () => {
  it("lets an in-flight request finish, then closes sockets with 1001", async () => {
    await pairNode(h, "slowish-phone", async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { runId: "r-slow", output: "finished anyway" };
    });
    const socket = await h.raw();
    await socket.connect();
    socket.send({
      type: "req",
      id: "inflight",
      method: "agent.run",
      data: { input: "x" },
      target: "slowish-phone",
    });
    await until(() => h.gateway.registry.pendingCount("slowish-phone") === 1);
    await h.gateway.stop({ drainTimeoutMs: 5000 });
    expect(await socket.response("inflight")).toMatchObject({
      error: null,
      data: { output: "finished anyway" },
    });
    expect((await socket.waitClosed()).code).toBe(1001);
  });
});
