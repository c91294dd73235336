// `openclaw status --watch`: the Metrics view's figures in a terminal, a sample every --interval seconds.
import { type MetricsFigures, metricsFigures, type SystemMetrics } from "@openclaw/protocol";
import { type CommandContext, UsageError } from "./commands";
import { table } from "./output";

/** Seconds between two samples when `--interval` is not given. */
export const DEFAULT_WATCH_INTERVAL_S = 2;
/** The shortest `--interval` accepted, in seconds. */
export const MIN_WATCH_INTERVAL_S = 0.1;

/** A figure rounded to its size, or "–". */
function fmt(value: number | undefined, unit = ""): string {
  if (value === undefined) return "–";
  const rounded =
    Number.isInteger(value) || value >= 100 ? Math.round(value) : value.toFixed(value >= 10 ? 1 : 2);
  return `${rounded}${unit}`;
}

/** The lines a person reads for one sample. */
function human(ctx: CommandContext, f: MetricsFigures, intervalS: number): string {
  const { color } = ctx.out;
  const roles = Object.entries(f.connectionsByRole)
    .map(([role, count]) => `${count} ${role}`)
    .join(", ");
  return [
    `${color.bold("openclaw status --watch")} ${color.dim(`${new Date(f.ts).toLocaleTimeString()}, every ${intervalS} s (Ctrl-C to stop)`)}`,
    "",
    table(
      ["figure", "value"],
      [
        ["connections", `${f.connections}${roles === "" ? "" : ` (${roles})`}`],
        ["frames in / out", `${fmt(f.framesInPerSecond, "/s")} / ${fmt(f.framesOutPerSecond, "/s")}`],
        [
          "channel messages in / out",
          `${fmt(f.messagesInPerSecond, "/s")} / ${fmt(f.messagesOutPerSecond, "/s")}`,
        ],
        ["requests", fmt(f.requestsPerSecond, "/s")],
        ["request latency p50 / p99", `${fmt(f.requestP50Ms, " ms")} / ${fmt(f.requestP99Ms, " ms")}`],
        [
          "delivery queue",
          `${f.queueDepth} waiting, oldest ${fmt(f.queueOldestSeconds, " s")}, ${f.deadLetters} dead`,
        ],
        ["agent latency p50 / p99", `${fmt(f.agentP50Ms, " ms")} / ${fmt(f.agentP99Ms, " ms")}`],
      ],
    ),
  ].join("\n");
}

/**
 * Runs `openclaw status --watch`: samples `system.metrics` every `--interval` seconds (default
 * {@link DEFAULT_WATCH_INTERVAL_S}) and prints the rates and percentiles since the sample before,
 * until Ctrl-C (or `--count` samples). With `--json`, one {@link MetricsFigures} object per line.
 *
 * @param ctx - The command's context.
 */
export async function statusWatch(ctx: CommandContext): Promise<void> {
  const raw = ctx.flags.interval;
  const intervalS = raw === undefined ? DEFAULT_WATCH_INTERVAL_S : Number(raw);
  if (typeof raw !== "undefined" && typeof raw !== "string") throw new UsageError("--interval needs seconds");
  if (!Number.isFinite(intervalS) || intervalS < MIN_WATCH_INTERVAL_S)
    throw new UsageError(`--interval must be at least ${MIN_WATCH_INTERVAL_S} seconds, got "${String(raw)}"`);
  const countFlag = ctx.flags.count;
  const count = countFlag === undefined ? undefined : Number(countFlag);
  if (count !== undefined && (!Number.isInteger(count) || count < 1))
    throw new UsageError(`--count must be a whole number of samples, got "${String(countFlag)}"`);
  const tty = process.stdout.isTTY === true && !ctx.out.json;
  let stopped = false;
  void ctx.interrupted.then(() => {
    stopped = true;
  });
  let previous: SystemMetrics | undefined;
  for (let taken = 0; !stopped && (count === undefined || taken < count); taken++) {
    if (taken > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, intervalS * 1000);
        }),
        ctx.interrupted,
      ]);
      clearTimeout(timer);
      if (stopped) break;
    }
    // No spinner between samples: the request goes straight to the client.
    const current = await (await ctx.client()).request("system.metrics");
    const figures = metricsFigures(current, previous);
    previous = current;
    if (ctx.out.json) ctx.out.result(figures, () => "");
    // A terminal shows the latest sample in place; a pipe gets one block after another.
    else ctx.out.info(`${tty ? "\x1b[H\x1b[2J" : taken > 0 ? "\n" : ""}${human(ctx, figures, intervalS)}`);
  }
}
