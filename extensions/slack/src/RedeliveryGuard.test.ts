import { describe, expect, it, vi } from "vitest";
import { RedeliveryGuard } from "./RedeliveryGuard";

describe("RedeliveryGuard", () => {
  it("runs once per key; a repeat in flight waits for the first", async () => {
    const guard = new RedeliveryGuard({ maxEntries: 10, ttlMs: 60_000 });
    let release!: () => void;
    const work = vi.fn(() => new Promise<string>((resolve) => (release = () => resolve("done"))));
    const first = guard.run("k", work);
    let repeatSettled = false;
    const repeat = guard.run("k", work).then((r) => {
      repeatSettled = true;
      return r;
    });
    await Promise.resolve();
    expect(repeatSettled).toBe(false);
    release();
    expect(await first).toEqual({ first: true, value: "done" });
    expect(await repeat).toEqual({ first: false });
    expect(await guard.run("k", work)).toEqual({ first: false });
    expect(work).toHaveBeenCalledTimes(1);
  });

  it("lets a repeat run again when the first failed", async () => {
    const guard = new RedeliveryGuard({ maxEntries: 10, ttlMs: 60_000 });
    await expect(guard.run("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await guard.run("k", async () => 1)).toEqual({ first: true, value: 1 });
  });

  it("is bounded by count and age", async () => {
    vi.useFakeTimers();
    try {
      const guard = new RedeliveryGuard({ maxEntries: 3, ttlMs: 1000 });
      for (const key of ["a", "b", "c", "d"]) await guard.run(key, async () => key);
      expect(guard.size).toBe(3);
      expect(await guard.run("a", async () => "again")).toEqual({ first: true, value: "again" });
      vi.advanceTimersByTime(1001);
      expect(await guard.run("d", async () => "later")).toEqual({ first: true, value: "later" });
      expect(guard.size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
