/**
 * Drops redelivered inbound messages: remembers the last `capacity` message ids that were emitted,
 * and joins a redelivery that arrives while the first copy is still being emitted. An id is only
 * remembered once its emit resolved, so a failed emit lets the platform's redelivery through.
 */
export class InboundDedupe {
  readonly #capacity: number;
  readonly #seen = new Set<string>();
  readonly #inFlight = new Map<string, Promise<void>>();

  /** @param capacity - How many ids to remember (oldest forgotten first). */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /**
   * Runs `emit` for a message id not seen before; a repeat resolves without running it.
   *
   * @param id - The platform's message id.
   * @param emit - Hands the message to the gateway.
   * @returns Whether `emit` ran (`false` for a duplicate).
   */
  async run(id: string, emit: () => Promise<void>): Promise<boolean> {
    if (this.#seen.has(id)) return false;
    const pending = this.#inFlight.get(id);
    if (pending !== undefined) {
      await pending;
      return false;
    }
    const running = emit().then(() => {
      this.#seen.add(id);
      if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value as string);
    });
    this.#inFlight.set(id, running);
    try {
      await running;
    } finally {
      this.#inFlight.delete(id);
    }
    return true;
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#seen.size;
  }
}
