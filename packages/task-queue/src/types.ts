/** A unit of background work: a handler type and its payload. */
export interface Task {
  /** Which registered handler runs it. */
  type: string;
  /** Passed to the handler; must be JSON-serialisable (it is persisted). */
  payload?: unknown;
  /** A human label. */
  name?: string;
  /** Time limit of one attempt; overrides the queue's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** Attempts before the run is given up; overrides the queue's `defaultMaxAttempts`. */
  maxAttempts?: number;
  /** A repeat of `schedule` with the same key returns the first task's id and schedules nothing. */
  idempotencyKey?: string;
}

/** When a task runs. Give at most one; with none it runs as soon as possible. */
export interface ScheduleOptions {
  /** Once, at this time (ms since epoch, or a `Date`). */
  at?: number | Date;
  /** Once, after this many milliseconds. */
  delayMs?: number;
  /** On a cron expression (5 or 6 fields, as croner reads them). */
  cron?: string;
  /** IANA time zone for `cron`, e.g. `Europe/Berlin`. Default UTC. */
  timezone?: string;
  /** Repeatedly, every this many milliseconds. */
  every?: number;
}

/** How a task recurs. */
export type TaskSchedule =
  | { kind: "once" }
  | { kind: "cron"; expression: string; timezone: string }
  | { kind: "every"; intervalMs: number };

/** A task's lifecycle state. */
export type TaskStatus = "scheduled" | "running" | "completed" | "failed" | "cancelled";

/** Why a task failed. */
export interface TaskErrorInfo {
  code: string;
  message: string;
}

/** Everything the queue knows of a task; this is what stores persist. */
export interface TaskRecord {
  id: string;
  type: string;
  payload?: unknown;
  name?: string;
  status: TaskStatus;
  schedule: TaskSchedule;
  /** When the next attempt is due; null once nothing more will run. */
  nextRunAt: number | null;
  /** Attempts made in the current run (reset for each occurrence of a recurring task). */
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  createdAt: number;
  updatedAt: number;
  lastRunAt?: number;
  result?: unknown;
  lastError?: TaskErrorInfo;
  idempotencyKey?: string;
}

/** The outcome of {@link TaskQueue.execute}. */
export interface TaskResult {
  taskId: string;
  status: "completed" | "failed";
  result?: unknown;
  error?: TaskErrorInfo;
  attempts: number;
  durationMs: number;
}

/** Filters of {@link TaskQueue.list}. */
export interface TaskFilters {
  status?: TaskStatus;
  type?: string;
  /** At most this many, soonest due first. */
  limit?: number;
  /** Skip this many matches first (for paging). */
  offset?: number;
}
