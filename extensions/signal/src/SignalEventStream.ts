import type { SignalCliClient, SignalCliEvent } from "./SignalCliClient";
import { SignalCliError } from "./SignalCliError";

/** Options of a {@link SignalEventStream}. */
export interface SignalEventStreamOptions {
  client: SignalCliClient;
  /** Handles one event; awaited before the next is read and before its id counts as handled. */
  onEvent(event: SignalCliEvent): Promise<void>;
  /**
   * Told about an event skipped for being longer than the client's `maxEventChars`; its id then
   * counts as handled, so a reconnect resumes after it.
   */
  onSkipped?(event: { id: string | undefined; event: string | undefined; chars: number }): void;
  /** Told about every change of the stream's state. */
  onState(change: SignalStreamChange): void;
  /**
   * A stream that delivers neither an event nor a keepalive comment for this long is closed and
   * opened again. signal-cli sends a keepalive every 15 s.
   * @defaultValue 60,000
   */
  idleTimeoutMs?: number;
  /** @defaultValue 1,000: the first delay before reconnecting; it doubles up to `reconnectMaxDelayMs`. */
  reconnectInitialDelayMs?: number;
  /** @defaultValue 30,000 */
  reconnectMaxDelayMs?: number;
  /** Stops the stream for good when aborted, like {@link SignalEventStream.stop}. */
  signal?: AbortSignal;
}

/** Defaults of {@link SignalEventStreamOptions}. */
export const SIGNAL_EVENT_STREAM_DEFAULTS = Object.freeze({
  idleTimeoutMs: 60_000,
  reconnectInitialDelayMs: 1000,
  reconnectMaxDelayMs: 30_000,
});

/** Why the stream is not open. */
export type SignalStreamProblem =
  /** The daemon cannot be reached, or refused the stream. */
  | "unreachable"
  /** The daemon ended the stream. */
  | "closed"
  /** Nothing, not even a keepalive, arrived within `idleTimeoutMs`. */
  | "stalled"
  /** Reading the stream failed. */
  | "broken";

/** A change of the stream's state. */
export type SignalStreamChange =
  | { state: "open" }
  | { state: "retrying"; problem: SignalStreamProblem; error: SignalCliError; retryInMs: number };

/**
 * Keeps signal-cli's event stream open: reconnects with exponential backoff (with jitter) after
 * the daemon closes it, it breaks or the daemon is unreachable; restarts a stream that stays silent
 * past `idleTimeoutMs` (keepalive comments count as activity, and so does a handler still running);
 * resumes after the last handled event with `Last-Event-ID` when the daemon numbers its events.
 */
export class SignalEventStream {
  /** Reconnections so far. */
  reconnects = 0;
  /** When the last event or keepalive arrived (ms since the epoch). */
  lastActivityAt: number | undefined;
  /** The id of the last event handled or skipped, sent as `Last-Event-ID` on reconnect. */
  lastEventId: string | undefined;
  readonly #options: SignalEventStreamOptions;
  readonly #idleMs: number;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #firstAttempt: Promise<void> | undefined;

  constructor(options: SignalEventStreamOptions) {
    this.#options = options;
    this.#idleMs = options.idleTimeoutMs ?? SIGNAL_EVENT_STREAM_DEFAULTS.idleTimeoutMs;
    this.#initialDelayMs =
      options.reconnectInitialDelayMs ?? SIGNAL_EVENT_STREAM_DEFAULTS.reconnectInitialDelayMs;
    this.#maxDelayMs = Math.max(
      this.#initialDelayMs,
      options.reconnectMaxDelayMs ?? SIGNAL_EVENT_STREAM_DEFAULTS.reconnectMaxDelayMs,
    );
    if (options.signal?.aborted) this.#stop.abort();
    else options.signal?.addEventListener("abort", () => this.#stop.abort(), { once: true });
  }

  /**
   * Starts the loop.
   *
   * @returns Resolves after the first attempt to open the stream, whether it worked or not.
   */
  start(): Promise<void> {
    if (this.#running === undefined) {
      let attempted!: () => void;
      this.#firstAttempt = new Promise((resolve) => {
        attempted = resolve;
      });
      this.#running = this.#loop(attempted);
    }
    return this.#firstAttempt!;
  }

  /** Closes the stream and stops reconnecting; resolves once nothing is left running. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #loop(attempted: () => void): Promise<void> {
    let failures = 0;
    const stopSignal = this.#stop.signal;
    while (!stopSignal.aborted) {
      const connection = new AbortController();
      const signal = AbortSignal.any([stopSignal, connection.signal]);
      let problem: SignalStreamProblem;
      let error: SignalCliError;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      let busy = 0;
      let stalled = false;
      let received = false;
      const touch = () => {
        this.lastActivityAt = Date.now();
      };
      const heard = () => {
        received = true;
        touch();
      };
      try {
        const subscription = await this.#options.client.subscribe(
          {
            onEvent: async (event) => {
              heard();
              busy++;
              try {
                await this.#options.onEvent(event);
              } finally {
                busy--;
                touch();
              }
              if (event.id !== undefined && event.id !== "") this.lastEventId = event.id;
            },
            onComment: heard,
            onSkipped: (event) => {
              heard();
              this.#options.onSkipped?.(event);
              // Skipped for good: resuming before it would have the daemon send it again, for ever.
              if (event.id !== undefined && event.id !== "") this.lastEventId = event.id;
            },
          },
          { lastEventId: this.lastEventId, signal },
        );
        if (failures > 0 || this.reconnects > 0 || this.lastActivityAt !== undefined) this.reconnects++;
        touch();
        attempted();
        this.#options.onState({ state: "open" });
        const check = () => {
          const idle = Date.now() - (this.lastActivityAt ?? 0);
          if (busy > 0 || idle < this.#idleMs) {
            watchdog = setTimeout(check, busy > 0 ? this.#idleMs : this.#idleMs - idle);
            return;
          }
          stalled = true;
          connection.abort();
        };
        watchdog = setTimeout(check, this.#idleMs);
        try {
          await subscription.closed;
          problem = stalled ? "stalled" : "closed";
          error = new SignalCliError(
            "NETWORK",
            stalled
              ? `signal-cli's event stream sent nothing (not even a keepalive) for ${this.#idleMs} ms; reconnecting`
              : "signal-cli closed the event stream; reconnecting",
            { url: this.#options.client.eventsUrl },
          );
        } catch (cause) {
          problem = "broken";
          error =
            cause instanceof SignalCliError
              ? cause
              : new SignalCliError("NETWORK", "signal-cli's event stream broke", {
                  url: this.#options.client.eventsUrl,
                  cause,
                });
        }
      } catch (cause) {
        problem = "unreachable";
        error =
          cause instanceof SignalCliError
            ? cause
            : new SignalCliError("NETWORK", "cannot open signal-cli's event stream", {
                url: this.#options.client.eventsUrl,
                cause,
              });
      } finally {
        clearTimeout(watchdog);
        connection.abort();
      }
      if (stopSignal.aborted) break;
      // A stream that delivered something retries soon; an unreachable daemon, or one that opens
      // streams and drops them at once, is retried with exponentially growing delays.
      if (received) failures = 0;
      const base = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** failures);
      const retryInMs = Math.round(base * (0.8 + Math.random() * 0.4));
      failures++;
      this.#options.onState({ state: "retrying", problem, error, retryInMs });
      attempted();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, retryInMs);
        function done() {
          clearTimeout(timer);
          stopSignal.removeEventListener("abort", done);
          resolve();
        }
        stopSignal.addEventListener("abort", done, { once: true });
      });
    }
    attempted(); // stopped before the first attempt
  }
}
