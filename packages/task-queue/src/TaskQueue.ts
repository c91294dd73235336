import { ProtocolError } from "@openclaw/protocol";
import { EventEmitter } from "eventemitter3";
import { DueHeap } from "./DueHeap";
import { MAX_TIMER_MS, nextOccurrence, planSchedule } from "./schedule";
import { MemoryTaskStore } from "./stores/MemoryTaskStore";
import type { TaskStore, TaskStoreChange } from "./stores/TaskStore";
import type { TaskClaims } from "./TaskClaims";
import { TaskQueueError } from "./TaskQueueError";
import type { ScheduleOptions, Task, TaskErrorInfo, TaskFilters, TaskRecord, TaskResult } from "./types";

/** What a handler receives besides the payload. */
export interface TaskContext {
  taskId: string;
  type: string;
  /** 1 for the first attempt of a run. */
  attempt: number;
  /** Aborted when the attempt times out, the task is cancelled, or the queue stops. */
  signal: AbortSignal;
}

/** Runs one task type. Its return value is the task's result (persisted: keep it JSON-serialisable). */
export type TaskHandler = (payload: unknown, context: TaskContext) => unknown;

/** What to do with recurring tasks whose runs were missed while the process was down. */
export type CatchUpPolicy = "once" | "skip";

/** Options of a {@link TaskQueue}. Every limit is named here. */
export interface TaskQueueOptions {
  /**
   * Where tasks are persisted.
   * @defaultValue a new {@link MemoryTaskStore}
   */
  store?: TaskStore;
  /**
   * Claims of task occurrences shared with other queues (cluster mode): each occurrence of a
   * scheduled task runs only on the queue that claims it; the others skip it (a recurring task
   * moves on to its next occurrence, a one-off task is forgotten here). Retries of an occurrence
   * and `execute` need no claim. With a shared store (one with `watch`) claims are required, and
   * every attempt is claimed, retries and take-overs included (see `staleRunGraceMs`).
   * @defaultValue none: every task of this queue runs here
   */
  claims?: TaskClaims;
  /**
   * Shared store only: a task whose attempt began more than its `timeoutMs` plus this long ago and
   * is still `running`, or whose occurrence another queue claimed that long ago without starting
   * it, is taken to belong to a queue that died: one of the other queues (the one that claims the
   * take-over) runs it once more, as a restart recovers a crashed run. The grace absorbs clock skew
   * between instances and a slow store write; a live but cut-off queue's run can thus be repeated
   * after it (at least once, never lost).
   * @defaultValue 30000
   */
  staleRunGraceMs?: number;
  /**
   * Shared store only: how often the queue looks for such stale tasks.
   * @defaultValue 5000
   */
  staleCheckMs?: number;
  /**
   * Attempts running at once.
   * @defaultValue 4
   */
  concurrency?: number;
  /**
   * Time limit of one attempt, for tasks without their own `timeoutMs`.
   * @defaultValue 60000
   */
  defaultTimeoutMs?: number;
  /**
   * Attempts per run, for tasks without their own `maxAttempts`.
   * @defaultValue 3
   */
  defaultMaxAttempts?: number;
  /**
   * Delay before the first retry; doubled for each further one.
   * @defaultValue 1000
   */
  retryDelayMs?: number;
  /**
   * Upper bound of a retry delay.
   * @defaultValue 60000
   */
  maxRetryDelayMs?: number;
  /**
   * Scheduled and running tasks held; `schedule` beyond it fails with `RATE_LIMITED`.
   * @defaultValue 100000
   */
  maxTasks?: number;
  /**
   * Completed, failed and cancelled tasks kept for `list`; older ones are forgotten.
   * @defaultValue 1000
   */
  maxFinishedTasks?: number;
  /**
   * Recurring tasks that missed runs while the process was down: `"once"` runs one catch-up at
   * start and then continues on schedule; `"skip"` waits for the next scheduled time. Never a burst.
   * @defaultValue "once"
   */
  catchUp?: CatchUpPolicy;
  /** Clock. @defaultValue `Date.now` */
  now?: () => number;
  /** Task id generator. @defaultValue `crypto.randomUUID` */
  generateId?: () => string;
}

/** The defaults of {@link TaskQueueOptions}. */
export const DEFAULT_TASK_QUEUE_OPTIONS = Object.freeze({
  concurrency: 4,
  defaultTimeoutMs: 60_000,
  defaultMaxAttempts: 3,
  retryDelayMs: 1000,
  maxRetryDelayMs: 60_000,
  maxTasks: 100_000,
  maxFinishedTasks: 1000,
  catchUp: "once" as CatchUpPolicy,
  staleRunGraceMs: 30_000,
  staleCheckMs: 5_000,
});

