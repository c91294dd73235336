// Figures for live charts from two successive `system.metrics` samples: rates and percentiles.
import type { MetricsHistogram, SystemMetrics } from "./schemas/system";

/** What a live view shows, from two successive {@link SystemMetrics} samples. */
export interface MetricsFigures {
  /** When the later sample was taken (server clock). */
  ts: number;
  /** Seconds between the two samples (0 for the first sample alone). */
  intervalSeconds: number;
  /** Open connections, every role together. */
  connections: number;
  /** Open connections by role. */
  connectionsByRole: Record<string, number>;
  /** WebSocket frames received per second. */
  framesInPerSecond: number;
  /** WebSocket frames sent per second. */
  framesOutPerSecond: number;
  /** Channel messages received from platforms per second. */
  messagesInPerSecond: number;
  /** Channel messages sent to platforms per second. */
  messagesOutPerSecond: number;
  /** Requests answered per second. */
  requestsPerSecond: number;
  /** Median request latency over the interval, in ms (`undefined`: no request). */
  requestP50Ms: number | undefined;
  /** 99th percentile request latency over the interval, in ms (`undefined`: no request). */
  requestP99Ms: number | undefined;
  /** Messages waiting in the delivery queue. */
  queueDepth: number;
  /** Age of the oldest waiting message, in seconds. */
  queueOldestSeconds: number;
  /** Dead letters kept. */
  deadLetters: number;
  /** Agent runs ended over the interval. */
  agentRuns: number;
  /** Median agent run latency over the interval, in ms (`undefined`: no run). */
  agentP50Ms: number | undefined;
  /** 99th percentile agent run latency over the interval, in ms (`undefined`: no run). */
  agentP99Ms: number | undefined;
}

/**
 * The `q` quantile of what a histogram observed after `previous` (all of it without one), as
 * Prometheus's `histogram_quantile` estimates it: linear within the bucket it falls in, the highest
 * finite bound when it falls in `+Inf`.
 *
 * @param current - The later histogram.
 * @param previous - The earlier one of the same series, or `undefined`.
 * @param q - The quantile, 0 to 1.
 * @returns Seconds, or `undefined` when nothing was observed in between.
 */
export function histogramQuantile(
  current: MetricsHistogram,
  previous: MetricsHistogram | undefined,
  q: number,
): number | undefined {
  const counts = current.counts.map((count, i) => count - (previous?.counts[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  // A restarted gateway counts from zero again: counts that went down are not a difference.
  if (total <= 0 || counts.some((count) => count < 0)) return undefined;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! < rank) continue;
    if (i >= current.bounds.length) return current.bounds[current.bounds.length - 1];
    const lower = i === 0 ? 0 : current.bounds[i - 1]!;
    const below = i === 0 ? 0 : counts[i - 1]!;
    const inBucket = counts[i]! - below;
    return inBucket <= 0 ? lower : lower + (current.bounds[i]! - lower) * ((rank - below) / inBucket);
  }
  return current.bounds[current.bounds.length - 1];
}

/**
 * The figures a live view shows: rates and latency percentiles over the interval between two
 * samples, gauges from the later one. With no earlier sample (or one from a gateway since
 * restarted) the rates are 0 and the percentiles cover everything since start.
 *
 * @param current - The later sample.
 * @param previous - The sample before it, if any.
 * @returns The figures.
 */
export function metricsFigures(current: SystemMetrics, previous?: SystemMetrics): MetricsFigures {
  const restarted =
    previous !== undefined &&
    (current.ts <= previous.ts ||
      current.frames.in < previous.frames.in ||
      current.instance !== previous.instance);
  const before = restarted ? undefined : previous;
  const seconds = before === undefined ? 0 : (current.ts - before.ts) / 1000;
  const rate = (now: number, then: number | undefined) =>
    then === undefined || seconds <= 0 ? 0 : Math.max(0, now - then) / seconds;
  const ms = (value: number | undefined) => (value === undefined ? undefined : value * 1000);
  const connections = Object.values(current.connections).reduce((sum, count) => sum + count, 0);
  return {
    ts: current.ts,
    intervalSeconds: seconds,
    connections,
    connectionsByRole: { ...current.connections },
    framesInPerSecond: rate(current.frames.in, before?.frames.in),
    framesOutPerSecond: rate(current.frames.out, before?.frames.out),
    messagesInPerSecond: rate(current.messages.in, before?.messages.in),
    messagesOutPerSecond: rate(current.messages.out, before?.messages.out),
    requestsPerSecond: rate(current.requests.count, before?.requests.count),
    requestP50Ms: ms(histogramQuantile(current.requests, before?.requests, 0.5)),
    requestP99Ms: ms(histogramQuantile(current.requests, before?.requests, 0.99)),
    queueDepth: current.delivery.depth,
    queueOldestSeconds: current.delivery.oldestAgeSeconds,
    deadLetters: current.delivery.deadLetters,
    agentRuns: Math.max(0, current.agentRuns.count - (before?.agentRuns.count ?? 0)),
    agentP50Ms: ms(histogramQuantile(current.agentRuns, before?.agentRuns, 0.5)),
    agentP99Ms: ms(histogramQuantile(current.agentRuns, before?.agentRuns, 0.99)),
  };
}
