import { ChannelError } from "./ChannelError";
import type { ChannelContext, InboundMessageInput } from "./types";

/** Defaults of {@link EmitRetryOptions}. */
export const EMIT_RETRY_DEFAULTS = Object.freeze({
  /** First wait after a rejected `emit`. */
  initialDelayMs: 250,
  /** Longest wait between two tries. */
  maxDelayMs: 30_000,
});

/** Options of {@link emitUntilTaken}. */
export interface EmitRetryOptions {
  /**
   * How long to wait after the first rejected `emit`; each further rejection doubles the wait.
   * @defaultValue 250
   */
  initialDelayMs?: number;
  /**
   * The longest wait between two tries.
   * @defaultValue 30000
   */
  maxDelayMs?: number;
}

/**
 * Whether an error is, or was caused by, the gateway refusing an inbound message it could not
 * record (`HOST_UNAVAILABLE`): the platform should redeliver the message, or the plugin emit it
 * again. Follows `cause` (and the `error` or `original` a wrapper such as grammY's `BotError` or Bolt's
 * `UnknownError` keeps), a few levels deep.
 *
 * @param error - What a handler threw.
 * @returns `true` for a `HOST_UNAVAILABLE` anywhere in the chain.
 */
export function isHostUnavailable(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    if (current instanceof ChannelError) return current.code === "HOST_UNAVAILABLE";
    const next = current as { cause?: unknown; error?: unknown; original?: unknown };
    current = next.cause ?? next.error ?? next.original;
  }
  return false;
}

/**
 * Emits an inbound message until the gateway takes it, for platforms that do not redeliver what a
 * plugin did not acknowledge (a socket that pushes each event once) or whose cursor must not move
 * past it (a sync token, an update offset): while `emit` rejects with `HOST_UNAVAILABLE` it waits
 * (doubling from `initialDelayMs` up to `maxDelayMs`) and tries again, logging each refusal. Awaiting
 * it holds the plugin's cursor where it is, so the messages after it wait too and keep their order.
 *
 * @param context - The channel's context (`emit`, `signal`, `logger`).
 * @param message - The message.
 * @param options - The backoff.
 * @returns Resolves once the gateway has taken the message. Rejects with any other error of `emit`
 *   (a malformed message: a plugin bug) at once, and with `NOT_READY` when the channel stops first.
 *
 * @example
 * ```ts
 * for (const event of batch) await emitUntilTaken(context, toInbound(event));
 * saveCursor(batch.next); // only once every message of the batch is recorded
 * ```
 */
export async function emitUntilTaken(
  context: Pick<ChannelContext, "emit" | "signal" | "logger">,
  message: InboundMessageInput,
  options: EmitRetryOptions = {},
): Promise<void> {
  const initial = options.initialDelayMs ?? EMIT_RETRY_DEFAULTS.initialDelayMs;
  const max = options.maxDelayMs ?? EMIT_RETRY_DEFAULTS.maxDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await context.emit(message);
      return;
    } catch (error) {
      if (!isHostUnavailable(error)) throw error;
      const delayMs = Math.min(max, initial * 2 ** Math.min(attempt - 1, 30));
      context.logger.warn("the gateway could not take an inbound message; trying again", {
        messageId: message.id,
        attempt,
        delayMs,
        error: (error as Error).message,
      });
      await wait(delayMs, context.signal);
    }
  }
}

/** Waits `ms`, or rejects with `NOT_READY` once `signal` aborts (the timer cleared). */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stopped = () =>
      new ChannelError("NOT_READY", "the channel stopped before the gateway took the message");
    if (signal.aborted) return reject(stopped());
    const onAbort = () => {
      clearTimeout(timer);
      reject(stopped());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Defaults of {@link InboundRetrierOptions}. */
export const INBOUND_RETRIER_DEFAULTS = Object.freeze({
  /** Most messages held at once waiting for the gateway to take them. */
  maxHeld: 10_000,
});

/** Options of an {@link InboundRetrier}. */
export interface InboundRetrierOptions extends EmitRetryOptions {
  /**
   * Most messages held at once waiting for the gateway (each emitted again with backoff): beyond
   * it a new message is dropped and logged as an error, so that a long outage cannot use up memory.
   * @defaultValue 10000
   */
  maxHeld?: number;
}

/**
 * Hands the messages of a platform that pushes each event once (a socket, a sync loop that moves on
 * by itself) to the gateway without holding up the platform's loop: each is emitted at once, and
 * one the gateway cannot record yet is emitted again with backoff ({@link emitUntilTaken}), at most
 * `maxHeld` of them at a time. Messages refused meanwhile may be recorded out of their order.
 *
 * @example
 * ```ts
 * const inbound = new InboundRetrier(ctx);
 * socket.on("message", (event) => inbound.emit(toInbound(event)));
 * ```
 */
export class InboundRetrier {
  readonly #context: Pick<ChannelContext, "emit" | "signal" | "logger">;
  readonly #options: InboundRetrierOptions;
  #held = 0;

  /**
   * @param context - The channel's context.
   * @param options - The backoff and `maxHeld`.
   */
  constructor(
    context: Pick<ChannelContext, "emit" | "signal" | "logger">,
    options: InboundRetrierOptions = {},
  ) {
    this.#context = context;
    this.#options = options;
  }

  /** Messages not yet taken by the gateway. */
  get held(): number {
    return this.#held;
  }

  /**
   * Emits a message, and again with backoff while the gateway refuses it; never rejects.
   *
   * @param message - The message.
   * @returns Whether it was taken on: `false` when `maxHeld` messages are waiting already, or the
   *   channel is stopping (then it is dropped and logged).
   */
  emit(message: InboundMessageInput): boolean {
    const { logger, signal } = this.#context;
    if (signal.aborted) return false;
    const maxHeld = this.#options.maxHeld ?? INBOUND_RETRIER_DEFAULTS.maxHeld;
    if (this.#held >= maxHeld) {
      logger.error("dropped an inbound message: too many are waiting for the gateway to record them", {
        messageId: message.id,
        maxHeld,
      });
      return false;
    }
    this.#held++;
    emitUntilTaken(this.#context, message, this.#options)
      .catch((error: unknown) => {
        if (!signal.aborted)
          logger.error("dropped an inbound message", {
            messageId: message.id,
            error: (error as Error).message,
          });
      })
      .finally(() => {
        this.#held--;
      });
    return true;
  }
}
