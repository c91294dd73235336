import type { TaskRecord } from "../types";

/**
 * A change another queue made to a shared {@link TaskStore}, as {@link TaskStore.watch} reports it:
 * a record put, a record deleted, or every record at once (`reload`, after the store lost track of
 * the changes, e.g. while it could not reach its server: what is not in `records` is gone).
 */
export type TaskStoreChange =
  | { kind: "put"; record: TaskRecord }
  | { kind: "delete"; id: string }
  | { kind: "reload"; records: TaskRecord[] };

/**
 * Where a {@link TaskQueue} keeps its tasks. A write is durable once its promise resolves: after a
 * crash at any later point, `load` returns it. Implementations: {@link MemoryTaskStore} (nothing
 * survives the process) and {@link FileTaskStore} (an fsync'd append-only log in the state dir).
 * Every implementation should pass `runTaskStoreConformance` from `@openclaw/task-queue/testing`.
 *
 * A store several queues share (the instances of a gateway cluster, e.g. `RedisTaskStore` of
 * `@openclaw/redis`) implements {@link TaskStore.watch}: its queues then follow each other's
 * writes, and need `claims` so that each occurrence runs on one of them.
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
  /**
   * Only for a store shared by several queues: calls `listener` with each change that another
   * writer made (never this store object's own writes), in the order the store applied them, and
   * with a `reload` when it may have missed some. A queue whose store has `watch` is in shared mode.
   *
   * @param listener - Must not throw.
   * @returns Stops the calls.
   */
  watch?(listener: (change: TaskStoreChange) => void): () => void;
  /**
   * Only for a shared store: puts `record` unless a record with its id exists (whoever wrote it),
   * atomically. Shared-mode queues give tasks with an `idempotencyKey` an id made from the key and
   * insert them with this, so that queues scheduling the same key at the same moment (every
   * instance reconciling `config.cron` at start) make one task.
   *
   * @returns `true` when stored, `false` when the id was taken.
   */
  putIfAbsent?(record: TaskRecord): Promise<boolean>;
}
