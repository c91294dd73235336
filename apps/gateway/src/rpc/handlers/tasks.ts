import type { TaskInfo } from "@openclaw/protocol";
import type { TaskFilters, TaskQueue, TaskRecord } from "@openclaw/task-queue";
import { cursorAfter, offsetOf } from "../../paging";
import type { MethodHandlers } from "../types";

/**
 * Tasks per `task.list` page when the request sets no `limit`.
 * @defaultValue 100
 */
export const DEFAULT_TASK_PAGE_SIZE = 100;

/** What `task.*` needs. */
export interface TaskHandlerContext {
  /** The task queue (throws `SHUTTING_DOWN` when not running). */
  tasks(): Pick<TaskQueue, "schedule" | "get" | "execute" | "cancel" | "list">;
}

/** `task.schedule`, `task.execute`, `task.cancel` and `task.list`. */
export function taskHandlers(
  context: TaskHandlerContext,
): Pick<MethodHandlers, "task.schedule" | "task.execute" | "task.cancel" | "task.list"> {
  return {
    "task.schedule": async (params) => {
      const tasks = context.tasks();
      const { type, payload, name, timeoutMs, maxAttempts, idempotencyKey, ...when } = params;
      const task = {
        type,
        payload,
        ...(name === undefined ? {} : { name }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(maxAttempts === undefined ? {} : { maxAttempts }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      };
      const schedule = Object.fromEntries(Object.entries(when).filter(([, value]) => value !== undefined));
      const taskId = await tasks.schedule(task, schedule);
      return { taskId, nextRunAt: tasks.get(taskId)?.nextRunAt ?? null };
    },

    "task.execute": async (params) =>
      context.tasks().execute({
        type: params.type,
        payload: params.payload,
        ...(params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs }),
      }),

    "task.cancel": async (params) => ({ cancelled: await context.tasks().cancel(params.taskId) }),

    "task.list": (params) => {
      const offset = offsetOf(params.cursor);
      const limit = params.limit ?? DEFAULT_TASK_PAGE_SIZE;
      const filters: TaskFilters = { offset, limit: limit + 1 };
      if (params.status !== undefined) filters.status = params.status;
      if (params.type !== undefined) filters.type = params.type;
      const page = context.tasks().list(filters);
      return {
        tasks: page.slice(0, limit).map(toTaskInfo),
        nextCursor: cursorAfter(offset, limit, page.length > limit),
      };
    },
  };
}

function toTaskInfo(record: TaskRecord): TaskInfo {
  const info: TaskInfo = {
    taskId: record.id,
    type: record.type,
    status: record.status,
    nextRunAt: record.nextRunAt,
    attempts: record.attempts,
    createdAt: record.createdAt,
    schedule:
      record.schedule.kind === "cron"
        ? { kind: "cron", expression: `${record.schedule.expression} (${record.schedule.timezone})` }
        : record.schedule.kind === "every"
          ? { kind: "every", expression: `${record.schedule.intervalMs} ms` }
          : { kind: "once" },
  };
  if (record.name !== undefined) info.name = record.name;
  if (record.lastRunAt !== undefined) info.lastRunAt = record.lastRunAt;
  return info;
}
