import { describe, expect, it } from "vitest";
import { histogramQuantile, metricsFigures } from "./metrics";
import type { SystemMetrics } from "./schemas/system";

const bounds = [0.001, 0.01, 0.1];

function sample(ts: number, requests: number[], framesIn: number): SystemMetrics {
  return {
    ts,
    connections: { operator: 2, node: 1 },
    frames: { in: framesIn, out: framesIn },
    messages: { in: 0, out: 0, failed: 0 },
    requests: { bounds, counts: requests, count: requests.at(-1)!, sum: 0 },
    agentRuns: { bounds, counts: [0, 0, 0, 0], count: 0, sum: 0 },
    delivery: { depth: 3, oldestAgeSeconds: 4, deadLetters: 1 },
  };
}

describe("histogramQuantile", () => {
  it("interpolates within the bucket the rank falls in, as Prometheus does", () => {
    const h = { bounds, counts: [0, 100, 100, 100], count: 100, sum: 0 };
    // Every value in (0.001, 0.01]: the median is half way through it.
    expect(histogramQuantile(h, undefined, 0.5)).toBeCloseTo(0.0055, 6);
    expect(histogramQuantile(h, undefined, 0.99)).toBeCloseTo(0.00991, 6);
  });

  it("takes only what was observed since the earlier histogram, and the top bound for +Inf", () => {
    const before = { bounds, counts: [50, 50, 50, 50], count: 50, sum: 0 };
    const after = { bounds, counts: [50, 50, 50, 60], count: 60, sum: 0 };
    expect(histogramQuantile(after, before, 0.5)).toBe(0.1);
    expect(histogramQuantile(before, before, 0.5)).toBeUndefined();
    // Counts that went down (a restarted gateway) are no difference.
    expect(histogramQuantile(before, after, 0.5)).toBeUndefined();
  });
});

describe("metricsFigures", () => {
  it("rates per second over the interval; gauges from the later sample", () => {
    const first = sample(10_000, [10, 10, 10, 10], 100);
    const second = sample(12_000, [10, 30, 30, 30], 300);
    expect(metricsFigures(first)).toMatchObject({ intervalSeconds: 0, framesInPerSecond: 0, connections: 3 });
    const f = metricsFigures(second, first);
    expect(f).toMatchObject({
      intervalSeconds: 2,
      framesInPerSecond: 100,
      requestsPerSecond: 10,
      queueDepth: 3,
      queueOldestSeconds: 4,
      deadLetters: 1,
      agentRuns: 0,
      agentP50Ms: undefined,
    });
    expect(f.requestP50Ms).toBeCloseTo(5.5, 6);
    // A restarted gateway (counters lower): no rate rather than a negative one.
    expect(metricsFigures(first, second)).toMatchObject({ intervalSeconds: 0, framesInPerSecond: 0 });
  });
});
