/** A token bucket: `ratePerSecond` sustained, `burst` at once. */
export class RateLimiter {
  #tokens: number;
  #last: number;

  /**
   * @param ratePerSecond - Tokens added per second.
   * @param burst - The bucket's size: how many may be taken at once.
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.#tokens = burst;
    this.#last = Date.now();
  }

  /**
   * Takes one token.
   *
   * @returns 0 when allowed, else the milliseconds until a token is available.
   */
  take(): number {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.ratePerSecond);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.ratePerSecond) * 1000);
  }
}

/**
 * Sources whose buckets a {@link SourceRateLimiter} keeps at once; the least recently used is
 * forgotten first (it starts again with a full bucket).
 * @defaultValue 10000
 */
export const MAX_RATE_LIMITED_SOURCES = 10_000;

/**
 * One token bucket per source (see `sourceKey`), for limits that many connections from one source
 * share. The rate and burst are given at each take, so a config reload applies at once.
 */
export class SourceRateLimiter {
  readonly #buckets = new Map<string, { limiter: RateLimiter; ratePerSecond: number; burst: number }>();

  /**
   * @param maxSources - Buckets kept at once (least recently used forgotten first).
   */
  constructor(private readonly maxSources = MAX_RATE_LIMITED_SOURCES) {}

  /**
   * Takes one token from the source's bucket.
   *
   * @param source - The source key.
   * @param ratePerSecond - Tokens added per second.
   * @param burst - The bucket's size.
   * @returns 0 when allowed, else the milliseconds until a token is available.
   */
  take(source: string, ratePerSecond: number, burst: number): number {
    let bucket = this.#buckets.get(source);
    if (bucket !== undefined) this.#buckets.delete(source); // re-inserted last: most recently used
    if (bucket === undefined || bucket.ratePerSecond !== ratePerSecond || bucket.burst !== burst) {
      bucket = { limiter: new RateLimiter(ratePerSecond, burst), ratePerSecond, burst };
      if (this.#buckets.size >= this.maxSources) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(source, bucket);
    return bucket.limiter.take();
  }
}