/** Payload of the lifecycle events. */
export interface TaskEvent {
  taskId: string;
  type: string;
  attempt: number;
  result?: unknown;
  error?: TaskErrorInfo;
  /** For `task.failed`: whether another attempt is scheduled. */
  willRetry?: boolean;
}

/** Lifecycle events of a {@link TaskQueue}, named as on the wire. */
export interface TaskQueueEventMap {
  "task.started": (event: TaskEvent) => void;
  "task.completed": (event: TaskEvent) => void;
  "task.failed": (event: TaskEvent) => void;
  "task.cancelled": (event: TaskEvent) => void;
  /** The store refused a write; the queue goes on, and the task may run again after a restart. */
  error: (error: TaskQueueError) => void;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

interface Running {
  readonly controller: AbortController;
}

/**
 * Background jobs: tasks run once (now, `at` a time, after `delayMs`), on a `cron` expression, or
 * `every` N milliseconds, by handlers registered per task type; each attempt has a time limit;
 * failures retry with exponential backoff up to `maxAttempts`; at most `concurrency` attempts run at
 * once. With a persistent store (`FileTaskStore`) an acknowledged `schedule` survives a crash, a task
 * that was running when the process died runs once more at start (never twice at once), cancelled
 * tasks never run, and missed recurring runs do not burst (see {@link CatchUpPolicy}). Queues that
 * share their tasks (instances of a gateway cluster) share {@link TaskClaims} too: each occurrence
 * then runs on one of them.
 *
 * @example
 * ```ts
 * const queue = new TaskQueue({ store: await FileTaskStore.open({ dir: stateDir }) });
 * queue.register("message.send", async (payload, { signal }) => sendMessage(payload, signal));
 * await queue.start();
 * const id = await queue.schedule({ type: "message.send", payload: { to: "alice", text: "standup!" } }, { cron: "0 9 * * 1-5", timezone: "Europe/Berlin" });
 * ```
 */
export class TaskQueue extends EventEmitter<TaskQueueEventMap> {
  readonly #options: Required<Omit<TaskQueueOptions, "store" | "claims">>;
  readonly #store: TaskStore;
  readonly #claims: TaskClaims | undefined;
  /** The store is shared with other queues (it has `watch`): their writes are merged in here. */
  readonly #shared: boolean;
  /** Shared store: the due time of the occurrence another queue claimed, and when, by task id. */
  readonly #lostClaims = new Map<string, { dueAt: number; at: number }>();
  /** Shared store: the newest state another queue wrote while the task was claimed or ran here. */
  readonly #deferred = new Map<string, TaskRecord>();
  #unwatch: (() => void) | undefined;
  #staleTimer: ReturnType<typeof setInterval> | undefined;
  /** The occurrence a task is claiming again after a claim that could not be made, by task id. */
  readonly #claimRetries = new Map<string, string>();
  readonly #handlers = new Map<string, TaskHandler>();
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #byKey = new Map<string, string>();
  readonly #due = new DueHeap();
  readonly #running = new Map<string, Running>();
  readonly #ephemeral = new Set<string>();
  readonly #waiters = new Map<string, { resolve: (result: TaskResult) => void; startedAt: number }>();
  readonly #finished: string[] = [];
  #active = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #state: "idle" | "started" | "stopping" | "stopped" = "idle";
  #drained: (() => void) | undefined;

