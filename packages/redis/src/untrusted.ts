import * as v from "valibot";

/** Defaults of {@link MalformedMessagesOptions}. */
export const MALFORMED_MESSAGES_DEFAULTS = {
  /**
   * At most one warning per receiver in this time: the first malformed message is logged at once,
   * the ones after it only counted, and the count is logged with the next one after the interval.
   */
  warnIntervalMs: 60_000,
  /** How many characters of a dropped message the warning shows. */
  sampleChars: 120,
} as const;

/** The message every receiver logs when it drops what it read from Redis. */
export const MALFORMED_MESSAGE_WARNING = "malformed message from Redis dropped";

/** Where {@link MalformedMessages} warns (a pino logger fits). */
export interface MalformedMessagesLogger {
  warn(object: object, message: string): void;
}

/** Options of {@link MalformedMessages}. */
export interface MalformedMessagesOptions {
  /** Names the receiver in the warning's `source` field, e.g. `"change feed"`. */
  source: string;
  /** Where the warnings go. @defaultValue nowhere (only counted) */
  logger?: MalformedMessagesLogger | undefined;
  /**
   * At most one warning per this many milliseconds.
   * @defaultValue `MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs` (60 s)
   */
  warnIntervalMs?: number | undefined;
  /** The clock (tests). @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * What one receiver of Redis data (a pub/sub listener, a store reading its values) does with data it
 * cannot use: it drops it and calls {@link MalformedMessages.drop}, which warns at most once per
 * `warnIntervalMs` (anyone who can write to Redis can send a flood of them) and counts the rest.
 * {@link MalformedMessages.guard} wraps a listener so that nothing it throws leaves it (an exception
 * in an ioredis event listener would end the process).
 */
export class MalformedMessages {
  /** The receiver's name. */
  readonly source: string;
  readonly #logger: MalformedMessagesLogger | undefined;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #lastWarnAt: number | undefined;
  #unreported = 0;
  #dropped = 0;

  constructor(options: MalformedMessagesOptions) {
    this.source = options.source;
    this.#logger = options.logger;
    this.#intervalMs = options.warnIntervalMs ?? MALFORMED_MESSAGES_DEFAULTS.warnIntervalMs;
    this.#now = options.now ?? Date.now;
  }

  /** How many messages this receiver dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Counts a dropped message, and warns unless a warning was given within `warnIntervalMs` (then
   * the next warning says how many were dropped without one).
   *
   * @param reason - Why it was dropped.
   * @param data - What the message was (its start is shown) and where it came from.
   */
  drop(
    reason: string,
    data: { channel?: string; message?: string | Buffer; [field: string]: unknown } = {},
  ): void {
    this.#dropped += 1;
    const now = this.#now();
    if (this.#lastWarnAt !== undefined && now - this.#lastWarnAt < this.#intervalMs) {
      this.#unreported += 1;
      return;
    }
    this.#lastWarnAt = now;
    const { message, ...rest } = data;
    const fields: Record<string, unknown> = { source: this.source, reason, ...rest };
    if (message !== undefined) fields.sample = sample(message);
    if (this.#unreported > 0) fields.droppedWithoutWarning = this.#unreported;
    this.#unreported = 0;
    this.#logger?.warn(fields, MALFORMED_MESSAGE_WARNING);
  }

  /**
   * Wraps a listener so that whatever it throws is dropped here (with the rate-limited warning)
   * instead of escaping into the emitter.
   *
   * @param listener - The listener.
   * @returns The guarded listener.
   */
  guard<A extends unknown[]>(listener: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        listener(...args);
      } catch (error) {
        this.drop(`handling it failed: ${String(error)}`);
      }
    };
  }

  /**
   * Parses JSON read from Redis and checks it against a schema; drops it (see {@link drop}) when it
   * is not JSON or does not match.
   *
   * @param schema - What the message must be.
   * @param text - The message.
   * @param channel - Where it came from (for the warning).
   * @returns The checked value, or `undefined` when it was dropped.
   */
  parse<S extends v.GenericSchema>(
    schema: S,
    text: string | Buffer,
    channel?: string,
  ): v.InferOutput<S> | undefined {
    const result = parseJson(schema, text);
    if (result.ok) return result.value;
    this.drop(result.reason, { ...(channel === undefined ? {} : { channel }), message: text });
    return undefined;
  }
}

/**
 * Parses JSON and checks it against a schema.
 *
 * @param schema - What the value must be.
 * @param text - The JSON.
 * @returns The checked value, or why it is not one.
 */
export function parseJson<S extends v.GenericSchema>(
  schema: S,
  text: string | Buffer,
): { ok: true; value: v.InferOutput<S> } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof text === "string" ? text : text.toString());
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  return checkValue(schema, parsed);
}

/**
 * Checks a value against a schema.
 *
 * @param schema - What the value must be.
 * @param value - The value.
 * @returns The checked value, or why it is not one (the first issue and where).
 */
export function checkValue<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
): { ok: true; value: v.InferOutput<S> } | { ok: false; reason: string } {
  const result = v.safeParse(schema, value);
  if (result.success) return { ok: true, value: result.output };
  const issue = result.issues[0];
  const path = v.getDotPath(issue);
  return { ok: false, reason: path === null ? issue.message : `${path}: ${issue.message}` };
}

function sample(message: string | Buffer): string {
  const text =
    typeof message === "string"
      ? message
      : message.subarray(0, 4 * MALFORMED_MESSAGES_DEFAULTS.sampleChars).toString();
  return text.length > MALFORMED_MESSAGES_DEFAULTS.sampleChars
    ? `${text.slice(0, MALFORMED_MESSAGES_DEFAULTS.sampleChars)}…`
    : text;
}
