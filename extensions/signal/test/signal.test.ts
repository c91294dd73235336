import { ChannelError, type ChannelPlugin } from "@openclaw/channel-sdk";
import {
  createTestContext,
  FakePlatform,
  runChannelConformance,
  type TestContext,
} from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SIGNAL_DEFAULTS, type SignalConfig, signalChannel } from "../src/index";
import { FakeSignalCli, type FakeSignalUser } from "../src/testing";

const ANA_NUMBER = "+15550001111";
let fake: FakeSignalCli | undefined;
let ana: FakeSignalUser;

const config = (overrides: Partial<SignalConfig> = {}): SignalConfig => ({
  ...SIGNAL_DEFAULTS,
  daemonUrl: fake!.url,
  account: fake!.account,
  ...overrides,
});

const startFake = async (options: Parameters<typeof FakeSignalCli.start>[0] = {}) => {
  fake = await FakeSignalCli.start(options);
  ana = fake.addUser(ANA_NUMBER, "Ana");
  return fake;
};

runChannelConformance<SignalConfig>({
  name: "signal",
  createPlugin: () => signalChannel.create(),
  invalidConfig: { daemonUrl: "not a url", account: "ana" },
  platform: {
    async start() {
      await startFake();
      return { config: config(), recipient: ANA_NUMBER };
    },
    async stop() {
      await fake?.close();
    },
    async injectInbound(text) {
      const envelope = fake!.receiveMessage({ from: ana, text });
      return {
        expected: {
          id: `${ana.uuid}:${envelope.timestamp}`,
          conversationId: ana.uuid,
          sender: { id: ana.uuid, name: "Ana", username: ANA_NUMBER },
        },
      };
    },
    rateLimitNextSend(retryAfterMs) {
      fake!.rateLimitNextSend(retryAfterMs / 1000);
    },
    sentTexts: () => fake?.sentTexts() ?? [],
  },
});

