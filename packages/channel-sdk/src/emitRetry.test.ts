import * as v from "valibot";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ChannelError } from "./ChannelError";
import { defineChannel } from "./defineChannel";
import {
  EMIT_RETRY_DEFAULTS,
  emitUntilTaken,
  INBOUND_RETRIER_DEFAULTS,
  InboundRetrier,
  isHostUnavailable,
} from "./emitRetry";
import { createTestContext } from "./testing/context";
import type { ChannelContext } from "./types";

const message = { id: "m1", conversationId: "c1", sender: { id: "u1" }, text: "hi" };

describe("a refused emit (the gateway could not record the message)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reaches the plugin as HOST_UNAVAILABLE whatever the host rejected with, and a webhook gets 503", async () => {
    let context: ChannelContext<{ name: string }> | undefined;
    const factory = defineChannel({
      name: "hooked",
      capabilities: ["text"],
      limits: {},
      webhooks: true,
      config: v.object({ name: v.string() }),
      create: () => ({
        start(ctx) {
          context = ctx;
        },
        send: () => ({ messageId: "x" }),
        async webhook() {
          await context!.emit(message);
          return { status: 200 };
        },
        stop() {},
      }),
    });
    const plugin = factory.create();
    const host = createTestContext("hooked", { name: "n" });
    const disk = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    await plugin.initialize({ name: "n" }, { ...host, emit: () => Promise.reject(disk) });
    const refused = await context!.emit(message).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ChannelError);
    expect(refused).toMatchObject({ code: "HOST_UNAVAILABLE", cause: disk, retryable: true });
    expect((refused as ChannelError).toProtocolError().code).toBe("UNAVAILABLE");
    const answer = await plugin.handleWebhook!({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body: new Uint8Array(),
    });
    expect(answer.status).toBe(503);
    await plugin.destroy();
  });

  it("tells HOST_UNAVAILABLE through wrappers (cause, error, original) from anything else", () => {
    const refused = new ChannelError("HOST_UNAVAILABLE", "not recorded");
    expect(isHostUnavailable(refused)).toBe(true);
    expect(isHostUnavailable(new Error("wrapped", { cause: refused }))).toBe(true);
    expect(isHostUnavailable({ error: { original: refused } })).toBe(true);
    expect(isHostUnavailable(new ChannelError("INTERNAL", "a plugin bug"))).toBe(false);
    expect(isHostUnavailable(new TypeError("x is undefined"))).toBe(false);
    expect(isHostUnavailable(undefined)).toBe(false);
  });

  it("emitUntilTaken emits again with doubling waits until taken, and stops with the channel", async () => {
    vi.useFakeTimers();
    const context = createTestContext("retry", {});
    context.refuseNextEmits(3);
    const done = emitUntilTaken(context, message, { initialDelayMs: 100, maxDelayMs: 250 });
    await vi.advanceTimersByTimeAsync(0);
    expect(context.refused).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(context.refused).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(context.refused).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(context.refused).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(250); // capped at maxDelayMs
    await done;
    expect(context.emitted).toHaveLength(1);
    expect(context.logs.filter((l) => l.level === "warn")).toHaveLength(3);

    const stopping = createTestContext("retry", {});
    stopping.refuseNextEmits(1);
    const abandoned = emitUntilTaken(stopping, message).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(0);
    stopping.abort();
    expect(await abandoned).toMatchObject({ code: "NOT_READY" });
    expect(vi.getTimerCount()).toBe(0);
    expect(EMIT_RETRY_DEFAULTS).toEqual({ initialDelayMs: 250, maxDelayMs: 30_000 });
  });

  it("emitUntilTaken passes any other error on at once", async () => {
    const context = {
      ...createTestContext("retry", {}),
      emit: () => Promise.reject(new ChannelError("INTERNAL", "invalid message")),
    };
    await expect(emitUntilTaken(context, message)).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("InboundRetrier holds at most maxHeld refused messages, dropping (and logging) the ones beyond", async () => {
    vi.useFakeTimers();
    const context = createTestContext("retrier", {});
    context.refuseNextEmits(4);
    const retrier = new InboundRetrier(context, { maxHeld: 2, initialDelayMs: 100 });
    expect(retrier.emit({ ...message, id: "a", text: "a" })).toBe(true);
    expect(retrier.emit({ ...message, id: "b", text: "b" })).toBe(true);
    expect(retrier.emit({ ...message, id: "c", text: "c" })).toBe(false);
    expect(retrier.held).toBe(2);
    expect(context.logs.some((l) => l.level === "error" && l.fields?.messageId === "c")).toBe(true);
    await vi.advanceTimersByTimeAsync(100); // both refused again (4 refusals in all), then taken
    await vi.advanceTimersByTimeAsync(200);
    expect(context.emitted.map((m) => m.text).sort()).toEqual(["a", "b"]);
    expect(retrier.held).toBe(0);
    expect(retrier.emit({ ...message, id: "d", text: "d" })).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(context.emitted.map((m) => m.text)).toContain("d");
    expect(INBOUND_RETRIER_DEFAULTS.maxHeld).toBe(10_000);
  });
});
