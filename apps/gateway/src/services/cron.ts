import { createHash } from "node:crypto";
import { type Config, stableStringify } from "@openclaw/config";
import type { TaskQueue } from "@openclaw/task-queue";
import type { Logger } from "../logging";

/**
 * The idempotency key of a cron job's task: the job's id and a hash of its definition, so that a
 * restart does not duplicate it and a changed job gets a new task.
 */
export function cronTaskKey(job: Config["cron"][number]): string {
  const hash = createHash("sha256")
    .update(stableStringify([job.schedule, job.timezone, job.type, job.payload]))
    .digest("hex")
    .slice(0, 16);
  return `cron:${job.id}:${hash}`;
}

/**
 * Makes the scheduled tasks match `config.cron`: one task per enabled job; tasks of removed or
 * changed jobs are cancelled. A job that cannot be scheduled is logged and skipped.
 *
 * @param tasks - The task queue.
 * @param cron - The configured jobs.
 * @param logger - Where failures are logged.
 */
export async function reconcileCron(
  tasks: Pick<TaskQueue, "list" | "cancel" | "schedule">,
  cron: Config["cron"],
  logger: Logger,
): Promise<void> {
  const wanted = new Map<string, Config["cron"][number]>();
  for (const job of cron) if (job.enabled !== false) wanted.set(cronTaskKey(job), job);
  for (const task of tasks.list({ status: "scheduled" })) {
    if (task.idempotencyKey?.startsWith("cron:") === true && !wanted.has(task.idempotencyKey))
      await tasks.cancel(task.id);
  }
  for (const [key, job] of wanted) {
    try {
      await tasks.schedule(
        { type: job.type, payload: job.payload, name: `cron ${job.id}`, idempotencyKey: key },
        { cron: job.schedule, timezone: job.timezone },
      );
    } catch (error) {
      logger.error({ job: job.id, err: (error as Error).message }, "cron job could not be scheduled");
    }
  }
}
