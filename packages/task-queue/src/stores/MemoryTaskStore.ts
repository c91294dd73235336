import { TaskQueueError } from "../TaskQueueError";
import type { TaskRecord } from "../types";
import type { TaskStore } from "./TaskStore";

/** A {@link TaskStore} in memory: fast, and empty after a restart. */
export class MemoryTaskStore implements TaskStore {
  readonly #records = new Map<string, TaskRecord>();
  #closed = false;

  async load(): Promise<TaskRecord[]> {
    this.#assertOpen();
    return [...this.#records.values()].map((record) => structuredClone(record));
  }

  async put(record: TaskRecord): Promise<void> {
    this.#assertOpen();
    this.#records.set(record.id, structuredClone(record));
  }

  async delete(id: string): Promise<void> {
    this.#assertOpen();
    this.#records.delete(id);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new TaskQueueError("SHUTTING_DOWN", "the task store is closed", {
        details: { reason: "store_closed" },
      });
  }
}
