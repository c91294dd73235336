/** Runs a beat every interval; re-armable when the interval changes. The timer never holds the process. */
export class Heartbeat {
  readonly #beat: (now: number) => void;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param beat - What a beat does (ping connections, send `tick`, sweep expired state). */
  constructor(beat: (now: number) => void) {
    this.#beat = beat;
  }

  /** Starts beating every `intervalMs`, replacing any previous interval. */
  arm(intervalMs: number): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#beat(Date.now()), intervalMs);
    this.#timer.unref();
  }

  /** Stops beating. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
