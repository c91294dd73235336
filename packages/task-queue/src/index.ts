/**
 * @packageDocumentation
 * Background jobs and schedules for the OpenClaw Gateway.
 */

// Moved to @openclaw/record-log; kept for one deprecation cycle.
export type { RecordLogOptions, RecordLogStats } from "./deprecated";
export { RecordLog } from "./deprecated";
export { nextOccurrence, planSchedule } from "./schedule";
export type { FileTaskStoreOptions, FileTaskStoreStats } from "./stores/FileTaskStore";
export { FileTaskStore } from "./stores/FileTaskStore";
export { MemoryTaskStore } from "./stores/MemoryTaskStore";
// Stores
export type { TaskStore, TaskStoreChange } from "./stores/TaskStore";
// Claims of task occurrences (several queues sharing their tasks)
export type { TaskClaims } from "./TaskClaims";
export { MemoryTaskClaims } from "./TaskClaims";
export type {
  CatchUpPolicy,
  TaskContext,
  TaskEvent,
  TaskHandler,
  TaskQueueEventMap,
  TaskQueueOptions,
} from "./TaskQueue";
export { DEFAULT_TASK_QUEUE_OPTIONS, TaskQueue } from "./TaskQueue";
export { TaskQueueError, TaskQueueErrorCode } from "./TaskQueueError";
export type {
  ScheduleOptions,
  Task,
  TaskErrorInfo,
  TaskFilters,
  TaskRecord,
  TaskResult,
  TaskSchedule,
  TaskStatus,
} from "./types";
