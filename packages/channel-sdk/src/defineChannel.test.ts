import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { ChannelError, toChannelError } from "./ChannelError";
import { defineChannel } from "./defineChannel";
import { createTestContext } from "./testing/context";
import type { ChannelContext } from "./types";

/** An in-process channel whose behaviour each test steers. */
const makeFactory = (
  hooks: { start?: (ctx: ChannelContext<{ name: string }>) => void | Promise<void>; stop?: () => void } = {},
) => {
  const sent: Array<{ recipient: string; text: string | undefined }> = [];
  let stopped = 0;
  let context: ChannelContext<{ name: string }> | undefined;
  const factory = defineChannel({
    name: "memory",
    capabilities: ["text", "markdown"],
    limits: { maxTextLength: 10 },
    config: v.object({ name: v.pipe(v.string(), v.minLength(1)) }),
    create: () => ({
      async start(ctx) {
        context = ctx;
        await hooks.start?.(ctx);
      },
      send(recipient, content) {
        sent.push({ recipient, text: content.text });
        return { messageId: `m${sent.length}` };
      },
      stop() {
        stopped += 1;
        hooks.stop?.();
      },
      details: () => ({ bot: context?.config.name }),
    }),
  });
  return { factory, sent, stopped: () => stopped, context: () => context! };
};

describe("defineChannel", () => {
  it("describes the plugin and validates settings with its schema", async () => {
    const { factory } = makeFactory();
    expect(factory).toMatchObject({ name: "memory", capabilities: ["text", "markdown"] });
    expect(v.safeParse(factory.configSchema, { name: "bot" }).success).toBe(true);
    const error = await factory
      .create()
      .initialize({ name: "" }, createTestContext("mem", { name: "" }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_CONFIG" });
    expect((error as Error).message).toContain("name");
  });

  it("tracks health, merges plugin details, and forwards status reports", async () => {
    const { factory, context } = makeFactory();
    const plugin = factory.create();
    expect(plugin.status().state).toBe("stopped");
    const ctx = createTestContext("mem", { name: "bot" });
    await plugin.initialize({ name: "bot" }, ctx);
    expect(plugin.status()).toMatchObject({ state: "ready", details: { bot: "bot" } });
    context().setStatus("degraded", { error: new ChannelError("PLATFORM_UNAVAILABLE", "poll stalled") });
    expect(plugin.status()).toMatchObject({
      state: "degraded",
      lastError: { code: "PLATFORM_UNAVAILABLE", message: "poll stalled" },
    });
    expect(ctx.statuses).toEqual(["degraded"]);
    await plugin.destroy();
    expect(plugin.status().state).toBe("stopped");
  });

  it("fills channel and timestamp of emitted messages, and refuses malformed ones", async () => {
    const { factory, context } = makeFactory();
    const plugin = factory.create();
    const ctx = createTestContext("mem", { name: "bot" });
    await plugin.initialize({ name: "bot" }, ctx);
    context().emit({ id: "1", conversationId: "c", sender: { id: "u" }, text: "hi" });
    expect(ctx.emitted[0]).toMatchObject({ id: "1", channel: "mem", text: "hi" });
    expect(typeof ctx.emitted[0]?.timestamp).toBe("number");
    expect(() => context().emit({ id: "", conversationId: "c", sender: { id: "u" } })).toThrow(
      expect.objectContaining({ code: "INTERNAL" }),
    );
    expect(ctx.emitted).toHaveLength(1);
    await plugin.destroy();
  });

  it("splits long text and returns every id", async () => {
    const { factory, sent } = makeFactory();
    const plugin = factory.create();
    await plugin.initialize({ name: "bot" }, createTestContext("mem", { name: "bot" }));
    const result = await plugin.send("u", { text: "one two three four five" });
    expect(sent.map((s) => s.text)).toEqual(["one two", "three four", "five"]);
    expect(result).toEqual({ messageId: "m1", messageIds: ["m1", "m2", "m3"] });
    await expect(plugin.send("", { text: "x" })).rejects.toMatchObject({ code: "RECIPIENT_NOT_FOUND" });
    await expect(plugin.send("u", { text: "" })).rejects.toMatchObject({ code: "UNSUPPORTED_CONTENT" });
    await plugin.destroy();
  });

  it("cleans up and reports down when start fails, wrapping unknown errors", async () => {
    const { factory, stopped } = makeFactory({
      start: () => {
        throw new Error("ECONNREFUSED");
      },
    });
    const plugin = factory.create();
    const error = await plugin
      .initialize({ name: "bot" }, createTestContext("mem", { name: "bot" }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ChannelError", code: "INTERNAL", message: "ECONNREFUSED" });
    expect(stopped()).toBe(1);
    expect(plugin.status()).toMatchObject({ state: "down", lastError: { message: "ECONNREFUSED" } });
  });

  it("aborts the context signal on destroy", async () => {
    const { factory, context } = makeFactory();
    const plugin = factory.create();
    await plugin.initialize({ name: "bot" }, createTestContext("mem", { name: "bot" }));
    const signal = context().signal;
    expect(signal.aborted).toBe(false);
    await plugin.destroy();
    expect(signal.aborted).toBe(true);
  });
});

describe("defineChannel placement", () => {
  const base = {
    name: "p",
    capabilities: ["text"] as const,
    config: v.object({ mode: v.picklist(["poll", "hook"]) }),
    create: () => ({ start() {}, send: () => ({ messageId: "1" }), stop() {} }),
  };

  it("leaves placement out by default (the host reads it as leased)", () => {
    expect(defineChannel(base).placement).toBeUndefined();
  });

  it("passes a fixed placement, or decides it from the channel's settings", () => {
    expect(defineChannel({ ...base, placement: "everywhere" }).placement?.({ mode: "poll" })).toBe(
      "everywhere",
    );
    const byMode = defineChannel({
      ...base,
      placement: (config) => (config.mode === "hook" ? "everywhere" : "leased"),
    });
    expect(byMode.placement?.({ mode: "hook" })).toBe("everywhere");
    expect(byMode.placement?.({ mode: "poll" })).toBe("leased");
  });
});

describe("ChannelError", () => {
  it("maps to wire codes and knows what is retryable", () => {
    expect(new ChannelError("AUTH_FAILED", "x").toProtocolError().code).toBe("CHANNEL_UNAVAILABLE");
    expect(new ChannelError("RECIPIENT_NOT_FOUND", "x").toProtocolError().code).toBe("NOT_FOUND");
    expect(new ChannelError("AUTH_FAILED", "x").retryable).toBe(false);
    expect(new ChannelError("RATE_LIMITED", "x", { retryAfterMs: 5 }).retryable).toBe(true);
    expect(toChannelError("boom")).toMatchObject({ code: "INTERNAL", message: "boom" });
    const known = new ChannelError("RATE_LIMITED", "x");
    expect(toChannelError(known)).toBe(known);
  });
});
