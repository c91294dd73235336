import type { TaskRecord } from "../types";

/**
 * Where a {@link TaskQueue} keeps its tasks. A write is durable once its promise resolves: after a
 * crash at any later point, `load` returns it. Implementations: {@link MemoryTaskStore} (nothing
 * survives the process) and {@link FileTaskStore} (an fsync'd append-only log in the state dir).
 * Every implementation should pass `runTaskStoreConformance` from `@openclaw/task-queue/testing`.
 */
export interface TaskStore {
  /** Every stored record, in the order they were first written. */
  load(): Promise<TaskRecord[]>;
  /** Inserts or replaces a record (by `id`). */
  put(record: TaskRecord): Promise<void>;
  /** Removes a record; removing an unknown id is not an error. */
  delete(id: string): Promise<void>;
  /** Flushes and releases the store (files, locks). Further calls fail. */
  close(): Promise<void>;
}
