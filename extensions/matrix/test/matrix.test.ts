import type { ChannelPlugin } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, type TestContext } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type MatrixConfig, matrixChannel } from "../src/index";
import { FAKE_BOT_USER, FAKE_ROOM, FAKE_SERVER, FAKE_USER, FakeMatrix } from "../src/testing";

const ACCESS_TOKEN = "syt_b3BlbmNsYXc_fake_access_token";
let fake: FakeMatrix | undefined;

const config = (overrides: Partial<MatrixConfig> = {}): MatrixConfig => ({
  homeserverUrl: fake!.baseUrl,
  userId: FAKE_BOT_USER,
  accessToken: ACCESS_TOKEN,
  autoJoin: true,
  pollTimeoutMs: 30_000,
  requestTimeoutMs: 5000,
  readyTimeoutMs: 5000,
  maxRateLimitWaitMs: 1000,
  maxSendRetries: 2,
  stallGraceMs: 30_000,
  ...overrides,
});

const rateLimited = (retryAfterMs: number) => ({
  status: 429,
  body: { errcode: "M_LIMIT_EXCEEDED", error: "Too Many Requests", retry_after_ms: retryAfterMs },
});

runChannelConformance<MatrixConfig>({
  name: "matrix",
  createPlugin: () => matrixChannel.create(),
  invalidConfig: { homeserverUrl: "not a url", userId: "openclaw" },
  platform: {
    async start() {
      fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
      return { config: config(), recipient: FAKE_ROOM };
    },
    async stop() {
      await fake?.close();
    },
    async injectInbound(text) {
      const event = fake!.inject(text);
      return {
        expected: {
          id: event.event_id,
          conversationId: FAKE_ROOM,
          sender: { id: FAKE_USER, name: "ana", username: FAKE_USER },
        },
      };
    },
    rateLimitNextSend(retryAfterMs) {
      fake!.failNextSend(rateLimited(retryAfterMs));
    },
    sentTexts: () => fake?.sentTexts() ?? [],
  },
});

