/**
 * The claim seam: several task queues that share their tasks (gateway instances of one cluster,
 * each scheduling the same cron job, or all loading one shared store) run each occurrence of a
 * task once, on the queue that claims it first. A queue alone needs no claims.
 */
export interface TaskClaims {
  /**
   * Claims one occurrence of a task for this queue. Claims are never released: an occurrence is
   * claimed once, by one queue.
   *
   * @param occurrence - Which run: `<task key>@<scheduled time>` for a recurring task (its
   *   `idempotencyKey`, else its id, and the time the occurrence was due), `<task id>@once` for a
   *   one-off task.
   * @returns `true` when this queue won the occurrence and runs it, `false` when another has it.
   * @throws When the claim could not be made (the backing store is unreachable): the queue tries
   *   the same occurrence again after `retryDelayMs` and never runs it unclaimed.
   */
  claim(occurrence: string): Promise<boolean>;
}

/**
 * Claims shared by the queues of one process (tests, or several queues over one store in a
 * process). Remembers every occurrence claimed, up to `maxClaims` (the oldest are forgotten first).
 */
export class MemoryTaskClaims implements TaskClaims {
  readonly #claimed = new Set<string>();
  readonly #maxClaims: number;

  /**
   * @param options - `maxClaims`: occurrences remembered (default 100,000).
   */
  constructor(options: { maxClaims?: number } = {}) {
    this.#maxClaims = options.maxClaims ?? 100_000;
  }

  async claim(occurrence: string): Promise<boolean> {
    if (this.#claimed.has(occurrence)) return false;
    this.#claimed.add(occurrence);
    if (this.#claimed.size > this.#maxClaims) {
      const oldest = this.#claimed.values().next().value;
      if (oldest !== undefined) this.#claimed.delete(oldest);
    }
    return true;
  }
}
