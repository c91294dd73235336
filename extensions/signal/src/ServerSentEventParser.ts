/** One complete server-sent event. */
export interface ServerSentEvent {
  /** Its `id` field, when it has one. */
  id: string | undefined;
  /** Its `event` field (the type), when it has one. */
  event: string | undefined;
  /** Its `data` lines, joined with `\n`. */
  data: string;
}

/** An event whose data was longer than the parser's `maxEventChars`: dropped, but its id kept. */
export interface SkippedServerSentEvent {
  /** Its `id` field, wherever it stood in the event (before or after the data). */
  id: string | undefined;
  /** Its `event` field, when it has one. */
  event: string | undefined;
  /** How long its data was, in characters. */
  chars: number;
}

/** Options of a {@link ServerSentEventParser}. */
export interface ServerSentEventParserOptions {
  /** The longest event data kept, in characters; the data of a longer event is dropped as it arrives. */
  maxEventChars: number;
  /** A complete event. */
  onEvent(event: ServerSentEvent): void;
  /** A complete event whose data was longer than `maxEventChars`. */
  onSkipped(event: SkippedServerSentEvent): void;
  /** A comment line, without its `:` (and one space after it). */
  onComment?(comment: string): void;
}

/** Field names are short: this many characters of an overlong line are enough to know its field. */
const HEAD_CHARS = 16;

/**
 * A parser of a `text/event-stream` (the WHATWG server-sent events format: `data`, `event`, `id`
 * fields, `:` comments, lines ended by CR, LF or CRLF, a blank line ending an event) that holds at
 * most `maxEventChars` of an event's data, and about as much of one line, however the stream is
 * cut into chunks. The data of a longer event is dropped as it arrives, and the event is still
 * reported once it ends, with its id ({@link ServerSentEventParserOptions.onSkipped}): a client
 * resuming with `Last-Event-ID` moves past it instead of having the server send it again.
 *
 * @example
 * ```ts
 * const parser = new ServerSentEventParser({ maxEventChars: 1 << 20, onEvent, onSkipped });
 * for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
 * ```
 */
export class ServerSentEventParser {
  readonly #options: ServerSentEventParserOptions;
  /** The line being read, in pieces, while it is short enough to keep. */
  #line: string[] = [];
  #lineChars = 0;
  /** The first characters of a line too long to keep (the rest is counted, not kept). */
  #overlongHead: string | undefined;
  #overlongChars = 0;
  /** The last chunk ended with CR: an LF starting the next one belongs to the same line end. */
  #afterCr = false;
  #started = false;
  #id: string | undefined;
  #event: string | undefined;
  #data: string[] = [];
  #dataLines = 0;
  #dataChars = 0;
  #skipped = false;

  constructor(options: ServerSentEventParserOptions) {
    this.#options = options;
  }

  /**
   * Reads the next piece of the stream; calls the handlers for every event and comment it completes.
   *
   * @param chunk - Decoded text, cut anywhere.
   */
  feed(chunk: string): void {
    let start = 0;
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) start = 1; // a byte order mark
    }
    if (this.#afterCr && start < chunk.length) {
      this.#afterCr = false;
      if (chunk.charCodeAt(start) === 0x0a) start++;
    }
    let cr = chunk.indexOf("\r", start);
    while (start < chunk.length) {
      if (cr !== -1 && cr < start) cr = chunk.indexOf("\r", start);
      const lf = chunk.indexOf("\n", start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) {
        this.#hold(chunk, start, chunk.length);
        return;
      }
      this.#hold(chunk, start, end);
      this.#endLine();
      start = end + 1;
      if (end === cr) {
        if (start === chunk.length) this.#afterCr = true;
        else if (chunk.charCodeAt(start) === 0x0a) start++;
      }
    }
  }

  #hold(chunk: string, from: number, to: number): void {
    if (to === from) return;
    const chars = to - from;
    if (this.#overlongHead !== undefined) {
      this.#overlongChars += chars;
      if (this.#overlongHead.length < HEAD_CHARS)
        this.#overlongHead += chunk.slice(from, Math.min(to, from + HEAD_CHARS - this.#overlongHead.length));
      return;
    }
    if (this.#lineChars + chars <= this.#options.maxEventChars + HEAD_CHARS) {
      this.#line.push(chunk.slice(from, to));
      this.#lineChars += chars;
      return;
    }
    // Too long to keep: remember what field it is, count the rest.
    const head = `${this.#line.join("")}${chunk.slice(from, from + HEAD_CHARS)}`.slice(0, HEAD_CHARS);
    this.#overlongHead = head;
    this.#overlongChars = this.#lineChars + chars;
    this.#line = [];
    this.#lineChars = 0;
  }

  #endLine(): void {
    if (this.#overlongHead !== undefined) {
      const head = this.#overlongHead;
      const chars = this.#overlongChars;
      this.#overlongHead = undefined;
      this.#overlongChars = 0;
      // Only a data line matters (it makes the event too long); an overlong comment, id or unknown
      // field is ignored, as a field nobody could use.
      if (head.startsWith("data:")) this.#addData(undefined, chars - (head.charCodeAt(5) === 0x20 ? 6 : 5));
      return;
    }
    const line = this.#line.length === 1 ? this.#line[0]! : this.#line.join("");
    this.#line = [];
    this.#lineChars = 0;
    if (line === "") {
      this.#dispatch();
      return;
    }
    const colon = line.indexOf(":");
    if (colon === 0) {
      this.#options.onComment?.(line.slice(line.charCodeAt(1) === 0x20 ? 2 : 1));
      return;
    }
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1);
    if (field === "data") this.#addData(value, value.length);
    else if (field === "event") this.#event = value === "" ? undefined : value;
    else if (field === "id") {
      if (!value.includes("\0")) this.#id = value;
    }
    // `retry` and unknown fields are ignored.
  }

  /** One data line: its value, or `undefined` when it was too long to keep. */
  #addData(value: string | undefined, chars: number): void {
    this.#dataChars += (this.#dataLines > 0 ? 1 : 0) + chars;
    this.#dataLines++;
    if (this.#skipped) return;
    if (value === undefined || this.#dataChars > this.#options.maxEventChars) {
      this.#skipped = true;
      this.#data = [];
      return;
    }
    this.#data.push(value);
  }

  #dispatch(): void {
    const id = this.#id;
    const event = this.#event;
    const lines = this.#dataLines;
    const chars = this.#dataChars;
    const skipped = this.#skipped;
    const data = this.#data;
    this.#id = undefined;
    this.#event = undefined;
    this.#data = [];
    this.#dataLines = 0;
    this.#dataChars = 0;
    this.#skipped = false;
    if (skipped) this.#options.onSkipped({ id, event, chars });
    else if (lines > 0)
      this.#options.onEvent({ id, event, data: data.length === 1 ? data[0]! : data.join("\n") });
  }
}
