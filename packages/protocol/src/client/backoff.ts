/** How {@link GatewayClient} spaces its reconnect attempts. */
export interface BackoffOptions {
  /**
   * Delay before the first reconnect attempt.
   * @defaultValue 500
   */
  initialDelayMs?: number;
  /**
   * Upper bound of any delay.
   * @defaultValue 30000
   */
  maxDelayMs?: number;
  /**
   * Multiplier applied per attempt.
   * @defaultValue 2
   */
  factor?: number;
  /**
   * Random spread as a fraction of the delay: 0.2 means ±20%.
   * @defaultValue 0.2
   */
  jitter?: number;
  /**
   * Attempts before giving up; `Infinity` never gives up.
   * @defaultValue Infinity
   */
  maxAttempts?: number;
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/**
 * Exponential backoff with jitter: `min(max, initial × factor^(attempt-1))`, spread by ±`jitter`,
 * never above `maxDelayMs` nor below zero.
 *
 * @param attempt - The attempt about to be made, starting at 1.
 * @param options - The backoff policy.
 * @param random - A source of numbers in [0, 1), for tests.
 * @returns The delay in milliseconds.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialDelayMs, maxDelayMs, factor, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const base = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, attempt - 1));
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(maxDelayMs, Math.round(base + spread)));
}