  /**
   * @param options - Store, limits and policies; see {@link TaskQueueOptions}.
   */
  constructor(options: TaskQueueOptions = {}) {
    super();
    const { store, claims, ...rest } = options;
    this.#store = store ?? new MemoryTaskStore();
    this.#claims = claims;
    this.#shared = this.#store.watch !== undefined;
    this.#options = {
      ...DEFAULT_TASK_QUEUE_OPTIONS,
      now: Date.now,
      generateId: () => globalThis.crypto.randomUUID(),
      ...(Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined)) as Partial<
        typeof rest
      >),
    };
  }

  /** Attempts running now. */
  get runningCount(): number {
    return this.#active;
  }

  /**
   * Registers the handler of a task type (replacing any earlier one).
   *
   * @param type - The task type.
   * @param handler - Runs a task of that type.
   * @returns A function that removes the handler.
   */
  register(type: string, handler: TaskHandler): () => void {
    this.#handlers.set(type, handler);
    this.#kick();
    return () => {
      if (this.#handlers.get(type) === handler) this.#handlers.delete(type);
    };
  }

  /**
   * Loads the store and starts running due tasks. Tasks that were running when the process died
   * are scheduled to run once more now; missed recurring runs follow the {@link CatchUpPolicy}.
   * With a shared store the queue follows the other queues' writes from now on, and a task left
   * `running` is run once more only when it is stale (see `staleRunGraceMs`): it may be running on
   * a live queue.
   *
   * @throws {@link TaskQueueError} `INVALID_PARAMS` (`claims_required`) for a shared store without
   *   `claims`; the store's error when it cannot be loaded.
   */
  async start(): Promise<void> {
    if (this.#state !== "idle") return;
    if (this.#shared && this.#claims === undefined) {
      throw new TaskQueueError("INVALID_PARAMS", "a task queue on a shared store needs claims", {
        details: { reason: "claims_required" },
      });
    }
    // Watched before loading, so that no write after the snapshot is missed; applied after it.
    let early: TaskStoreChange[] | undefined = [];
    this.#unwatch = this.#store.watch?.((change) => {
      if (early === undefined) this.#onStoreChange(change);
      else early.push(change);
    });
    const now = this.#options.now();
    let records: TaskRecord[];
    try {
      records = await this.#store.load();
    } catch (error) {
      this.#unwatch?.();
      this.#unwatch = undefined;
      throw error;
    }
    const recovered: TaskRecord[] = [];
    for (const record of records) {
      if (this.#shared && record.status !== "scheduled") {
        // Running here or elsewhere: left to the stale check. Finished: listed.
      } else if (record.status === "running") {
        // Interrupted by a crash: one more attempt, even if that exceeds maxAttempts.
        record.status = "scheduled";
        record.nextRunAt = now;
        record.maxAttempts = Math.max(record.maxAttempts, record.attempts + 1);
        record.updatedAt = now;
        recovered.push(record);
      } else if (
        record.status === "scheduled" &&
        record.nextRunAt !== null &&
        record.nextRunAt < now &&
        record.schedule.kind !== "once"
      ) {
        if (this.#options.catchUp === "skip") {
          record.nextRunAt = nextOccurrence(record.schedule, now);
          // Shared: only this queue's view; the store's record may be running elsewhere.
          if (!this.#shared) recovered.push(record);
        }
        // "once": left due now; after it runs the next time is computed from then, so no burst.
      }
      this.#tasks.set(record.id, record);
      if (record.idempotencyKey !== undefined) this.#byKey.set(record.idempotencyKey, record.id);
      if (TERMINAL.has(record.status)) this.#finished.push(record.id);
      else if (record.nextRunAt !== null) this.#due.push(record.nextRunAt, record.id);
    }
    await Promise.all(recovered.map((record) => this.#store.put(record)));
    this.#pruneFinished();
    this.#state = "started";
    const buffered = early;
    early = undefined;
    for (const change of buffered) this.#onStoreChange(change);
    if (this.#shared) {
      this.#staleTimer = setInterval(() => this.#takeOverStale(), this.#options.staleCheckMs);
      this.#staleTimer.unref?.();
    }
    this.#kick();
  }

  /**
   * Schedules a task. Resolves once the task is durable in the store.
   *
   * @param task - Type, payload and per-task limits.
   * @param options - When it runs; none means as soon as possible.
   * @returns The task id (for a repeated `idempotencyKey`, the first task's id).
   * @throws {@link TaskQueueError} `INVALID_PARAMS`, `RATE_LIMITED`, or `SHUTTING_DOWN`; or what the
   *   store's write throws (a `FileTaskStore` on a full disk: the retryable `UNAVAILABLE`), and then
   *   the task is not scheduled.
   */
  async schedule(task: Task, options: ScheduleOptions = {}): Promise<string> {
    this.#assertAccepting();
    if (task.idempotencyKey !== undefined) {
      const existing = this.#byKey.get(task.idempotencyKey);
      if (existing !== undefined && this.#tasks.has(existing)) return existing;
    }
    const record = this.#newRecord(task, options);
    // Shared store: the key names the task, so that queues scheduling one key at once make one task.
    const insert =
      this.#shared && task.idempotencyKey !== undefined
        ? this.#store.putIfAbsent?.bind(this.#store)
        : undefined;
    if (insert !== undefined) record.id = `key:${task.idempotencyKey}`;
    if (task.idempotencyKey !== undefined) this.#byKey.set(task.idempotencyKey, record.id);
    this.#tasks.set(record.id, record);
    const forget = () => {
      // Unless another queue's write of the same id was merged in meanwhile.
      if (this.#tasks.get(record.id) !== record) return;
      this.#tasks.delete(record.id);
      if (task.idempotencyKey !== undefined && this.#byKey.get(task.idempotencyKey) === record.id)
        this.#byKey.delete(task.idempotencyKey);
    };
    try {
      if (insert === undefined) await this.#store.put(record);
      else if (!(await insert(record))) {
        forget(); // another queue made it first: its record reaches this one through the store
        return record.id;
      }
    } catch (error) {
      forget();
      throw error;
    }
    this.#due.push(record.nextRunAt!, record.id);
    this.#kick();
    return record.id;
  }

  /**
   * Runs a task now (within the concurrency limit, with retries) and waits for the outcome. Such
   * tasks are not persisted: if the process dies, the caller is gone too.
   *
   * @param task - Type, payload and per-task limits.
   * @returns The outcome; a failure is a result with `status: "failed"`, not a rejection.
   * @throws {@link TaskQueueError} `INVALID_PARAMS` or `SHUTTING_DOWN`.
   */
  execute(task: Task): Promise<TaskResult> {
    try {
      this.#assertAccepting();
      const { idempotencyKey: _ignored, ...once } = task;
      const record = this.#newRecord(once, {});
      this.#tasks.set(record.id, record);
      this.#ephemeral.add(record.id);
      const done = new Promise<TaskResult>((resolve) =>
        this.#waiters.set(record.id, { resolve, startedAt: this.#options.now() }),
      );
      this.#due.push(record.nextRunAt!, record.id);
      this.#kick();
      return done;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Cancels a task: it will not run again, and a running attempt's signal is aborted (its result is
   * discarded). Resolves once the cancellation is durable.
   *
   * @param id - The task.
   * @returns `true` if the task was scheduled or running and is now cancelled.
   */
  async cancel(id: string): Promise<boolean> {
    const record = this.#tasks.get(id);
    if (record === undefined || TERMINAL.has(record.status)) return false;
    record.status = "cancelled";
    record.nextRunAt = null;
    record.updatedAt = this.#options.now();
    this.#running
      .get(id)
      ?.controller.abort(
        new TaskQueueError("SHUTTING_DOWN", "the task was cancelled", { details: { reason: "cancelled" } }),
      );
    if (!this.#ephemeral.has(id)) await this.#store.put(record);
    this.emit("task.cancelled", { taskId: id, type: record.type, attempt: record.attempts });
    this.#finish(record);
    return true;
  }

  /**
   * Tasks matching the filters, soonest due first (finished ones last, newest first).
   *
   * @param filters - Status, type, limit, offset.
   * @returns Copies of the records.
   */
  list(filters: TaskFilters = {}): TaskRecord[] {
    const matches = [...this.#tasks.values()].filter(
      (record) =>
        !this.#ephemeral.has(record.id) &&
        (filters.status === undefined || record.status === filters.status) &&
        (filters.type === undefined || record.type === filters.type),
    );
    matches.sort(
      (a, b) =>
        (a.nextRunAt ?? Number.POSITIVE_INFINITY) - (b.nextRunAt ?? Number.POSITIVE_INFINITY) ||
        b.updatedAt - a.updatedAt,
    );
    const offset = Math.max(0, filters.offset ?? 0);
    return matches
      .slice(offset, offset + (filters.limit ?? matches.length))
      .map((record) => structuredClone(record));
  }

  /**
   * One task.
   *
   * @param id - The task.
   * @returns A copy of its record, or `undefined`.
   */
  get(id: string): TaskRecord | undefined {
    const record = this.#tasks.get(id);
    return record === undefined ? undefined : structuredClone(record);
  }

  /**
   * Stops taking and starting tasks, waits for running attempts (at most `drainTimeoutMs`, then
   * aborts them; they run again at the next start), and closes the store.
   *
   * @param options - How long to wait for running attempts.
   */
  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.#state === "stopped" || this.#state === "stopping") return;
    this.#state = "stopping";
    this.#unwatch?.();
    this.#unwatch = undefined;
    clearInterval(this.#staleTimer);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#active > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.drainTimeoutMs ?? 10_000);
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      for (const { controller } of this.#running.values())
        controller.abort(new TaskQueueError("SHUTTING_DOWN", "the task queue is stopping"));
    }
    for (const [id, waiter] of this.#waiters) {
      const record = this.#tasks.get(id);
      waiter.resolve({
        taskId: id,
        status: "failed",
        error: { code: "SHUTTING_DOWN", message: "the task queue stopped" },
        attempts: record?.attempts ?? 0,
        durationMs: this.#options.now() - waiter.startedAt,
      });
    }
    this.#waiters.clear();
    this.#state = "stopped";
    await this.#store.close();
  }

  #newRecord(task: Task, options: ScheduleOptions): TaskRecord {
    if (typeof task?.type !== "string" || task.type.length === 0 || task.type.length > 128) {
      throw new TaskQueueError("INVALID_PARAMS", "task type must be 1-128 characters", {
        details: { reason: "invalid_type" },
      });
    }
    if (
      task.timeoutMs !== undefined &&
      !(Number.isFinite(task.timeoutMs) && task.timeoutMs > 0 && task.timeoutMs <= MAX_TIMER_MS)
    ) {
      throw new TaskQueueError("INVALID_PARAMS", `timeoutMs must be between 1 and ${MAX_TIMER_MS}`, {
        details: { reason: "invalid_timeout" },
      });
    }
    if (
      task.maxAttempts !== undefined &&
      !(Number.isInteger(task.maxAttempts) && task.maxAttempts >= 1 && task.maxAttempts <= 100)
    ) {
      throw new TaskQueueError("INVALID_PARAMS", "maxAttempts must be a whole number from 1 to 100", {
        details: { reason: "invalid_max_attempts" },
      });
    }
    // Every held task is either finished (and listed in #finished) or still to run.
    if (this.#tasks.size - this.#finished.length >= this.#options.maxTasks) {
      throw new TaskQueueError(
        "RATE_LIMITED",
        `the queue holds its maximum of ${this.#options.maxTasks} tasks`,
        {
          details: { reason: "too_many_tasks", maxTasks: this.#options.maxTasks, retryAfterMs: 1000 },
        },
      );
    }
    const now = this.#options.now();
    const { schedule, firstRunAt } = planSchedule(options, now);
    const record: TaskRecord = {
      id: this.#options.generateId(),
      type: task.type,
      status: "scheduled",
      schedule,
      nextRunAt: firstRunAt,
      attempts: 0,
      maxAttempts: task.maxAttempts ?? this.#options.defaultMaxAttempts,
      timeoutMs: task.timeoutMs ?? this.#options.defaultTimeoutMs,
      createdAt: now,
      updatedAt: now,
    };
    if (task.payload !== undefined) record.payload = task.payload;
    if (task.name !== undefined) record.name = task.name;
    if (task.idempotencyKey !== undefined) record.idempotencyKey = task.idempotencyKey;
    return record;
  }

  #assertAccepting(): void {
    if (this.#state === "stopping" || this.#state === "stopped") {
      throw new TaskQueueError("SHUTTING_DOWN", "the task queue is stopped", {
        details: { reason: "stopped" },
      });
    }
  }

  /** Starts every due task there is room for, then arms the timer for the next one. */
  #kick(): void {
    if (this.#state !== "started") return;
    const now = this.#options.now();
    const skipped: Array<[number, string]> = [];
    while (this.#active < this.#options.concurrency) {
      const next = this.#due.peekTime();
      if (next === undefined || next > now) break;
      const [time, id] = this.#due.pop()!;
      const record = this.#tasks.get(id);
      if (
        record === undefined ||
        record.status !== "scheduled" ||
        record.nextRunAt !== time ||
        this.#running.has(id)
      )
        continue; // stale entry
      if (!this.#handlers.has(record.type)) {
        skipped.push([time, id]); // waits until its handler is registered
        continue;
      }
      void this.#run(record);
    }
    for (const [time, id] of skipped) this.#due.push(time, id);
    this.#arm(skipped.length > 0);
  }

  #arm(hasSkipped: boolean): void {
    let next = this.#due.peekTime();
    if (hasSkipped) {
      // Entries waiting for a handler are due already; look past them is not possible in a heap,
      // so re-check in a second rather than spinning.
      next = Math.min(next ?? Number.POSITIVE_INFINITY, this.#options.now() + 1000);
    }
    if (
      next === undefined ||
      next === Number.POSITIVE_INFINITY ||
      this.#active >= this.#options.concurrency
    ) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= next) return;
    clearTimeout(this.#timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.#options.now()));
    this.#timerAt = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#kick();
    }, delay);
  }

  /**
   * Claims (when needed) and runs one attempt of a task.
   *
   * @param takeOver - The task is stale (shared store): run it once more if the take-over is won.
   */
  async #run(record: TaskRecord, takeOver = false): Promise<void> {
    const controller = new AbortController();
    this.#running.set(record.id, { controller });
    this.#active += 1;
    let attempted = false;
    try {
      const ephemeral = this.#ephemeral.has(record.id);
      if (takeOver) {
        if (!(await this.#claimTakeOver(record, this.#claims!))) return;
      } else if (this.#claims !== undefined && !ephemeral && (record.attempts === 0 || this.#shared)) {
        // A new occurrence runs only where it is claimed; with a shared store, every attempt.
        if (!(await this.#claim(record, this.#claims))) return;
      }
      attempted = true;
      await this.#attempt(record, controller, ephemeral);
    } finally {
      this.#running.delete(record.id);
      this.#active -= 1;
      if (this.#deferred.size > 0) {
        // Another queue's write that waited for the claim: it stands unless this queue ran the task.
        const deferred = this.#deferred.get(record.id);
        this.#deferred.delete(record.id);
        if (deferred !== undefined && !attempted) this.#merge(deferred);
      }
      if (TERMINAL.has(record.status)) this.#answerWaiter(record);
      if (this.#active === 0) this.#drained?.();
      this.#kick();
    }
  }

  /**
   * Claims the occurrence a task is due for.
   *
   * @returns Whether this queue runs it. When not, the task has been moved on: past this
   *   occurrence (claimed elsewhere), or to a later try of the same claim (the claim failed).
   */
  async #claim(record: TaskRecord, claims: TaskClaims): Promise<boolean> {
    const dueAt = record.nextRunAt!;
    const recurring = record.schedule.kind !== "once";
    const occurrence = this.#claimRetries.get(record.id) ?? occurrenceOf(record);
    let won: boolean;
    try {
      won = await claims.claim(occurrence);
    } catch (error) {
      if (record.status !== "scheduled" || record.nextRunAt !== dueAt) return false; // cancelled meanwhile
      // Never run unclaimed: the same occurrence is claimed again later (a tick runs late, once).
      this.#claimRetries.set(record.id, occurrence);
      record.nextRunAt = this.#options.now() + this.#options.retryDelayMs;
      this.#due.push(record.nextRunAt, record.id);
      this.emit(
        "error",
        new TaskQueueError("CONFLICT", `could not claim task ${record.id}; it is claimed again later`, {
          details: { reason: "claim_failed", taskId: record.id, occurrence },
          cause: error,
        }),
      );
      return false;
    }
    this.#claimRetries.delete(record.id);
    if (record.status !== "scheduled" || record.nextRunAt !== dueAt) return false; // cancelled meanwhile
    if (won) return true;
    if (this.#shared) {
      // The winner runs it; its writes reach this queue through the store. Should it never start
      // the run (it died right after its claim), the stale check takes the task over.
      this.#lostClaims.set(record.id, { dueAt, at: this.#options.now() });
      return false;
    }
    if (!recurring) {
      // Another queue runs it and records its outcome in the store they share; nothing to write here.
      this.#tasks.delete(record.id);
      if (record.idempotencyKey !== undefined && this.#byKey.get(record.idempotencyKey) === record.id)
        this.#byKey.delete(record.idempotencyKey);
      return false;
    }
    const now = this.#options.now();
    record.nextRunAt = nextOccurrence(record.schedule, Math.max(now, dueAt));
    record.updatedAt = now;
    if (record.nextRunAt !== null) this.#due.push(record.nextRunAt, record.id);
    // Kept in the store, so that a restart does not take the skipped occurrence for a missed one.
    this.#store.put(structuredClone(record)).catch((error: unknown) =>
      this.emit(
        "error",
        new TaskQueueError("CONFLICT", `could not record that task ${record.id} ran elsewhere`, {
          details: { reason: "store_failed", taskId: record.id },
          cause: error,
        }),
      ),
    );
    return false;
  }

  /**
   * Claims the take-over of a stale task (shared store): the key names the stale state (its last
   * write's `updatedAt`), so that of the queues that see it one runs it once more.
   *
   * @returns Whether this queue runs it now.
   */
  async #claimTakeOver(record: TaskRecord, claims: TaskClaims): Promise<boolean> {
    const occurrence = `${occurrenceOf(record)}~${record.updatedAt}`;
    let won: boolean;
    try {
      won = await claims.claim(occurrence);
    } catch (error) {
      this.emit(
        "error",
        new TaskQueueError("CONFLICT", `could not claim stale task ${record.id}; the check tries again`, {
          details: { reason: "claim_failed", taskId: record.id, occurrence },
          cause: error,
        }),
      );
      return false;
    }
    // Moved on meanwhile (another queue's write, or a cancel): no longer stale.
    if (!won || this.#deferred.has(record.id) || TERMINAL.has(record.status)) return false;
    this.#lostClaims.delete(record.id);
    // As a restart recovers a crashed run: one more attempt, even if that exceeds maxAttempts.
    record.status = "scheduled";
    record.maxAttempts = Math.max(record.maxAttempts, record.attempts + 1);
    return true;
  }

  /**
   * Shared store: runs once more each task that a dead queue left behind, i.e. still `running`
   * `timeoutMs + staleRunGraceMs` after its attempt began, or claimed by another queue that long ago
   * and never started.
   */
  #takeOverStale(): void {
    if (this.#state !== "started") return;
    const now = this.#options.now();
    for (const record of this.#tasks.values()) {
      if (this.#active >= this.#options.concurrency) return;
      if (this.#running.has(record.id) || !this.#handlers.has(record.type)) continue;
      let since: number | undefined;
      if (record.status === "running") since = record.lastRunAt ?? record.updatedAt;
      else if (record.status === "scheduled") {
        const lost = this.#lostClaims.get(record.id);
        if (lost !== undefined && lost.dueAt === record.nextRunAt) since = lost.at;
      }
      if (since === undefined || now < since + record.timeoutMs + this.#options.staleRunGraceMs) continue;
      void this.#run(record, true);
    }
  }

  /** Applies another queue's write to a shared store. */
  #onStoreChange(change: TaskStoreChange): void {
    if (this.#state !== "started") return;
    if (change.kind === "put") this.#merge(change.record);
    else if (change.kind === "delete") this.#drop(change.id);
    else {
      const present = new Set<string>();
      for (const record of change.records) {
        present.add(record.id);
        this.#merge(record);
      }
      for (const id of [...this.#tasks.keys()]) if (!present.has(id)) this.#drop(id);
    }
    this.#kick();
  }

  /**
   * Takes another queue's version of a task. A task claimed or running here keeps this queue's
   * version (its own writes follow), except that a cancel aborts it.
   */
  #merge(remote: TaskRecord): void {
    const id = remote.id;
    if (this.#ephemeral.has(id)) return;
    this.#lostClaims.delete(id);
    const local = this.#tasks.get(id);
    const running = this.#running.get(id);
    if (running !== undefined && local !== undefined) {
      if (remote.status === "cancelled" && !TERMINAL.has(local.status)) {
        local.status = "cancelled";
        local.nextRunAt = null;
        local.updatedAt = remote.updatedAt;
        running.controller.abort(
          new TaskQueueError("SHUTTING_DOWN", "the task was cancelled", { details: { reason: "cancelled" } }),
        );
        this.#finish(local); // the queue that cancelled it tells the clients
      } else this.#deferred.set(id, remote);
      return;
    }
    this.#claimRetries.delete(id);
    this.#tasks.set(id, remote);
    if (remote.idempotencyKey !== undefined) this.#byKey.set(remote.idempotencyKey, id);
    const wasFinished = local !== undefined && TERMINAL.has(local.status);
    if (TERMINAL.has(remote.status)) {
      if (!wasFinished) {
        this.#finished.push(id);
        this.#pruneFinished();
      }
      return;
    }
    if (wasFinished) this.#unfinish(id);
    if (
      remote.status === "scheduled" &&
      remote.nextRunAt !== null &&
      (local?.status !== "scheduled" || local.nextRunAt !== remote.nextRunAt)
    )
      this.#due.push(remote.nextRunAt, id);
  }

  /** Forgets a task another queue deleted from a shared store (unless it is claimed or runs here). */
  #drop(id: string): void {
    if (this.#running.has(id) || this.#ephemeral.has(id)) return;
    const local = this.#tasks.get(id);
    if (local === undefined) return;
    this.#tasks.delete(id);
    this.#lostClaims.delete(id);
    this.#claimRetries.delete(id);
    if (local.idempotencyKey !== undefined && this.#byKey.get(local.idempotencyKey) === id)
      this.#byKey.delete(local.idempotencyKey);
    if (TERMINAL.has(local.status)) this.#unfinish(id);
  }

  #unfinish(id: string): void {
    const index = this.#finished.indexOf(id);
    if (index !== -1) this.#finished.splice(index, 1);
  }

  /** Runs one attempt of a task and records its outcome. */
  async #attempt(record: TaskRecord, controller: AbortController, ephemeral: boolean): Promise<void> {
    const handler = this.#handlers.get(record.type)!;
    record.status = "running";
    record.attempts += 1;
    record.lastRunAt = this.#options.now();
    record.updatedAt = record.lastRunAt;
    const attempt = record.attempts;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The "running" mark rides in the store's next group commit while the handler runs: after a
    // crash the task runs once more whether the mark landed or not, and the outcome below is
    // written only after the mark.
    const marked = ephemeral ? Promise.resolve() : this.#store.put(structuredClone(record));
    marked.catch(() => {}); // awaited below, where a failure is handled
    try {
      this.emit("task.started", { taskId: record.id, type: record.type, attempt });
      let outcome: { ok: true; value: unknown } | { ok: false; error: TaskErrorInfo };
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new TaskQueueError(
              "TIMEOUT",
              `task ${record.id} (${record.type}) ran past ${record.timeoutMs} ms`,
              { details: { reason: "task_timeout" } },
            );
            controller.abort(error);
            reject(error);
          }, record.timeoutMs);
        });
        const value = await Promise.race([
          Promise.resolve().then(() =>
            handler(record.payload, {
              taskId: record.id,
              type: record.type,
              attempt,
              signal: controller.signal,
            }),
          ),
          timeout,
        ]);
        outcome = { ok: true, value };
      } catch (error) {
        outcome = { ok: false, error: errorInfo(error) };
      }
      clearTimeout(timer);
      if (record.status !== "running") return; // cancelled meanwhile: its result is discarded
      this.#complete(record, attempt, outcome, marked, ephemeral);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Records an attempt's outcome. The new state takes effect at once (the slot frees, retries are
   * queued); the write joins the store's next group commit after the "running" mark, and the
   * lifecycle event is emitted once it is durable.
   */
  #complete(
    record: TaskRecord,
    attempt: number,
    outcome: { ok: true; value: unknown } | { ok: false; error: TaskErrorInfo },
    marked: Promise<void>,
    ephemeral: boolean,
  ): void {
    const now = this.#options.now();
    record.updatedAt = now;
    let willRetry = false;
    if (outcome.ok) {
      record.result = outcome.value;
      delete record.lastError;
      const next = nextOccurrence(record.schedule, now);
      record.attempts = next === null ? record.attempts : 0;
      record.status = next === null ? "completed" : "scheduled";
      record.nextRunAt = next;
    } else {
      record.lastError = outcome.error;
      if (record.attempts < record.maxAttempts && this.#state === "started") {
        willRetry = true;
        record.status = "scheduled";
        record.nextRunAt =
          now +
          Math.min(this.#options.maxRetryDelayMs, this.#options.retryDelayMs * 2 ** (record.attempts - 1));
      } else {
        const next = nextOccurrence(record.schedule, now);
        record.attempts = next === null ? record.attempts : 0;
        record.status = next === null ? "failed" : "scheduled";
        record.nextRunAt = next;
      }
    }
    const event: TaskEvent = outcome.ok
      ? { taskId: record.id, type: record.type, attempt, result: outcome.value }
      : { taskId: record.id, type: record.type, attempt, error: outcome.error, willRetry };
    const snapshot = ephemeral ? undefined : structuredClone(record); // the state decided now, whatever happens next
    const written = snapshot === undefined ? Promise.resolve() : marked.then(() => this.#store.put(snapshot));
    written.then(
      () => this.emit(outcome.ok ? "task.completed" : "task.failed", event),
      (error: unknown) =>
        this.emit(
          "error",
          new TaskQueueError(
            "CONFLICT",
            `could not record the outcome of task ${record.id}; it will run again after a restart`,
            {
              details: { reason: "store_failed", taskId: record.id },
              cause: error,
            },
          ),
        ),
    );
    if (record.nextRunAt !== null) this.#due.push(record.nextRunAt, record.id);
    if (TERMINAL.has(record.status)) this.#finish(record);
  }

  #finish(record: TaskRecord): void {
    this.#claimRetries.delete(record.id);
    // A running attempt's waiter is answered once its slot is free (in #run), so that a caller
    // never sees its result while the queue still counts the attempt as running.
    if (!this.#running.has(record.id)) this.#answerWaiter(record);
    if (this.#ephemeral.delete(record.id)) {
      this.#tasks.delete(record.id);
      return;
    }
    this.#finished.push(record.id);
    this.#pruneFinished();
  }

  #answerWaiter(record: TaskRecord): void {
    const waiter = this.#waiters.get(record.id);
    if (waiter !== undefined) {
      this.#waiters.delete(record.id);
      const result: TaskResult = {
        taskId: record.id,
        status: record.status === "completed" ? "completed" : "failed",
        attempts: record.attempts,
        durationMs: this.#options.now() - waiter.startedAt,
      };
      if (record.status === "completed") result.result = record.result;
      else result.error = record.lastError ?? { code: "SHUTTING_DOWN", message: "the task was cancelled" };
      waiter.resolve(result);
    }
  }

  #pruneFinished(): void {
    while (this.#finished.length > this.#options.maxFinishedTasks) {
      const id = this.#finished.shift()!;
      const record = this.#tasks.get(id);
      if (record === undefined || !TERMINAL.has(record.status)) continue;
      this.#tasks.delete(id);
      if (record.idempotencyKey !== undefined && this.#byKey.get(record.idempotencyKey) === id)
        this.#byKey.delete(record.idempotencyKey);
      void this.#store.delete(id).catch(() => {});
    }
  }
}

/**
 * The claim key of a task's next attempt: `<idempotencyKey or id>@<due time>` for an occurrence of
 * a recurring task, `<id>@once` for a one-off task, and `#<attempt>` appended for a retry (claimed
 * only with a shared store).
 */
function occurrenceOf(record: TaskRecord): string {
  const base =
    record.schedule.kind === "once"
      ? `${record.id}@once`
      : `${record.idempotencyKey ?? record.id}@${record.nextRunAt}`;
  return record.attempts === 0 ? base : `${base}#${record.attempts + 1}`;
}

function errorInfo(error: unknown): TaskErrorInfo {
  if (error instanceof ProtocolError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: "INTERNAL", message: error.message };
  return { code: "INTERNAL", message: String(error) };
}
