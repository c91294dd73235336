import { ChannelError, type ChannelPlugin } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, type TestContext } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SLACK_DEFAULTS, type SlackConfig, slackChannel } from "../src/index";
import { FAKE_SLACK_WORKSPACE, FakeSlack, type FakeSlackOptions } from "../src/testing";

let fake: FakeSlack | undefined;

const config = (overrides: Partial<SlackConfig> = {}): SlackConfig => ({
  ...slackConfigDefaults(),
  botToken: fake!.botToken,
  appToken: fake!.appToken,
  signingSecret: fake!.signingSecret,
  apiUrl: fake!.apiUrl,
  ...overrides,
});

function slackConfigDefaults(): SlackConfig {
  return {
    ...SLACK_DEFAULTS,
    botToken: "xoxb-unused-0000000000",
    requestTimeoutMs: 5000,
    readyTimeoutMs: 5000,
    reconnectBaseMs: 50,
    reconnectMaxMs: 1000,
  };
}

const ANA = { id: "U0ANA0001", name: "Ana Lima", username: "ana" };

for (const mode of ["socket", "events"] as const) {
  runChannelConformance<SlackConfig>({
    name: `slack (${mode === "socket" ? "Socket Mode" : "Events API"})`,
    createPlugin: () => slackChannel.create(),
    invalidConfig: { botToken: "not-a-token" },
    platform: {
      async start() {
        fake = await FakeSlack.start();
        return { config: config({ mode }), recipient: "C0GENERAL" };
      },
      async stop() {
        await fake?.close();
      },
      async injectInbound(text) {
        const body = fake!.injectMessage(text, { deliver: mode === "socket" });
        const event = body.event as { ts: string };
        const expected = { id: `C0GENERAL:${event.ts}`, conversationId: "C0GENERAL", sender: ANA };
        return mode === "events" ? { webhook: fake!.signedRequest(body), expected } : { expected };
      },
      ...(mode === "events"
        ? {
            forgedWebhook: () =>
              fake!.signedRequest(fake!.injectMessage("forged", { deliver: false }), {
                secret: "not-the-signing-secret-0000",
              }),
          }
        : {}),
      rateLimitNextSend: (retryAfterMs) => fake!.rateLimitNext("chat.postMessage", retryAfterMs / 1000),
      sentTexts: () => fake?.sentTexts() ?? [],
    },
  });
}