describe("matrix plugin against the fake homeserver", () => {
  let plugin: ChannelPlugin<MatrixConfig>;
  let context: TestContext<MatrixConfig>;

  const until = (predicate: () => boolean, what: string, timeoutMs = 5000) =>
    vi.waitFor(
      () => {
        if (!predicate()) throw new Error(`timed out waiting for ${what}`);
      },
      { timeout: timeoutMs, interval: 10 },
    );

  const start = async (overrides: Partial<MatrixConfig> = {}): Promise<void> => {
    fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
    plugin = matrixChannel.create();
    context = createTestContext("matrix", config(overrides));
    await plugin.initialize(context.config, context);
  };

  afterEach(async () => {
    await plugin?.destroy();
    context?.abort();
    await fake?.close();
    fake = undefined;
  });

  it("long-polls /sync with the since token of the previous answer", async () => {
    await start();
    fake!.inject("one");
    await until(() => context.emitted.length === 1, "the first message");
    fake!.inject("two");
    await until(() => context.emitted.length === 2, "the second message");
    const [initial, ...rest] = fake!.syncs;
    expect(initial!.since).toBeUndefined();
    expect(rest.length).toBeGreaterThanOrEqual(2);
    for (const sync of rest) {
      expect(sync.since).toMatch(/^s\d+$/);
      expect(sync.timeout).toBe(30_000);
    }
    // Every since token is one the fake handed out, in increasing order.
    const positions = rest.map((s) => Number(s.since!.slice(1)));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it("skips history, its own messages and non-message events; carries replies and threads", async () => {
    fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
    fake.inject("old history, before the bot started");
    plugin = matrixChannel.create();
    context = createTestContext("matrix", config());
    await plugin.initialize(context.config, context);
    await plugin.send(FAKE_ROOM, { text: "my own words" });
    fake.inject("a reaction", { type: "m.reaction", content: {} });
    const reply = fake.inject("a reply", {
      content: { "m.relates_to": { "m.in_reply_to": { event_id: "$event1" } } },
    });
    const threaded = fake.inject("in a thread", {
      content: { "m.relates_to": { rel_type: "m.thread", event_id: "$root" } },
    });
    await until(() => context.emitted.length === 2, "two messages");
    // A later message arrives after anything the skipped events could still cause.
    fake.inject("sentinel");
    await until(() => context.emitted.some((m) => m.text === "sentinel"), "the sentinel");
    expect(context.emitted.map((m) => m.text)).toEqual(["a reply", "in a thread", "sentinel"]);
    expect(context.emitted[0]).toMatchObject({ id: reply.event_id, replyTo: "$event1" });
    expect(context.emitted[1]).toMatchObject({ id: threaded.event_id, threadId: "$root" });
  });

  it("joins rooms it is invited to, and answers there", async () => {
    await start();
    const room = `!new:${FAKE_SERVER}`;
    fake!.invite(room);
    await until(() => fake!.membership(room) === "join", "the join");
    fake!.inject("welcome", { room });
    await until(() => context.emitted.length === 1, "a message in the new room");
    expect(context.emitted[0]).toMatchObject({ conversationId: room, text: "welcome" });
    await plugin.send(room, { text: "thanks" }, { replyTo: context.emitted[0]!.id });
    expect(fake!.sent.at(-1)).toMatchObject({
      roomId: room,
      content: {
        msgtype: "m.text",
        body: "thanks",
        "m.relates_to": { "m.in_reply_to": { event_id: context.emitted[0]!.id } },
      },
    });
  });

  it("does not join when autoJoin is off", async () => {
    await start({ autoJoin: false });
    const room = `!other:${FAKE_SERVER}`;
    fake!.invite(room);
    // A message injected after the invite comes in the same or a later sync: the invite was seen.
    fake!.inject("after the invite");
    await until(() => context.emitted.some((m) => m.text === "after the invite"), "the later message");
    await plugin.send(FAKE_ROOM, { text: "and a round trip" });
    expect(fake!.membership(room)).toBe("invite");
  });

  it("sends to aliases, uploads inline files and links URLs", async () => {
    await start();
    await plugin.send(`#general:${FAKE_SERVER}`, {
      text: "see attached",
      attachments: [
        {
          kind: "image",
          data: Buffer.from("png bytes").toString("base64"),
          filename: "cat.png",
          mimeType: "image/png",
        },
        { kind: "file", url: "https://files.example/report.pdf" },
      ],
    });
    const [image, text] = fake!.sent;
    expect(image).toMatchObject({
      roomId: FAKE_ROOM,
      content: {
        msgtype: "m.image",
        body: "cat.png",
        url: expect.stringMatching(/^mxc:\/\//),
        info: { mimetype: "image/png", size: 9 },
      },
    });
    expect(text!.content).toMatchObject({
      msgtype: "m.text",
      body: "see attached\nhttps://files.example/report.pdf",
    });
    expect(fake!.platform.requests.some((r) => r.path === "/_matrix/media/v3/upload")).toBe(true);
  });

  it("sends once for a repeated idempotency key (the same transaction id)", async () => {
    await start();
    const first = await plugin.send(FAKE_ROOM, { text: "once" }, { idempotencyKey: "delivery-1" });
    const again = await plugin.send(FAKE_ROOM, { text: "once" }, { idempotencyKey: "delivery-1" });
    expect(again.messageId).toBe(first.messageId);
    expect(fake!.sentTexts()).toEqual(["once"]);
  });

  it("logs in with a password when no access token is given", async () => {
    fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN, password: "hunter2-hunter2" });
    plugin = matrixChannel.create();
    const { accessToken: _none, ...rest } = config({ password: "hunter2-hunter2" });
    context = createTestContext("matrix", rest as MatrixConfig);
    await plugin.initialize(context.config, context);
    const login = fake.platform.requests.find((r) => r.path === "/_matrix/client/v3/login");
    expect(login?.json).toMatchObject({ type: "m.login.password", identifier: { user: FAKE_BOT_USER } });
    fake.inject("hi");
    await until(() => context.emitted.length === 1, "a message");
  });

  it("refuses bad credentials with AUTH_FAILED", async () => {
    fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
    plugin = matrixChannel.create();
    context = createTestContext("matrix", config({ accessToken: "syt_not_the_token" }));
    await expect(plugin.initialize(context.config, context)).rejects.toMatchObject({ code: "AUTH_FAILED" });
    const second = matrixChannel.create();
    const { accessToken: _none, ...rest } = config({ password: "wrong" });
    const ctx = createTestContext("matrix", rest as MatrixConfig);
    await expect(second.initialize(ctx.config, ctx)).rejects.toMatchObject({ code: "AUTH_FAILED" });
  });

  it("reports a revoked token as down with AUTH_FAILED", async () => {
    await start();
    fake!.revoke(ACCESS_TOKEN);
    fake!.inject("wake the poll");
    await until(() => plugin.status().state === "down", "down");
    expect(plugin.status().lastError).toMatchObject({ code: "AUTH_FAILED" });
  });

  it("waits out a short rate limit, fails a long one, and maps errors", async () => {
    await start();
    fake!.failNextSend(rateLimited(200));
    await plugin.send(FAKE_ROOM, { text: "patient" });
    expect(fake!.sentTexts()).toEqual(["patient"]);
    fake!.failNextSend(rateLimited(60_000));
    await expect(plugin.send(FAKE_ROOM, { text: "impatient" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      retryAfterMs: 60_000,
    });
    await expect(plugin.send(`!nowhere:${FAKE_SERVER}`, { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      platformCode: "M_FORBIDDEN",
    });
    await expect(plugin.send("alice", { text: "x" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    await expect(plugin.send(`#missing:${FAKE_SERVER}`, { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
    // Failed sends do not pile up in the client.
    expect(fake!.sentTexts()).toEqual(["patient"]);
  });

  it("retries a send after a server error, and sends it once (same transaction id)", async () => {
    await start();
    fake!.failNextSend({ status: 502, body: { errcode: "M_UNKNOWN", error: "Bad gateway" } });
    await plugin.send(FAKE_ROOM, { text: "eventually" });
    const puts = fake!.platform.requests.filter((r) => r.method === "PUT" && r.path.includes("/send/"));
    expect(puts).toHaveLength(2);
    expect(puts[0]!.path).toBe(puts[1]!.path);
    expect(fake!.sentTexts()).toEqual(["eventually"]);
  });

  it("restarts a stalled sync loop within pollTimeoutMs + stallGraceMs (watchdog)", async () => {
    await start({ pollTimeoutMs: 300, stallGraceMs: 300 });
    fake!.stallSyncs = true;
    const stalledAt = Date.now();
    await until(() => plugin.status().details?.syncRestarts === 1, "a sync restart", 5000);
    expect(Date.now() - stalledAt).toBeLessThan(3000);
    expect(plugin.status().lastError).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    fake!.stallSyncs = false;
    fake!.inject("after the stall");
    await until(() => context.emitted.length === 1, "a message after the restart", 10_000);
    await until(() => plugin.status().state === "ready", "ready again");
  });

  it("reconnects with backoff after the homeserver goes away, and reports degraded meanwhile", async () => {
    await start({ pollTimeoutMs: 200 });
    fake!.unreachable = true;
    await until(() => plugin.status().state === "degraded", "degraded", 10_000);
    const dropped = fake!.platform.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Backoff: far fewer attempts than one per poll timeout.
    expect(fake!.platform.requests.length - dropped).toBeLessThan(8);
    fake!.unreachable = false;
    fake!.inject("back again");
    await until(() => plugin.status().state === "ready", "ready again", 20_000);
    await until(() => context.emitted.length === 1, "the message sent meanwhile", 10_000);
    expect(context.emitted[0]!.text).toBe("back again");
  });
});
