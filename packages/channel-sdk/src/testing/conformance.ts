import { type InboundMessage, InboundMessageSchema } from "@openclaw/protocol";
import * as v from "valibot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChannelError } from "../ChannelError";
import type { ChannelPlugin, WebhookRequest } from "../types";
import { createTestContext, type TestContext } from "./context";

/** What an extension tells the conformance suite about its fake platform. */
export interface ConformancePlatform<C> {
  /** Starts the fake platform; returns settings that point the plugin at it and a recipient that exists there. */
  start(): Promise<{ config: C; recipient: string }>;
  /** Stops the fake platform (all its connections). */
  stop(): Promise<void>;
  /**
   * Makes the platform deliver one user message with this text. For webhook channels return the
   * signed request to hand to `handleWebhook`; for polling or socket channels deliver it the
   * platform's own way and return no `webhook`. `expected` is what the emitted message must contain.
   */
  injectInbound(text: string): Promise<{ webhook?: WebhookRequest; expected: Partial<InboundMessage> }>;
  /**
   * For webhook channels: a request whose signature is wrong or missing. Without it the forgery
   * check is reported as skipped.
   */
  forgedWebhook?(): WebhookRequest;
  /**
   * For webhook channels: the platform's redelivery of a webhook the plugin did not acknowledge
   * (with a retry header, a fresh signature). Without it the same request is handed in again.
   */
  redeliverWebhook?(webhook: WebhookRequest): WebhookRequest;
  /**
   * Makes the platform rate-limit the next send, asking to retry after `retryAfterMs`. Without it
   * the rate-limit check is reported as skipped.
   */
  rateLimitNextSend?(retryAfterMs: number): void;
  /** The texts the platform received as sent messages, in order. */
  sentTexts(): string[];
}

/** Options of {@link runChannelConformance}. */
export interface ChannelConformanceOptions<C> {
  /** Shown in the test names. */
  name: string;
  /** A new, uninitialized plugin instance. */
  createPlugin: () => ChannelPlugin<C>;
  platform: ConformancePlatform<C>;
  /** Settings the plugin must refuse with `INVALID_CONFIG`. */
  invalidConfig: unknown;
  /** How long to wait for asynchronous effects (polls, socket events). @defaultValue 5000 */
  timeoutMs?: number;
}

const countHandles = () => {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
};

/**
 * Registers the shared channel-plugin tests with vitest. Every extension runs it against its
 * loopback fake platform: lifecycle without leaked handles, sends that reach the platform, one
 * normalised emit per inbound message, a message whose emit was refused (the gateway could not
 * record it) delivered again and taken once, refused forgeries, typed errors, long-text splitting. A check
 * whose optional hook the platform lacks (`forgedWebhook`, `rateLimitNextSend`, or a plugin without
 * `limits.maxTextLength`) is registered as skipped, so the report shows what was not checked.
 *
 * @param options - The plugin, its fake platform, and settings it must refuse.
 */
