import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff";

describe("backoffDelay", () => {
  it("grows exponentially from the initial delay up to the cap", () => {
    const noJitter = { jitter: 0 };
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, noJitter))).toEqual([
      500, 1000, 2000, 4000, 8000,
    ]);
    expect(backoffDelay(30, noJitter)).toBe(DEFAULT_BACKOFF.maxDelayMs);
    expect(backoffDelay(10_000, noJitter)).toBe(DEFAULT_BACKOFF.maxDelayMs);
  });

  it("spreads by at most ±jitter and stays within [0, max]", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (attempt, r) => {
          const delay = backoffDelay(
            attempt,
            { initialDelayMs: 100, maxDelayMs: 5000, jitter: 0.5 },
            () => r,
          );
          const base = Math.min(5000, 100 * 2 ** (attempt - 1));
          expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.5));
          expect(delay).toBeLessThanOrEqual(5000);
        },
      ),
    );
  });

  it("actually randomises, so that clients do not reconnect in lockstep", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
    expect(delays.size).toBeGreaterThan(10);
  });
});
