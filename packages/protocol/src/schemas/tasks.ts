import * as v from "valibot";
import { DurationMsSchema, IdempotencyKeySchema, IdSchema, LimitSchema, TimestampSchema } from "./common";

const TaskTypeSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(128));

/** A task's lifecycle state. */
export const TaskStatusSchema = v.picklist(["scheduled", "running", "completed", "failed", "cancelled"]);

/**
 * `task.schedule` params. Give at most one of `at`, `delayMs`, `cron` and `every`;
 * with none the task runs as soon as possible.
 */
export const TaskScheduleParamsSchema = v.pipe(
  v.object({
    type: TaskTypeSchema,
    payload: v.optional(v.unknown()),
    name: v.optional(v.pipe(v.string(), v.maxLength(200))),
    /** Run once at this time (ms since epoch). */
    at: v.optional(TimestampSchema),
    /** Run once after this delay. */
    delayMs: v.optional(DurationMsSchema),
    /** Run on this cron expression (5 or 6 fields). */
    cron: v.optional(v.pipe(v.string(), v.minLength(9), v.maxLength(200))),
    /** IANA time zone for `cron`, e.g. `Europe/Berlin`. Defaults to UTC. */
    timezone: v.optional(v.pipe(v.string(), v.maxLength(64))),
    /** Run repeatedly at this interval, in milliseconds (at least 1000). */
    every: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(2_147_483_647))),
    timeoutMs: v.optional(v.pipe(DurationMsSchema, v.minValue(1))),
    maxAttempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100))),
    idempotencyKey: v.optional(IdempotencyKeySchema),
  }),
  v.check(
    (p) => [p.at, p.delayMs, p.cron, p.every].filter((x) => x !== undefined).length <= 1,
    "give at most one of at, delayMs, cron and every",
  ),
  v.check((p) => p.timezone === undefined || p.cron !== undefined, "timezone only applies to cron"),
);

/** `task.schedule` result. */
export const TaskScheduleResultSchema = v.object({
  taskId: IdSchema,
  nextRunAt: v.nullable(TimestampSchema),
});

/** `task.execute` params: run a task now and wait for its result. */
export const TaskExecuteParamsSchema = v.object({
  type: TaskTypeSchema,
  payload: v.optional(v.unknown()),
  timeoutMs: v.optional(v.pipe(DurationMsSchema, v.minValue(1))),
});

/** The outcome of one task run. */
export const TaskResultSchema = v.object({
  taskId: IdSchema,
  status: v.picklist(["completed", "failed"]),
  result: v.optional(v.unknown()),
  error: v.optional(v.object({ code: v.string(), message: v.string() })),
  attempts: v.pipe(v.number(), v.integer(), v.minValue(1)),
  durationMs: v.number(),
});

/** `task.cancel` params. */
export const TaskCancelParamsSchema = v.object({ taskId: IdSchema });
/** `task.cancel` result. */
export const TaskCancelResultSchema = v.object({ cancelled: v.boolean() });

/** `task.list` params: filters. */
export const TaskListParamsSchema = v.optional(
  v.object({
    status: v.optional(TaskStatusSchema),
    type: v.optional(TaskTypeSchema),
    limit: v.optional(LimitSchema),
    /** Opaque cursor from a previous page's `nextCursor`. */
    cursor: v.optional(v.pipe(v.string(), v.maxLength(500))),
  }),
  {},
);

/** A task as listed. */
export const TaskInfoSchema = v.object({
  taskId: IdSchema,
  type: v.string(),
  name: v.optional(v.string()),
  status: TaskStatusSchema,
  schedule: v.optional(
    v.object({ kind: v.picklist(["once", "cron", "every"]), expression: v.optional(v.string()) }),
  ),
  nextRunAt: v.nullable(TimestampSchema),
  lastRunAt: v.optional(TimestampSchema),
  attempts: v.number(),
  createdAt: TimestampSchema,
});

/** `task.list` result. */
export const TaskListResultSchema = v.object({
  tasks: v.array(TaskInfoSchema),
  /** The cursor of the next page; `null` on the last one (absent from gateways before paging). */
  nextCursor: v.optional(v.nullable(v.string())),
});

/** `task.started`, `task.completed`, `task.failed` and `task.cancelled` event payload. */
export const TaskEventSchema = v.object({
  taskId: IdSchema,
  type: v.string(),
  attempt: v.number(),
  result: v.optional(v.unknown()),
  error: v.optional(v.object({ code: v.string(), message: v.string() })),
  /** For `task.failed`: whether another attempt is scheduled. */
  willRetry: v.optional(v.boolean()),
});

/** A task's state. */
export type TaskStatus = v.InferOutput<typeof TaskStatusSchema>;
/** `task.schedule` params. */
export type TaskScheduleParams = v.InferOutput<typeof TaskScheduleParamsSchema>;
/** The outcome of a task run. */
export type TaskResult = v.InferOutput<typeof TaskResultSchema>;
/** A task as listed. */
export type TaskInfo = v.InferOutput<typeof TaskInfoSchema>;
