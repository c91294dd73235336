import type { KeyStore } from "@openclaw/backend";
import type { Logger } from "../logging";

/** Runs a request once per key. */
export interface IdempotentRunner {
  /**
   * Runs `run` once per `(scope, key)`: a repeat within the window gets the first result, a repeat
   * while the first runs waits for it. Failures are not remembered.
   */
  run(scope: string, key: string, run: () => unknown): Promise<unknown>;
}

/**
 * Idempotent requests backed by a durable {@link KeyStore}, so a repeat after a restart gets
 * the first result too; without a store (not started) each request runs.
 */
export class Idempotency implements IdempotentRunner {
  readonly #store: () => KeyStore<unknown> | undefined;
  readonly #logger: Logger;
  /** Idempotent requests running now, by scope and key: a repeat waits for the first. */
  readonly #running = new Map<string, Promise<unknown>>();

  /**
   * @param store - The results remembered, once opened.
   * @param logger - Where a result that cannot be remembered is logged.
   */
  constructor(store: () => KeyStore<unknown> | undefined, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  async run(scope: string, key: string, run: () => unknown): Promise<unknown> {
    const id = `${scope}\u0000${key}`;
    const store = this.#store();
    if (store === undefined) return run();
    if (store.has(id)) return store.get(id);
    const running = this.#running.get(id);
    if (running !== undefined) return running;
    const promise = (async () => {
      const result = await run();
      // The work is done: its result is the answer even when it cannot be remembered (a repeat
      // then runs again, as it would after the window).
      await store
        .remember(id, result)
        .catch((error: unknown) =>
          this.#logger.error({ err: error, method: scope }, "could not remember an idempotent result"),
        );
      return result;
    })();
    this.#running.set(id, promise);
    try {
      return await promise;
    } finally {
      this.#running.delete(id);
    }
  }
}
