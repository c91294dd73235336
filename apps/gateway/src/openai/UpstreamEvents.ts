import { createParser, type EventSourceMessage, type EventSourceParser } from "eventsource-parser";
import { OpenAiError } from "./errors";

/** What one read of the upstream's event stream gives a proxy. */
export interface UpstreamEventBatch {
  /**
   * The events to pass on, framed (`data: <chunk>\n\n` each): the upstream's own bytes when they
   * needed no change, events framed again otherwise. Empty when the read held no whole event.
   */
  events: Buffer | string;
  /** An error event (or a chunk with an `error`): what came before it is in `events`. */
  failure?: OpenAiError;
}

const DONE = Buffer.from("data: [DONE]\n\n");
/**
 * The tail of `"error"`. Searched for instead of the whole key: Node's search for a pattern under 8
 * bytes looks for its first byte with `memchr`, and `"` is everywhere in JSON (70 µs for 40 KB of
 * chunks, against 3 µs for `rror"`).
 */
const RROR = Buffer.from('rror"');
/** A finish reason (null is not one). */
const FINISHED = /"finish_reason"\s*:\s*"/;
const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/**
 * Reads an OpenAI-compatible upstream's server-sent events as a proxy needs them: which bytes to
 * pass on, whether the stream said `[DONE]` or gave a finish reason, and its error events.
 *
 * The common case costs a few native byte searches per read and no copy: a run of whole events
 * that are each one `data: ` line (how OpenAI and compatible servers write them), with no `"error"`
 * in them, is passed on as the upstream's bytes. Anything else (an error, other fields, comments,
 * multi-line data) goes through `eventsource-parser` and is framed again; CRLF line ends switch the
 * rest of the stream to the parser.
 */
export class UpstreamEvents {
  #tail: Buffer = EMPTY;
  #parser: EventSourceParser | undefined;
  #decoder: TextDecoder | undefined;
  #parsed: EventSourceMessage[] = [];
  #sinceEvent = 0;
  #done = false;
  #finished = false;

  /** @param maxEventChars - Largest single event, in bytes (a longer one is a 502). */
  constructor(private readonly maxEventChars: number) {}

  /** Whether the upstream said `data: [DONE]` (nothing after it is passed on). */
  get done(): boolean {
    return this.#done;
  }

  /** Whether a chunk had a finish reason: a stream that ends without `[DONE]` after one is whole. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Reads the next bytes of the stream.
   *
   * @param bytes - What the upstream sent next (one socket read, or several).
   * @returns The events to pass on, and an error event if one came.
   * @throws {@link OpenAiError} 502 `upstream_too_large` for an event over `maxEventChars`.
   */
  push(bytes: Buffer): UpstreamEventBatch {
    if (this.#done) return { events: EMPTY };
    if (this.#parser !== undefined) return this.#parse(this.#decoder!.decode(bytes, { stream: true }));
    const data = this.#tail.length === 0 ? bytes : Buffer.concat([this.#tail, bytes]);
    if (data.includes(CR)) return this.#switchToParser(data);
    const end = data.lastIndexOf("\n\n");
    if (end === -1) {
      this.#tail = data;
      this.#checkSize(data.length);
      return { events: EMPTY };
    }
    const whole = data.subarray(0, end + 2);
    this.#tail = data.subarray(end + 2);
    this.#checkSize(this.#tail.length);
    // One `data: ` line per event, up to `[DONE]`.
    let at = 0;
    while (at < whole.length) {
      if (!isDataLine(whole, at)) return this.#slow(whole);
      const lineEnd = whole.indexOf(LF, at);
      if (whole[lineEnd + 1] !== LF) return this.#slow(whole);
      if (lineEnd - at === DONE.length - 2 && whole.compare(DONE, 0, DONE.length, at, lineEnd + 2) === 0) {
        this.#tail = EMPTY;
        return this.#fast(whole.subarray(0, at), true);
      }
      at = lineEnd + 2;
    }
    return this.#fast(whole, false);
  }

  /**
   * Events that can go on as they are, unless they carry an `"error"`.
   *
   * @param events - Whole `data: ` events.
   * @param done - Whether `[DONE]` came right after them (it counts unless an error came first).
   */
  #fast(events: Buffer, done: boolean): UpstreamEventBatch {
    if (hasErrorKey(events)) {
      const batch = this.#slow(events);
      if (done && batch.failure === undefined) this.#done = true;
      return batch;
    }
    this.#done = done;
    // After [DONE] a finish reason no longer matters.
    if (!done && !this.#finished && FINISHED.test(events.toString("latin1"))) this.#finished = true;
    return { events };
  }

  /** Whole events (they end at a blank line) read by the parser. */
  #slow(events: Buffer): UpstreamEventBatch {
    this.#parser ??= createParser({ onEvent: (event) => this.#parsed.push(event) });
    const batch = this.#parse(events.toString("utf8"));
    // The parser is done with these events; the next read may take the fast path again.
    this.#parser = undefined;
    return batch;
  }

  #switchToParser(data: Buffer): UpstreamEventBatch {
    this.#tail = EMPTY;
    this.#parser = createParser({ onEvent: (event) => this.#parsed.push(event) });
    this.#decoder = new TextDecoder();
    return this.#parse(this.#decoder.decode(data, { stream: true }));
  }

