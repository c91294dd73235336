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
