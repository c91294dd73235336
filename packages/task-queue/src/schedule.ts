import { Cron } from "croner";
import { TaskQueueError } from "./TaskQueueError";
import type { ScheduleOptions, TaskSchedule } from "./types";

/** The largest delay a timer can hold (about 24.8 days); longer waits re-arm. */
export const MAX_TIMER_MS = 2_147_483_647;

const crons = new Map<string, Cron>();

function cronFor(expression: string, timezone: string): Cron {
  const key = `${timezone}\u0000${expression}`;
  let cron = crons.get(key);
  if (cron === undefined) {
    cron = new Cron(expression, { timezone, paused: true });
    if (crons.size > 1000) crons.clear();
    crons.set(key, cron);
  }
  return cron;
}

/**
 * Turns {@link ScheduleOptions} into a schedule and the first run time.
 *
 * @param options - At most one of `at`, `delayMs`, `cron`, `every`.
 * @param now - The current time.
 * @returns The schedule and when it first runs.
 * @throws {@link TaskQueueError} `INVALID_PARAMS` for conflicting or invalid options.
 */
export function planSchedule(
  options: ScheduleOptions,
  now: number,
): { schedule: TaskSchedule; firstRunAt: number } {
  const given = (["at", "delayMs", "cron", "every"] as const).filter((key) => options[key] !== undefined);
  if (given.length > 1) {
    throw invalid(
      `give at most one of at, delayMs, cron and every (got ${given.join(", ")})`,
      "conflicting_schedule",
    );
  }
  if (options.timezone !== undefined && options.cron === undefined)
    throw invalid("timezone only applies to cron", "timezone_without_cron");
  if (options.at !== undefined) {
    const at = options.at instanceof Date ? options.at.getTime() : options.at;
    if (!Number.isFinite(at)) throw invalid("at must be a valid time", "invalid_at");
    return { schedule: { kind: "once" }, firstRunAt: Math.max(now, at) };
  }
  if (options.delayMs !== undefined) {
    if (!Number.isFinite(options.delayMs) || options.delayMs < 0)
      throw invalid("delayMs must be a non-negative number", "invalid_delay");
    return { schedule: { kind: "once" }, firstRunAt: now + options.delayMs };
  }
  if (options.every !== undefined) {
    if (!Number.isFinite(options.every) || options.every < 1)
      throw invalid("every must be a positive number of milliseconds", "invalid_every");
    return { schedule: { kind: "every", intervalMs: options.every }, firstRunAt: now + options.every };
  }
  if (options.cron !== undefined) {
    const timezone = options.timezone ?? "UTC";
    const schedule: TaskSchedule = { kind: "cron", expression: options.cron, timezone };
    let firstRunAt: number | null;
    try {
      // croner reports a bad time zone only when computing a run, so compute one here.
      firstRunAt = nextOccurrence(schedule, now);
    } catch (error) {
      crons.delete(`${timezone}\u0000${options.cron}`);
      throw invalid(
        `invalid cron expression or time zone: ${(error as Error).message}`,
        "invalid_cron",
        error,
      );
    }
    if (firstRunAt === null) throw invalid(`cron expression "${options.cron}" never fires`, "invalid_cron");
    return { schedule, firstRunAt };
  }
  return { schedule: { kind: "once" }, firstRunAt: now };
}

/**
 * When a recurring schedule fires next, strictly after `from`.
 *
 * @param schedule - The schedule.
 * @param from - The reference time.
 * @returns The next time, or `null` for a one-off schedule (or a cron that never fires again).
 */
export function nextOccurrence(schedule: TaskSchedule, from: number): number | null {
  switch (schedule.kind) {
    case "once":
      return null;
    case "every":
      return from + schedule.intervalMs;
    case "cron":
      return cronFor(schedule.expression, schedule.timezone).nextRun(new Date(from))?.getTime() ?? null;
  }
}

function invalid(message: string, reason: string, cause?: unknown): TaskQueueError {
  return new TaskQueueError("INVALID_PARAMS", message, { details: { reason }, cause });
}