describe("slack specifics", () => {
  let plugin: ChannelPlugin<SlackConfig> | undefined;

  afterEach(async () => {
    await plugin?.destroy();
    plugin = undefined;
    await fake?.close();
    fake = undefined;
  });

  const started = async (
    overrides: Partial<SlackConfig> = {},
    fakeOptions: FakeSlackOptions = {},
  ): Promise<{ plugin: ChannelPlugin<SlackConfig>; ctx: TestContext<SlackConfig> }> => {
    fake = await FakeSlack.start(fakeOptions);
    plugin = slackChannel.create();
    const ctx = createTestContext("slack", config(overrides));
    await plugin.initialize(config(overrides), ctx);
    return { plugin, ctx };
  };

  /** Holds every emit until `release()`: an acknowledgement that comes late. */
  const slowEmits = (ctx: TestContext<SlackConfig>) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const record = ctx.emit;
    let calls = 0;
    ctx.emit = async (message) => {
      calls++;
      await gate;
      return record(message);
    };
    return { release, calls: () => calls };
  };

  describe("Events API", () => {
    it("answers url_verification, and refuses bad, missing and stale signatures", async () => {
      const { plugin } = await started({ mode: "events" });
      const challenge = await plugin.handleWebhook!(
        fake!.signedRequest({ type: "url_verification", token: "x", challenge: "c-123" }),
      );
      expect(challenge).toMatchObject({ status: 200, body: { challenge: "c-123" } });
      const body = fake!.injectMessage("hi", { deliver: false });
      const stale = await plugin.handleWebhook!(
        fake!.signedRequest(body, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 }),
      );
      expect(stale.status).toBe(401);
      expect(JSON.stringify(stale.body)).toContain("stale_timestamp");
      const missing = fake!.signedRequest(body);
      const { "x-slack-signature": _, ...headers } = missing.headers;
      expect((await plugin.handleWebhook!({ ...missing, headers })).status).toBe(401);
      const tampered = fake!.signedRequest(body);
      tampered.body = new TextEncoder().encode(JSON.stringify({ ...body, event_id: "EvOther" }));
      expect((await plugin.handleWebhook!(tampered)).status).toBe(401);
      expect((await plugin.handleWebhook!(fake!.signedRequest(body, { signature: "v0=zz" }))).status).toBe(
        401,
      );
      const sslCheck = await plugin.handleWebhook!(
        fake!.signedRequest({ ssl_check: "1", token: "t" }, { form: true }),
      );
      expect(sslCheck.status).toBe(200);
    });

    it("answers a signed but malformed event 400 with X-Slack-No-Retry (final for Slack), logging it", async () => {
      const { plugin, ctx } = await started({ mode: "events" });
      const good = fake!.injectMessage("fine", { deliver: false });
      const malformed: Array<Record<string, unknown>> = [
        { hello: "world" },
        { ...good, event_id: "EvBad1", event: null },
        { ...good, event_id: "EvBad2", event: "a string" },
        { ...good, event_id: "EvBad3", event: { type: "message", channel: 5, ts: { at: 1 }, text: 7 } },
        { ...good, event_id: "EvBad4", event: { type: "message", channel: "C1", ts: "1.2", user: 9 } },
        { ...good, event_id: "EvBad5", event: { ...(good.event as object), files: "nope" } },
      ];
      for (const body of malformed) {
        const response = await plugin.handleWebhook!(fake!.signedRequest(body));
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.headers?.["x-slack-no-retry"], JSON.stringify(body)).toBe("1");
      }
      expect(ctx.emitted).toEqual([]);
      expect(ctx.logs.filter((l) => l.message.startsWith("malformed Slack request dropped")).length).toBe(
        malformed.length,
      );
      // A well-formed event still goes through; one the gateway could not record is retried (a 5xx).
      ctx.refuseNextEmits(1);
      const refused = await plugin.handleWebhook!(fake!.signedRequest(good));
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(refused.headers?.["x-slack-no-retry"]).toBeUndefined();
      expect((await plugin.handleWebhook!(fake!.signedRequest(good, { retryNum: 1 }))).status).toBe(200);
      expect(ctx.emitted.map((m) => m.text)).toEqual(["fine"]);
    });

    it("takes slash commands and button clicks as signed forms", async () => {
      const { plugin, ctx } = await started({ mode: "events" });
      const command = fake!.injectCommand("/ask", "what time is it", false);
      const answer = await plugin.handleWebhook!(fake!.signedRequest(command, { form: true }));
      expect(answer.status).toBe(200);
      const click = fake!.injectButtonClick("yes-please", { deliver: false });
      const clicked = await plugin.handleWebhook!(fake!.signedRequest({ payload: click }, { form: true }));
      expect(clicked.status).toBe(200);
      expect(ctx.emitted.map((m) => [m.id, m.text, m.sender.id])).toEqual([
        [`command:${command.trigger_id}`, "/ask what time is it", "U0ANA0001"],
        [`action:${click.trigger_id}`, "yes-please", "U0ANA0001"],
      ]);
      expect(ctx.emitted[1]?.replyTo).toMatch(/^C0GENERAL:\d+\.\d+$/);
    });

    it("answers a slash command through its response_url, and posts normally once it is used", async () => {
      const { plugin, ctx } = await started({ mode: "events" });
      const command = fake!.injectCommand("/ask", "hi", false);
      expect((await plugin.handleWebhook!(fake!.signedRequest(command, { form: true }))).status).toBe(200);
      const id = ctx.emitted[0]!.id;
      const result = await plugin.send("C0GENERAL", { text: "answer" }, { replyTo: id });
      expect(result.messageId).toBe(`${id}:response`);
      expect(fake!.responses).toEqual([
        {
          path: new URL(command.response_url!).pathname,
          body: { text: "answer", response_type: "in_channel", replace_original: false },
        },
      ]);
      expect(fake!.posted()).toEqual([]);
      await plugin.send("C0GENERAL", { text: "second answer" }, { replyTo: id });
      expect(fake!.sentTexts()).toEqual(["second answer"]);
    });

    it("answers a retried event (X-Slack-Retry-Num) without emitting it twice, also while the first is in flight", async () => {
      const { plugin, ctx } = await started({ mode: "events" });
      const slow = slowEmits(ctx);
      const body = fake!.injectMessage("only once", { deliver: false });
      const first = plugin.handleWebhook!(fake!.signedRequest(body));
      await vi.waitFor(() => expect(slow.calls()).toBe(1));
      let retryAnswered = false;
      const retry = plugin.handleWebhook!(fake!.signedRequest(body, { retryNum: 1 })).then((r) => {
        retryAnswered = true;
        return r;
      });
      // Until the gateway has the message, neither delivery is acknowledged.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(retryAnswered).toBe(false);
      slow.release();
      expect((await first).status).toBe(200);
      expect((await retry).status).toBe(200);
      const late = await plugin.handleWebhook!(fake!.signedRequest(body, { retryNum: 2 }));
      expect(late.status).toBe(200);
      expect(slow.calls()).toBe(1);
      expect(ctx.emitted.map((m) => m.text)).toEqual(["only once"]);
      expect(plugin.status().details).toMatchObject({ redeliveriesDropped: 2 });
    });
  });

  describe("Socket Mode", () => {
    it("acknowledges an envelope only after the emit resolved, and drops Slack's redelivery", async () => {
      const { ctx } = await started({}, { ackTimeoutMs: 150 });
      const slow = slowEmits(ctx);
      const body = fake!.injectMessage("once over the socket");
      await vi.waitFor(() => expect(slow.calls()).toBe(1));
      // Slack gave up waiting for the ack and redelivered with retry_attempt 1.
      await vi.waitFor(() => expect(fake!.envelopes.some((e) => e.retry_attempt >= 1)).toBe(true));
      expect(fake!.acks).toEqual([]);
      slow.release();
      await vi.waitFor(() => expect(fake!.unacknowledged).toBe(0));
      expect(fake!.acks.length).toBeGreaterThanOrEqual(1);
      expect(slow.calls()).toBe(1);
      expect(ctx.emitted).toHaveLength(1);
      expect(ctx.emitted[0]).toMatchObject({
        id: `C0GENERAL:${(body.event as { ts: string }).ts}`,
        text: "once over the socket",
      });
    });

    it("acknowledges a malformed event (final: Slack does not redeliver it), logging it", async () => {
      const { ctx } = await started();
      const bad = fake!.injectEvent({ type: "message", channel: 5, ts: { at: 1 }, text: 7 });
      await vi.waitFor(() => expect(fake!.acks).toHaveLength(1));
      expect(fake!.unacknowledged).toBe(0);
      expect(ctx.emitted).toEqual([]);
      expect(ctx.logs.some((l) => l.message.includes("malformed Slack request dropped"))).toBe(true);
      expect(bad.event_id).toMatch(/^Ev/);
    });

    it("emits a mention that arrives as message and app_mention once, without the bot's mention", async () => {
      const { ctx } = await started();
      const body = fake!.injectMessage(`<@${FAKE_SLACK_WORKSPACE.botUserId}> hello &amp; welcome`);
      fake!.injectEvent({ ...(body.event as object), type: "app_mention" });
      await vi.waitFor(() => expect(fake!.acks).toHaveLength(2));
      expect(ctx.emitted.map((m) => m.text)).toEqual(["hello & welcome"]);
      expect(ctx.emitted[0]).toMatchObject({ guildId: FAKE_SLACK_WORKSPACE.teamId, sender: ANA });
    });

    it("reconnects after Slack's refresh_requested disconnect and keeps receiving", async () => {
      const { plugin, ctx } = await started({ clientPingTimeoutMs: 300 });
      expect(fake!.connectionCount).toBe(1);
      fake!.requestRefresh();
      await vi.waitFor(() => expect(fake!.connectionCount).toBe(2), { timeout: 10_000 });
      await vi.waitFor(() => expect(fake!.openConnections).toBe(1));
      fake!.injectMessage("after the refresh");
      await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["after the refresh"]));
      await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
      expect(plugin.status().details).toMatchObject({ reconnects: 1, connected: true });
      expect(ctx.statuses).toContain("degraded");
    });

    it("drops a socket that stays open but delivers nothing (watchdog), and reconnects", async () => {
      const { plugin, ctx } = await started({ stallGraceMs: 1000 }, { pingIntervalMs: 50 });
      const before = fake!.connectionCount;
      fake!.stall();
      fake!.injectMessage("waited for a healthy socket");
      await vi.waitFor(() => expect(fake!.connectionCount).toBeGreaterThan(before), { timeout: 15_000 });
      await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["waited for a healthy socket"]));
      expect(plugin.status().details?.stallsDetected).toBeGreaterThanOrEqual(1);
      await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
    });

    it("keeps reconnecting with backoff while apps.connections.open fails, then recovers", async () => {
      const { plugin, ctx } = await started({ clientPingTimeoutMs: 300, reconnectBaseMs: 20 });
      const opens = () => fake!.calls.filter((c) => c.method === "apps.connections.open").length;
      fake!.failNext(
        "apps.connections.open",
        { status: 503, body: "upstream unavailable" },
        { body: { ok: false, error: "internal_error" } },
        { body: { ok: false, error: "service_unavailable" } },
      );
      fake!.requestRefresh();
      await vi.waitFor(() => expect(fake!.connectionCount).toBe(2), { timeout: 10_000 });
      expect(opens()).toBe(5); // the first, three refused, the one that worked
      await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
      expect(ctx.statuses.filter((s) => s === "degraded").length).toBeGreaterThanOrEqual(2);
      fake!.injectMessage("back");
      await vi.waitFor(() => expect(ctx.emitted.map((m) => m.text)).toEqual(["back"]));
    });

    it("reports down when Slack refuses the app token on reconnect, and stops retrying", async () => {
      const { plugin } = await started({ clientPingTimeoutMs: 300, reconnectBaseMs: 20 });
      fake!.failNext("apps.connections.open", { body: { ok: false, error: "invalid_auth" } });
      fake!.requestRefresh();
      await vi.waitFor(() => expect(plugin.status().state).toBe("down"), { timeout: 10_000 });
      expect(plugin.status().lastError).toMatchObject({ code: "AUTH_FAILED" });
      const opens = fake!.calls.filter((c) => c.method === "apps.connections.open").length;
      expect(opens).toBe(2);
      expect(fake!.connectionCount).toBe(1);
    });

    it("fails to start with PLATFORM_UNAVAILABLE when Slack never says hello", async () => {
      fake = await FakeSlack.start();
      fake.holdHello = true;
      plugin = slackChannel.create();
      const settings = config({ readyTimeoutMs: 300 });
      const error = await plugin
        .initialize(settings, createTestContext("slack", settings))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
      expect(plugin.status().state).toBe("down");
      await vi.waitFor(() => expect(fake!.openConnections).toBe(0));
    });

    it("fails to start with AUTH_FAILED on a refused token", async () => {
      fake = await FakeSlack.start();
      plugin = slackChannel.create();
      const bad = config({ botToken: "xoxb-0000000000-wrong-token" });
      const error = await plugin.initialize(bad, createTestContext("slack", bad)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChannelError);
      expect(error).toMatchObject({ code: "AUTH_FAILED", platformCode: "invalid_auth" });
      expect(plugin.status().state).toBe("down");
    });
  });

  describe("messages", () => {
    it("keeps threads: a thread reply's id finds its thread, and replies go there", async () => {
      const { plugin, ctx } = await started();
      const root = fake!.nextTs();
      const body = fake!.injectMessage("in a thread", { threadTs: root });
      const ts = (body.event as { ts: string }).ts;
      await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
      expect(ctx.emitted[0]).toMatchObject({ id: `C0GENERAL:${root}/${ts}`, threadId: root });
      const reply = await plugin.send("C0GENERAL", { text: "threaded" }, { replyTo: ctx.emitted[0]!.id });
      expect(fake!.posted().at(-1)).toMatchObject({
        channel: "C0GENERAL",
        text: "threaded",
        thread_ts: root,
      });
      expect(reply.messageId).toMatch(new RegExp(`^C0GENERAL:${root.replace(".", "\\.")}/\\d+\\.\\d+$`));
      // A top-level message is answered at the top level, unless threadReplies is "always".
      await plugin.send("C0GENERAL", { text: "top" }, { replyTo: `C0GENERAL:${root}` });
      expect(fake!.posted().at(-1)?.thread_ts).toBeUndefined();
    });

    it("drops the app's own messages and other bots', emits edits as replies and skips deletes", async () => {
      const { ctx } = await started();
      fake!.injectMessage("mine", {
        user: FAKE_SLACK_WORKSPACE.botUserId,
        botId: FAKE_SLACK_WORKSPACE.botId,
      });
      fake!.injectMessage("a bot", { subtype: "bot_message", botId: "B0OTHER01" });
      const original = fake!.injectMessage("typo");
      const ts = (original.event as { ts: string }).ts;
      fake!.injectEvent({
        type: "message",
        subtype: "message_changed",
        channel: "C0GENERAL",
        ts: fake!.nextTs(),
        event_ts: "1764000100.000001",
        message: { type: "message", user: "U0ANA0001", text: "fixed", ts },
        previous_message: { type: "message", user: "U0ANA0001", text: "typo", ts },
      });
      fake!.injectEvent({
        type: "message",
        subtype: "message_deleted",
        channel: "C0GENERAL",
        deleted_ts: ts,
      });
      await vi.waitFor(() => expect(fake!.acks).toHaveLength(5));
      expect(ctx.emitted.map((m) => [m.text, m.replyTo])).toEqual([
        ["typo", undefined],
        ["fixed", `C0GENERAL:${ts}`],
      ]);
      expect(ctx.emitted[1]?.id).toBe(`C0GENERAL:${ts}:edit:1764000100.000001`);
    });

    it("turns shared files into attachments", async () => {
      const { ctx } = await started();
      fake!.injectMessage("look", {
        files: [
          {
            id: "F1",
            name: "cat.png",
            mimetype: "image/png",
            size: 1234,
            url_private: "https://files.slack.com/files-pri/T1-F1/cat.png",
          },
        ],
      });
      await vi.waitFor(() => expect(ctx.emitted).toHaveLength(1));
      expect(ctx.emitted[0]?.attachments).toEqual([
        {
          kind: "image",
          url: "https://files.slack.com/files-pri/T1-F1/cat.png",
          filename: "cat.png",
          mimeType: "image/png",
          sizeBytes: 1234,
        },
      ]);
    });

    it("sends Markdown as a markdown block with a plain fallback, and buttons as actions", async () => {
      const { plugin } = await started();
      await plugin.send("C0GENERAL", {
        text: "**Done** — see [docs](https://example.com)",
        format: "markdown",
        buttons: [
          [
            { text: "Again", callbackData: "again" },
            { text: "Docs", url: "https://example.com" },
          ],
        ],
      });
      const args = fake!.posted().at(-1)!;
      expect(args.text).toBe("Done — see docs (https://example.com)");
      expect(args.blocks).toEqual([
        { type: "markdown", text: "**Done** — see [docs](https://example.com)" },
        {
          type: "actions",
          block_id: "oc_actions_0",
          elements: [
            {
              type: "button",
              action_id: "oc_0_0",
              text: { type: "plain_text", text: "Again", emoji: true },
              value: "again",
            },
            {
              type: "button",
              action_id: "oc_0_1",
              text: { type: "plain_text", text: "Docs", emoji: true },
              url: "https://example.com",
            },
          ],
        },
      ]);
    });

    it("uploads inline files with getUploadURLExternal, the upload URL and completeUploadExternal", async () => {
      const { plugin } = await started();
      const data = Buffer.from("hello file").toString("base64");
      const result = await plugin.send(
        "C0GENERAL",
        { text: "here it is", attachments: [{ kind: "file", data, filename: "hello.txt" }] },
        { replyTo: "C0GENERAL:1764000000.000001/1764000000.000002" },
      );
      const methods = fake!.calls.map((c) => c.method).filter((m) => m.startsWith("files."));
      expect(methods).toEqual(["files.getUploadURLExternal", "files.completeUploadExternal"]);
      const complete = fake!.calls.find((c) => c.method === "files.completeUploadExternal")!.args;
      expect(complete).toMatchObject({
        channel_id: "C0GENERAL",
        thread_ts: "1764000000.000001",
        initial_comment: "here it is",
      });
      expect([...fake!.uploads.values()][0]).toBeGreaterThanOrEqual(10);
      expect(result.messageId).toMatch(/^file:F\d+$/);
    });

    it("reports 429 as a retryable RATE_LIMITED with Retry-After, without retrying itself", async () => {
      const { plugin } = await started();
      fake!.rateLimitNext("chat.postMessage", 7);
      const error = await plugin.send("C0GENERAL", { text: "too fast" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChannelError);
      expect(error).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 7000, retryable: true });
      expect(fake!.calls.filter((c) => c.method === "chat.postMessage")).toHaveLength(1);
      await expect(plugin.send("C0NOWHERE", { text: "x" })).rejects.toMatchObject({
        code: "RECIPIENT_NOT_FOUND",
      });
    });
  });
});