describe("signal specifics", () => {
  const running: Array<{ plugin: ChannelPlugin<SignalConfig>; ctx: TestContext<SignalConfig> }> = [];

  afterEach(async () => {
    for (const { plugin, ctx } of running.splice(0)) {
      await plugin.destroy();
      ctx.abort();
    }
    await fake?.close();
    fake = undefined;
  });

  const started = async (overrides: Partial<SignalConfig> = {}) => {
    const plugin = signalChannel.create();
    const ctx = createTestContext("signal", config(overrides));
    running.push({ plugin, ctx });
    await plugin.initialize(config(overrides), ctx);
    return { plugin, ctx };
  };

  it("emits direct and group messages with quotes as replies, and mentions as @names", async () => {
    await startFake();
    const { ctx } = await started();
    const groupId = fake!.addGroup("Climbers", [ANA_NUMBER]);
    const first = fake!.receiveMessage({ from: ana, text: "hello" });
    fake!.receiveMessage({
      from: ana,
      groupId,
      text: "re: \uFFFC look",
      quote: { timestamp: first.timestamp, author: ana, text: "hello" },
      mentions: [{ name: "Bot", number: fake!.account, uuid: fake!.accountUuid, start: 4, length: 1 }],
    });
    await vi.waitFor(() => expect(ctx.emitted).toHaveLength(2));
    expect(ctx.emitted[0]).toMatchObject({
      id: `${ana.uuid}:${first.timestamp}`,
      conversationId: ana.uuid,
      peerId: ana.uuid,
      sender: { id: ana.uuid, name: "Ana", username: ANA_NUMBER },
      text: "hello",
      timestamp: first.timestamp,
    });
    expect(ctx.emitted[1]).toMatchObject({
      conversationId: `group:${groupId}`,
      text: "re: @Bot look",
      replyTo: `${ana.uuid}:${first.timestamp}`,
    });
    expect(ctx.emitted[1]!.replyTo).toBe(ctx.emitted[0]!.id);
  });

  it("sends to a number, a UUID and a group, quoting the message it replies to, typing first", async () => {
    await startFake();
    const { plugin } = await started();
    const groupId = fake!.addGroup("Climbers", [ANA_NUMBER]);
    const direct = await plugin.send(ANA_NUMBER, { text: "to the number" });
    expect(direct.messageId).toBe(`${fake!.account}:${fake!.sent[0]!.timestamp}`);
    await plugin.send(ana.uuid, { text: "to the uuid" });
    const inbound = fake!.receiveMessage({ from: ana, groupId, text: "anyone?" });
    await plugin.send(`group:${groupId}`, { text: "me" }, { replyTo: `${ana.uuid}:${inbound.timestamp}` });
    expect(
      fake!.sent.map(({ recipient, groupId: g, message }) => ({ recipient, groupId: g, message })),
    ).toEqual([
      { recipient: [ANA_NUMBER], groupId: undefined, message: "to the number" },
      { recipient: [ana.uuid], groupId: undefined, message: "to the uuid" },
      { recipient: undefined, groupId, message: "me" },
    ]);
    expect(fake!.sent[2]).toMatchObject({ quoteTimestamp: inbound.timestamp, quoteAuthor: ana.uuid });
    const methods = fake!.calls.filter((c) => c.method !== "version").map((c) => c.method);
    expect(methods).toEqual(["sendTyping", "send", "sendTyping", "send", "sendTyping", "send"]);
    expect(fake!.calls.filter((c) => c.method === "sendTyping").at(-1)!.params).toEqual({ groupId });
    // A reply to one of the account's own messages quotes the account.
    await plugin.send(ANA_NUMBER, { text: "again" }, { replyTo: direct.messageId });
    expect(fake!.sent.at(-1)).toMatchObject({
      quoteAuthor: fake!.account,
      quoteTimestamp: fake!.sent[0]!.timestamp,
    });
  });

  it("sends no typing indicator when it is off, and a failing one never stops the send", async () => {
    await startFake();
    const { plugin } = await started({ typingIndicator: false });
    await plugin.send(ANA_NUMBER, { text: "quiet" });
    expect(fake!.calls.some((c) => c.method === "sendTyping")).toBe(false);
    await plugin.destroy();
    const { plugin: typing } = await started();
    fake!.failNext("sendTyping", { code: -3, message: "Failed to send typing (IOException)" });
    await typing.send(ANA_NUMBER, { text: "still sent" });
    expect(fake!.sentTexts()).toEqual(["quiet", "still sent"]);
  });

  it("downloads received attachments with getAttachment, and passes big ones on by reference", async () => {
    await startFake();
    const { ctx } = await started({ maxAttachmentBytes: 1000 });
    const photo = fake!.addAttachment(Buffer.from("a tiny photo"), "image/jpeg", "photo.jpg");
    const big = fake!.addAttachment(Buffer.alloc(5000, 1), "application/pdf", "big.pdf");
    const envelope = fake!.receiveMessage({ from: ana, text: "", attachments: [photo, big] });
    await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
    expect(ctx.emitted[0]).toMatchObject({
      id: `${ana.uuid}:${envelope.timestamp}`,
      text: "",
      attachments: [
        {
          kind: "image",
          data: Buffer.from("a tiny photo").toString("base64"),
          mimeType: "image/jpeg",
          filename: "photo.jpg",
          sizeBytes: 12,
        },
        { kind: "file", url: `signal-cli:attachment/${encodeURIComponent(big.id!)}`, sizeBytes: 5000 },
      ],
    });
    expect(fake!.calls.filter((c) => c.method === "getAttachment").map((c) => c.params)).toEqual([
      { id: photo.id, recipient: ANA_NUMBER },
    ]);
  });

  it("uploads attachments as data URIs, fetching those given by URL", async () => {
    await startFake();
    const files = await FakePlatform.start({
      "GET /chart.png": () => ({ headers: { "content-type": "image/png" }, body: "PNG-BYTES" }),
      "GET /huge.bin": () => ({
        headers: { "content-type": "application/octet-stream" },
        body: "x".repeat(2000),
      }),
    });
    try {
      const { plugin } = await started({ maxAttachmentBytes: 1000 });
      await plugin.send(ANA_NUMBER, {
        text: "two files",
        attachments: [
          {
            kind: "file",
            data: Buffer.from("report body").toString("base64"),
            filename: "report 1.txt",
            mimeType: "text/plain",
          },
          { kind: "image", url: `${files.url}/chart.png` },
        ],
      });
      expect(fake!.sent.at(-1)).toMatchObject({
        message: "two files",
        attachments: [
          { contentType: "text/plain", filename: "report 1.txt", size: 11 },
          { contentType: "image/png", filename: "chart.png", size: 9 },
        ],
      });
      await expect(
        plugin.send(ANA_NUMBER, { attachments: [{ kind: "file", url: `${files.url}/huge.bin` }] }),
      ).rejects.toMatchObject({ code: "UNSUPPORTED_CONTENT" });
    } finally {
      await files.close();
    }
  });

  it("emits reactions as empty replies to their target, and ignores sync, typing and own messages", async () => {
    await startFake();
    const { ctx } = await started();
    const ours = fake!.receiveMessage({ from: ana, text: "first" });
    fake!.receiveSync("sent from my phone", ana);
    fake!.receiveTyping(ana);
    fake!.deliver({
      source: fake!.account,
      sourceNumber: fake!.account,
      sourceUuid: fake!.accountUuid,
      timestamp: 1_764_000_999_000,
      dataMessage: { timestamp: 1_764_000_999_000, message: "note to self" },
    });
    fake!.deliverRaw("this is not JSON");
    const reaction = fake!.receiveReaction({
      from: ana,
      emoji: "👍",
      targetAuthor: fake!.account,
      targetTimestamp: 1_764_000_123_000,
    });
    fake!.receiveMessage({ from: ana, text: "last" });
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["first", "", "last"]));
    expect(ctx.emitted[0]!.id).toBe(`${ana.uuid}:${ours.timestamp}`);
    expect(ctx.emitted[1]).toMatchObject({
      id: `${ana.uuid}:${reaction.timestamp}`,
      replyTo: `${fake!.account}:1764000123000`,
      raw: { envelope: { dataMessage: { reaction: { emoji: "👍" } } } },
    });
  });

  it("emits a message the daemon delivers twice only once", async () => {
    await startFake();
    const { ctx } = await started();
    const envelope = fake!.receiveMessage({ from: ana, text: "once" });
    fake!.deliver({ ...envelope });
    fake!.receiveMessage({ from: ana, text: "twice?" });
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["once", "twice?"]));
  });

  it("shows the typing indicator on inbound messages when typingOnInbound is set", async () => {
    await startFake();
    const { ctx } = await started({ typingOnInbound: true });
    const groupId = fake!.addGroup("Climbers", [ANA_NUMBER]);
    fake!.receiveMessage({ from: ana, text: "hi", groupId });
    await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
    await vi.waitFor(() =>
      expect(fake!.calls.filter((c) => c.method === "sendTyping").map((c) => c.params)).toEqual([
        { groupId },
      ]),
    );
  });

  it("reconnects when the daemon closes the event stream, resuming after the last event", async () => {
    await startFake();
    const { plugin, ctx } = await started({ reconnectInitialDelayMs: 20 });
    fake!.receiveMessage({ from: ana, text: "before" });
    await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
    fake!.closeStreams();
    await vi.waitFor(() => expect(ctx.statuses).toContain("degraded"));
    // Arrives while no stream is open: replayed after the reconnect.
    fake!.receiveMessage({ from: ana, text: "while closed" });
    await vi.waitFor(() => expect(fake!.streamConnections).toBe(2), { timeout: 10_000 });
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["before", "while closed"]));
    const reconnect = fake!.requests.filter((r) => r.path === "/api/v1/events")[1]!;
    expect(reconnect.headers["last-event-id"]).toBe("1");
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
    expect(plugin.status().details).toMatchObject({ reconnects: 1, daemonVersion: "0.13.22" });
    fake!.receiveMessage({ from: ana, text: "after" });
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toContain("after"));
    expect(ctx.emitted).toHaveLength(3);
  });

  it.each(["first", "last"] as const)(
    "moves past an event longer than maxEventChars (id line %s): the next message arrives, no reconnect loop",
    async (idLine) => {
      await startFake({ idLine });
      const { plugin, ctx } = await started({ maxEventChars: 4096, reconnectInitialDelayMs: 20 });
      const skips = () => ctx.logs.filter((l) => l.message.includes("longer than maxEventChars"));
      fake!.receiveMessage({ from: ana, text: "before" });
      await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
      // 300 KB: it reaches the client in many reads, as a large event from signal-cli does.
      fake!.receiveMessage({ from: ana, text: "x".repeat(300_000) });
      fake!.receiveMessage({ from: ana, text: "after" });
      await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["before", "after"]), {
        timeout: 10_000,
      });
      expect(skips().map((l) => l.fields)).toEqual([
        { id: "2", event: "receive", chars: expect.any(Number) },
      ]);
      expect(fake!.streamConnections).toBe(1);
      expect(ctx.statuses).not.toContain("degraded");
      expect(plugin.status().state).toBe("ready");

      // An oversized event that is the last one before a reconnect: its id counts as seen although
      // its body was skipped, so the reconnect resumes after it and the daemon does not send it again.
      fake!.receiveMessage({ from: ana, text: "y".repeat(300_000) });
      await vi.waitFor(() => expect(skips()).toHaveLength(2), { timeout: 10_000 });
      fake!.closeStreams();
      await vi.waitFor(() => expect(fake!.streamConnections).toBe(2), { timeout: 10_000 });
      expect(fake!.requests.filter((r) => r.path === "/api/v1/events")[1]!.headers["last-event-id"]).toBe(
        "4",
      );
      fake!.receiveMessage({ from: ana, text: "later" });
      await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["before", "after", "later"]), {
        timeout: 10_000,
      });
      await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
      expect(fake!.streamConnections).toBe(2);
      expect(plugin.status().details).toMatchObject({ reconnects: 1 });
      expect(skips()).toHaveLength(2);
    },
    30_000,
  );

  it("restarts a stream that stays open but silent past idleTimeoutMs, and delivers what was held", async () => {
    await startFake({ keepaliveMs: 0 });
    const { plugin, ctx } = await started({ idleTimeoutMs: 300, reconnectInitialDelayMs: 20 });
    fake!.stalled = true;
    fake!.receiveMessage({ from: ana, text: "held back" });
    // The silent stream is dropped and opened again (and again, while it stays silent).
    await vi.waitFor(() => expect(fake!.streamConnections).toBeGreaterThanOrEqual(3), { timeout: 15_000 });
    expect(ctx.statuses).toContain("degraded");
    expect(plugin.status().lastError?.message).toMatch(/sent nothing .* for 300 ms/);
    expect(ctx.emitted).toEqual([]);
    fake!.stalled = false;
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["held back"]), {
      timeout: 10_000,
    });
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
  }, 30_000);

  it("counts keepalive comments as liveness: a quiet stream with keepalives stays open", async () => {
    await startFake({ keepaliveMs: 25 });
    const { plugin } = await started({ idleTimeoutMs: 1000 });
    const openedAt = Date.now();
    // Over three idle windows pass with no event at all; only keepalives arrive.
    await vi.waitFor(
      () => {
        expect(Date.now() - openedAt).toBeGreaterThan(3000);
        expect(plugin.status().details?.lastActivityAt as number).toBeGreaterThan(openedAt + 2500);
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(fake!.streamConnections).toBe(1);
    expect(plugin.status().state).toBe("ready");
  }, 20_000);

  it("shows down with the URL it tried while the daemon is unreachable, and recovers when it is back", async () => {
    await startFake();
    const url = fake!.url;
    await fake!.stop();
    const { plugin, ctx } = await started({ reconnectInitialDelayMs: 20, reconnectMaxDelayMs: 100 });
    const status = plugin.status();
    expect(status.state).toBe("down");
    expect(status.lastError).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    expect(status.lastError?.message).toContain(`${url}/api/v1/events`);
    expect(status.details).toMatchObject({ url: `${url}/api/v1/events` });
    await expect(plugin.send(ANA_NUMBER, { text: "nobody home" })).rejects.toMatchObject({
      code: "PLATFORM_UNAVAILABLE",
      message: expect.stringContaining(url),
    });
    await fake!.restart();
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"), { timeout: 10_000 });
    fake!.receiveMessage({ from: ana, text: "back" });
    await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["back"]));
    // And down again when the running daemon goes away.
    await fake!.stop();
    await vi.waitFor(() => expect(plugin.status().state).toBe("down"), { timeout: 10_000 });
    expect(plugin.status().details).toMatchObject({ url: `${url}/api/v1/events` });
  });

  it("leaves nothing running when destroyed while it is still starting", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((type) => type === "Timeout").length;
    await new Promise((resolve) => setTimeout(resolve, 100)); // let timers of earlier tests end
    const baseline = timers();
    const hanging = await FakePlatform.start({ "POST /api/v1/rpc": () => new Promise(() => {}) });
    try {
      const plugin = signalChannel.create();
      const settings = {
        ...SIGNAL_DEFAULTS,
        daemonUrl: hanging.url,
        account: "+15550000000",
        reconnectInitialDelayMs: 10,
      };
      const ctx = createTestContext("signal", settings);
      const starting = plugin.initialize(settings, ctx).catch(() => {});
      await hanging.waitFor((r) => r.path === "/api/v1/rpc");
      await plugin.destroy();
      ctx.abort();
      await starting;
      expect(plugin.status().state).toBe("stopped");
    } finally {
      await hanging.close();
    }
    // A stream loop that survived would always be waiting on its retry timer.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(timers()).toBeLessThanOrEqual(baseline);
  });

  it("maps JSON-RPC errors: rate limits retryable, unregistered or unknown recipients final", async () => {
    await startFake();
    const { plugin } = await started({ typingIndicator: false });
    fake!.rateLimitNextSend(7);
    const limited = (await plugin.send(ANA_NUMBER, { text: "x" }).catch((e: unknown) => e)) as ChannelError;
    expect(limited).toBeInstanceOf(ChannelError);
    expect(limited).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 7000, platformCode: -5 });
    expect(limited.retryable).toBe(true);

    fake!.unregistered.add("+15550002222");
    const gone = (await plugin.send("+15550002222", { text: "x" }).catch((e: unknown) => e)) as ChannelError;
    expect(gone).toMatchObject({ code: "RECIPIENT_NOT_FOUND", platformCode: -1 });
    expect(gone.message).toMatch(/not registered with Signal \(\+15550002222\)/);
    expect(gone.retryable).toBe(false);

    await expect(plugin.send("group:AAAA", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      message: expect.stringContaining("Group not found"),
    });
    const calls = fake!.calls.length;
    await expect(plugin.send("ana", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      message: expect.stringContaining("E.164"),
    });
    expect(fake!.calls.length).toBe(calls);

    fake!.failNext("send", { code: -3, message: "Failed to send message: timeout (IOException)" });
    const io = (await plugin.send(ANA_NUMBER, { text: "x" }).catch((e: unknown) => e)) as ChannelError;
    expect(io).toMatchObject({ code: "PLATFORM_UNAVAILABLE", platformCode: -3 });
    expect(io.retryable).toBe(true);

    fake!.failNext("send", { code: -4, message: "Failed to send message due to untrusted identities" });
    await expect(plugin.send(ANA_NUMBER, { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
      message: expect.stringContaining("signal-cli trust"),
    });
    // The channel keeps working.
    await plugin.send(ANA_NUMBER, { text: "fine" });
    expect(fake!.sentTexts()).toEqual(["fine"]);
  });

  it("names the account in multi-account mode, and refuses an account the daemon lacks", async () => {
    await startFake({ multiAccount: true });
    const { plugin } = await started({ multiAccount: true });
    await plugin.send(ANA_NUMBER, { text: "hi" });
    expect(fake!.calls.find((c) => c.method === "send")!.params).toMatchObject({ account: fake!.account });
    expect(fake!.requests.find((r) => r.path === "/api/v1/events")!.query).toEqual({
      account: fake!.account,
    });
    const other = signalChannel.create();
    const settings = config({ multiAccount: true, account: "+15559999999" });
    const ctx = createTestContext("signal", settings);
    await expect(other.initialize(settings, ctx)).rejects.toMatchObject({
      code: "AUTH_FAILED",
      message: expect.stringContaining("no such account"),
    });
  });

  it("refuses invalid settings with INVALID_CONFIG naming the field", async () => {
    const plugin = signalChannel.create();
    const bad = { account: "+1555", daemonUrl: "http://127.0.0.1:1" };
    const error = await plugin
      .initialize(bad as SignalConfig, createTestContext("signal", bad as SignalConfig))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_CONFIG", message: expect.stringContaining("account") });
  });
});
