import type { TaskStore } from "@openclaw/task-queue";

/**
 * Opens the store of the task queue, at start.
 *
 * @param options - `stateDir`: the instance's state dir (the file store's home; a shared store
 *   ignores it).
 * @returns The store; a store with `watch` is shared with other instances (see `TaskStore`).
 */
export type TaskStoreFactory = (options: { stateDir: string }) => TaskStore | Promise<TaskStore>;
