import { join } from "node:path";
import type { TaskStoreFactory } from "@openclaw/backend";
import { parseParams } from "@openclaw/protocol";
import { FileTaskStore, type TaskClaims, TaskQueue } from "@openclaw/task-queue";
import type { EventSink } from "../broadcast/Broadcaster";
import type { Logger } from "../logging";
import type { AgentRunner } from "./AgentRunner";
import type { Messaging } from "./Messaging";

/** The default {@link TaskStoreFactory}: a `FileTaskStore` under `<state dir>/tasks`. */
export const openFileTaskStore: TaskStoreFactory = ({ stateDir }) =>
  FileTaskStore.open({ dir: join(stateDir, "tasks") });

/** What the task queue's built-in task types need. */
export interface TaskQueueContext {
  readonly stateDir: string;
  readonly logger: Logger;
  readonly events: EventSink;
  readonly messaging: Pick<Messaging, "sendMessage">;
  readonly agents: Pick<AgentRunner, "runAgent">;
  /**
   * Claims shared with the other instances of a cluster: each cron tick and scheduled task runs on
   * the instance that claims it.
   * @defaultValue none: every task runs here
   */
  readonly claims?: TaskClaims | undefined;
  /**
   * Opens the queue's store. A shared one (every instance of a cluster on one Redis store) makes a
   * task accepted by any instance run on some live instance, and `task.list` the same everywhere.
   * @defaultValue {@link openFileTaskStore}: this instance's own file store
   */
  readonly store?: TaskStoreFactory | undefined;
}

/**
 * Opens the task queue (by default under `<state dir>/tasks`) with the built-in task types
 * (`message.send`, `agent.run`, `noop`), relays its events to the clients, and starts it. In a
 * cluster each instance runs its own queue over the store they share, and reconciles the cron jobs
 * in it (one task per job: the job's key names it); the shared `claims` make each occurrence run on
 * one instance.
 *
 * @returns The running queue.
 */
export async function startTaskQueue(context: TaskQueueContext): Promise<TaskQueue> {
  const store = await (context.store ?? openFileTaskStore)({ stateDir: context.stateDir });
  const queue = new TaskQueue(context.claims === undefined ? { store } : { store, claims: context.claims });
  queue.register("message.send", async (payload) => {
    const parsed = parseParams("message.send", payload);
    if (!parsed.ok) throw parsed.error;
    return context.messaging.sendMessage(parsed.value);
  });
  queue.register("agent.run", async (payload) => {
    const { target, ...rest } = (payload ?? {}) as Record<string, unknown>;
    const parsed = parseParams("agent.run", rest);
    if (!parsed.ok) throw parsed.error;
    return context.agents.runAgent(parsed.value, typeof target === "string" ? target : undefined);
  });
  queue.register("noop", () => null);
  for (const name of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const) {
    queue.on(name, (event) => context.events.broadcast(name, event));
  }
  queue.on("error", (error) => context.logger.error({ err: error }, "task store error"));
  await queue.start();
  return queue;
}
