/**
 * The lease seam of cluster mode: a named lease is held by at most one gateway instance at a time,
 * so that work that must run once (a channel's platform connection, a channel's outbound queue, a
 * cron tick) runs on one instance, and moves to another when its holder dies. A single gateway needs
 * no leases: {@link LocalLeases} grants every lease at once.
 */

/** A lease this instance holds. */
export interface Lease {
  /** Its name, e.g. `channel:telegram`. */
  readonly name: string;
  /**
   * The fencing token: larger for every new holder of this name. Writes guarded by the lease carry
   * it, so the writes of a holder that lost the lease without noticing are refused.
   */
  readonly token: number;
  /** Aborted when the lease is lost (not renewed in time, or taken over); not when it is released. */
  readonly lost: AbortSignal;
  /** Gives the lease up (the next instance may take it at once). Idempotent. */
  release(): Promise<void>;
}

/** Grants leases; held leases are renewed by the provider until released or lost. */
export interface LeaseProvider {
  /**
   * Takes a lease if nobody holds it.
   *
   * @param name - The lease's name.
   * @returns The lease, or `undefined` when another instance holds it.
   * @throws A `ProtocolError` `UNAVAILABLE` when the backing store cannot be reached.
   */
  tryAcquire(name: string): Promise<Lease | undefined>;
  /**
   * Which instance holds a lease now, for status reports (optional: a provider without it reports
   * no holder).
   *
   * @param name - The lease's name.
   * @returns The holder's instance id, or `undefined` when nobody holds it.
   * @throws A `ProtocolError` `UNAVAILABLE` when the backing store cannot be reached.
   */
  holder?(name: string): Promise<string | undefined>;
  /** How long a holder that died keeps a lease before another instance may take it, in ms. */
  readonly ttlMs: number;
  /** Releases every lease held and stops renewing. */
  close(): Promise<void>;
}

/** A single process's leases: every lease is granted at once and never lost. */
export class LocalLeases implements LeaseProvider {
  readonly ttlMs = 0;
  readonly #held = new Map<string, AbortController>();
  #fence = 0;

  async tryAcquire(name: string): Promise<Lease | undefined> {
    if (this.#held.has(name)) return undefined;
    const controller = new AbortController();
    this.#held.set(name, controller);
    const release = async () => {
      if (this.#held.get(name) === controller) this.#held.delete(name);
    };
    return { name, token: ++this.#fence, lost: controller.signal, release };
  }

  async close(): Promise<void> {
    this.#held.clear();
  }
}