  #parse(text: string): UpstreamEventBatch {
    this.#parser!.feed(text);
    const parsed = this.#parsed;
    if (parsed.length === 0) {
      this.#sinceEvent += text.length;
      this.#checkSize(this.#sinceEvent);
      return { events: "" };
    }
    this.#sinceEvent = 0;
    let events = "";
    let failure: OpenAiError | undefined;
    for (const event of parsed) {
      const data = event.data;
      if (data === "[DONE]") {
        this.#done = true;
        break;
      }
      if (event.event === "error") failure = midStreamError(parseJson<{ error?: unknown }>(data).error ?? {});
      else if (data.includes('"error"')) {
        const error = parseJson<{ error?: unknown }>(data).error;
        if (error !== undefined && error !== null) failure = midStreamError(error);
      }
      if (failure !== undefined) break;
      if (!this.#finished && FINISHED.test(data)) this.#finished = true;
      events += `data: ${data.includes("\n") ? data.split("\n").join("\ndata: ") : data}\n\n`;
    }
    parsed.length = 0;
    return failure === undefined ? { events } : { events, failure };
  }

  #checkSize(size: number): void {
    if (size > this.maxEventChars)
      throw new OpenAiError("api_error", "an event from the upstream is too large", {
        status: 502,
        code: "upstream_too_large",
      });
  }
}

/** Whether `bytes` holds `"error"` (as a key, or a value: the parser tells). */
function hasErrorKey(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(RROR); at !== -1; at = bytes.indexOf(RROR, at + RROR.length))
    if (bytes[at - 1] === 0x65 && bytes[at - 2] === 0x22) return true;
  return false;
}

/** Whether `bytes` has `data: ` at `at`. */
function isDataLine(bytes: Buffer, at: number): boolean {
  return (
    bytes[at] === 0x64 &&
    bytes[at + 1] === 0x61 &&
    bytes[at + 2] === 0x74 &&
    bytes[at + 3] === 0x61 &&
    bytes[at + 4] === 0x3a &&
    bytes[at + 5] === 0x20
  );
}

/**
 * The JSON texts of framed events (as {@link UpstreamEventBatch.events} has them).
 *
 * @param events - `data: <chunk>\n\n` events.
 * @returns Each event's data.
 */
export function eventData(events: Buffer | string): string[] {
  const text = typeof events === "string" ? events : events.toString("utf8");
  const datas: string[] = [];
  for (const event of text.split("\n\n"))
    if (event !== "")
      datas.push(event.startsWith("data: ") ? event.slice(6).split("\ndata: ").join("\n") : event);
  return datas;
}

/**
 * JSON from the upstream.
 *
 * @throws {@link OpenAiError} 502 `upstream_malformed`.
 */
export function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new OpenAiError("api_error", "the upstream answered with malformed JSON", {
      status: 502,
      code: "upstream_malformed",
      cause: error,
    });
  }
}

interface UpstreamErrorFields {
  message?: unknown;
  code?: unknown;
}

/** An error event inside the upstream's stream. */
function midStreamError(error: unknown): OpenAiError {
  const fields = (typeof error === "object" && error !== null ? error : {}) as UpstreamErrorFields;
  return new OpenAiError(
    "api_error",
    `the upstream failed mid-stream: ${typeof fields.message === "string" ? fields.message : "unknown error"}`,
    { status: 502, code: typeof fields.code === "string" ? fields.code : "upstream_error" },
  );
}