export function runChannelConformance<C>(options: ChannelConformanceOptions<C>): void {
  const timeoutMs = options.timeoutMs ?? 5000;
  /** The channel name the plugin runs under in these tests (a valid channel name). */
  const channel = "conformance";
  const until = (predicate: () => boolean, what: string) =>
    vi.waitFor(
      () => {
        if (!predicate()) throw new Error(`timed out waiting for ${what}`);
      },
      { timeout: timeoutMs, interval: 10 },
    );
  /** Which optional checks apply, known when the tests are registered. */
  const maxTextLength = options.createPlugin().limits.maxTextLength;
  /** Waits until the process holds no more timers and sockets than `baseline` (closing ones may linger briefly). */
  const expectHandlesBack = (baseline: Record<string, number>) => {
    let checks = 0;
    return vi.waitFor(
      () => {
        // vi.waitFor checks once at once, then keeps two timers of its own (deadline and interval).
        const own = checks++ === 0 ? 0 : 2;
        const after = countHandles();
        for (const type of ["Timeout", "TCPSocketWrap", "TCPServerWrap", "Immediate"]) {
          const count = (after[type] ?? 0) - (type === "Timeout" ? own : 0);
          expect(count, `${type} handles after destroy`).toBeLessThanOrEqual(baseline[type] ?? 0);
        }
      },
      { timeout: timeoutMs, interval: 20 },
    );
  };

  describe(`channel conformance: ${options.name}`, () => {
    let plugin: ChannelPlugin<C>;
    let context: TestContext<C>;
    let recipient: string;
    let config: C;

    beforeEach(async () => {
      ({ config, recipient } = await options.platform.start());
      plugin = options.createPlugin();
      context = createTestContext(channel, config);
    });

    afterEach(async () => {
      await plugin.destroy();
      context.abort();
      await options.platform.stop();
    });

    /**
     * Delivers a later message and waits for its emit: whatever an earlier delivery would have
     * caused (a duplicate, an emit of a refused request) has happened by then, without a sleep.
     */
    const deliverSentinel = async () => {
      const { webhook } = await options.platform.injectInbound("conformance sentinel");
      if (webhook !== undefined) await plugin.handleWebhook!(webhook);
      await until(
        () => context.emitted.some((message) => message.text === "conformance sentinel"),
        "the sentinel message",
      );
    };

    it("initializes to ready, and destroy leaves no timer or socket behind", async () => {
      await options.platform.stop();
      const baseline = countHandles();
      ({ config, recipient } = await options.platform.start());
      context = createTestContext(channel, config);
      await plugin.initialize(config, context);
      await until(() => plugin.status().state === "ready", "state ready");
      expect(plugin.capabilities).toContain("text");
      await plugin.destroy();
      expect(plugin.status().state).toBe("stopped");
      await options.platform.stop();
      await expectHandlesBack(baseline);
      ({ config, recipient } = await options.platform.start());
    });

    it("sends a message that reaches the platform and returns its id", async () => {
      await plugin.initialize(config, context);
      await until(() => plugin.status().state === "ready", "state ready");
      const result = await plugin.send(recipient, { text: "conformance says hi" });
      expect(typeof result.messageId).toBe("string");
      expect(result.messageId.length).toBeGreaterThan(0);
      await until(
        () => options.platform.sentTexts().some((text) => text.includes("conformance says hi")),
        "the platform to record the send",
      );
    });

    it("turns one inbound message into exactly one normalised emit", async () => {
      await plugin.initialize(config, context);
      await until(() => plugin.status().state === "ready", "state ready");
      const { webhook, expected } = await options.platform.injectInbound("hello from the platform");
      if (webhook !== undefined) {
        expect(
          plugin.handleWebhook,
          "a webhook was injected but the plugin has no handleWebhook",
        ).toBeDefined();
        const response = await plugin.handleWebhook!(webhook);
        expect(response.status).toBeGreaterThanOrEqual(200);
        expect(response.status).toBeLessThan(300);
      }
      await until(() => context.emitted.length > 0, "an emitted message");
      await deliverSentinel();
      const hellos = context.emitted.filter((message) => message.text === "hello from the platform");
      expect(hellos).toHaveLength(1);
      const message = hellos[0]!;
      expect(v.safeParse(InboundMessageSchema, message).success).toBe(true);
      expect(message.channel).toBe(channel);
      expect(message).toMatchObject(expected);
    });

    it("has a message the gateway could not record (emit rejected) delivered again, and takes it once", async () => {
      await plugin.initialize(config, context);
      await until(() => plugin.status().state === "ready", "state ready");
      context.refuseNextEmits(1);
      const { webhook, expected } = await options.platform.injectInbound("refused at first");
      if (webhook !== undefined) {
        // Not acknowledged: the platform's retry signal (a 5xx), then its redelivery is taken.
        const refused = await plugin.handleWebhook!(webhook);
        expect(refused.status, "the answer to a webhook whose emit was refused").toBeGreaterThanOrEqual(500);
        expect(context.refused.map((message) => message.text)).toEqual(["refused at first"]);
        const again = options.platform.redeliverWebhook?.(webhook) ?? webhook;
        const taken = await plugin.handleWebhook!(again);
        expect(taken.status).toBeGreaterThanOrEqual(200);
        expect(taken.status).toBeLessThan(300);
      }
      // A pull or socket platform delivers it again, or the plugin emits it again, by itself.
      await until(
        () => context.emitted.some((message) => message.text === "refused at first"),
        "the refused message to be emitted again",
      );
      await deliverSentinel();
      expect(context.refused.map((message) => message.text)).toEqual(["refused at first"]);
      const taken = context.emitted.filter((message) => message.text === "refused at first");
      expect(taken).toHaveLength(1);
      expect(taken[0]).toMatchObject(expected);
    });

    it.skipIf(options.platform.forgedWebhook === undefined)(
      "refuses webhooks with a bad or missing signature, emitting nothing",
      async () => {
        await plugin.initialize(config, context);
        await until(() => plugin.status().state === "ready", "state ready");
        const response = await plugin.handleWebhook!(options.platform.forgedWebhook!());
        expect([401, 403]).toContain(response.status);
        await deliverSentinel();
        expect(context.emitted.map((message) => message.text)).toEqual(["conformance sentinel"]);
      },
    );

    it("raises typed errors: invalid settings, sends before start and after stop", async () => {
      const error = await options
        .createPlugin()
        .initialize(options.invalidConfig as C, createTestContext("bad", options.invalidConfig as C))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChannelError);
      expect(error).toMatchObject({ code: "INVALID_CONFIG" });
      await expect(plugin.send(recipient, { text: "too early" })).rejects.toMatchObject({
        code: "NOT_READY",
      });
      await plugin.initialize(config, context);
      await plugin.destroy();
      await plugin.destroy();
      await expect(plugin.send(recipient, { text: "too late" })).rejects.toMatchObject({ code: "NOT_READY" });
    });

    it.skipIf(options.platform.rateLimitNextSend === undefined)(
      "reports the platform's rate limit as RATE_LIMITED with retryAfterMs",
      async () => {
        await plugin.initialize(config, context);
        await until(() => plugin.status().state === "ready", "state ready");
        options.platform.rateLimitNextSend!(2000);
        const error = await plugin.send(recipient, { text: "slow down" }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ChannelError);
        expect(error).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 2000 });
        expect((error as ChannelError).toProtocolError().code).toBe("RATE_LIMITED");
      },
    );

    it.skipIf(maxTextLength === undefined)(
      "splits text longer than the channel's limit into several messages",
      async () => {
        const max = plugin.limits.maxTextLength!;
        await plugin.initialize(config, context);
        await until(() => plugin.status().state === "ready", "state ready");
        const before = options.platform.sentTexts().length;
        const words = "lorem ipsum dolor sit amet ".repeat(Math.ceil((max * 2.5) / 27));
        const result = await plugin.send(recipient, { text: words });
        expect(result.messageIds?.length).toBeGreaterThanOrEqual(3);
        await until(
          () => options.platform.sentTexts().length - before >= (result.messageIds?.length ?? 0),
          "every piece to reach the platform",
        );
        for (const text of options.platform.sentTexts().slice(before))
          expect(text.length).toBeLessThanOrEqual(max);
      },
    );
  });
}
