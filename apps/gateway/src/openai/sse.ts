import { once } from "node:events";
import type { ServerResponse } from "node:http";

const RESOLVED = Promise.resolve();
/** An SSE response's head, as the flat list `writeHead` takes without building an object. */
const SSE_HEADERS = [
  "content-type",
  "text/event-stream",
  "cache-control",
  "no-cache",
  "connection",
  "keep-alive",
];

/** Pending SSE text beyond this many characters is written at once, not at the end of the turn. */
export const SSE_FLUSH_CHARS = 64 * 1024;

/**
 * Server-sent events written straight to a Node response. Events sent within one event-loop turn
 * are joined and leave in one write (one HTTP chunk): hono's web-stream SSE helper costs a write
 * (and a syscall) per event. A full socket buffer makes `send` wait for drain.
 */
export class SseWriter {
  /** Pending text after {@link SseWriter.#parts}. */
  #pending = "";
  /** Pending events given as buffers (and the text before them), in order; usually none. */
  #parts: Array<Buffer | string> = [];
  #partsSize = 0;
  #scheduled = false;

  /**
   * Sends the response head (200, `text/event-stream`).
   *
   * @param res - The Node response.
   */
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, SSE_HEADERS);
  }

  /** Whether the client went away (or the stream was ended). */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /**
   * Sends one event; resolves at once unless the socket's buffer is full.
   *
   * @param data - The `data:` line (JSON text, or `[DONE]`).
   * @param event - An `event:` name, for the Responses API's named events.
   */
  send(data: string, event?: string): Promise<void> {
    if (this.closed) return RESOLVED;
    this.#pending += event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`;
    return this.#schedule();
  }

  /**
   * Sends several `data:` events at once; resolves at once unless the socket's buffer is full.
   *
   * @param datas - The `data:` lines.
   */
  sendAll(datas: readonly string[]): Promise<void> {
    if (this.closed) return RESOLVED;
    for (const data of datas) this.#pending += `data: ${data}\n\n`;
    return this.#schedule();
  }

  /**
   * Sends events already framed (`data: …\n\n` each), as bytes or text; resolves at once unless
   * the socket's buffer is full.
   *
   * @param events - Whole events.
   */
  sendEvents(events: Buffer | string): Promise<void> {
    if (this.closed) return RESOLVED;
    if (typeof events === "string") this.#pending += events;
    else {
      if (this.#pending !== "") this.#part(this.#pending);
      this.#pending = "";
      this.#part(events);
    }
    return this.#schedule();
  }

  #part(bytes: Buffer | string): void {
    this.#parts.push(bytes);
    this.#partsSize += bytes.length;
  }

  /**
   * Flushes now or at the end of the turn; waits for drain while the response's buffer is over its
   * high-water mark (checked now, so a drain that already happened is not waited for).
   */
  #schedule(): Promise<void> {
    if (this.#pending.length + this.#partsSize >= SSE_FLUSH_CHARS) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    if (!this.res.writableNeedDrain) return RESOLVED;
    return Promise.race([once(this.res, "drain"), once(this.res, "close")]).then(() => {});
  }

  /** Writes what is pending and ends the response (once), in one write when nothing is in flight. */
  end(): void {
    this.#scheduled = false;
    if (this.closed) return;
    this.#write(true);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.closed) return;
    this.#write(false);
  }

  /**
   * Writes what is pending, the buffers and the text after them, without joining them into one
   * buffer (a copy of the whole batch): several writes to a corked response leave in one `writev`.
   */
  #write(end: boolean): void {
    const text = this.#pending;
    const parts = this.#parts;
    this.#pending = "";
    if (parts.length === 0) {
      if (end) this.res.end(text === "" ? undefined : text);
      else if (text !== "") this.res.write(text);
      return;
    }
    this.#parts = [];
    this.#partsSize = 0;
    this.res.cork();
    for (const part of parts) this.res.write(part);
    if (end) this.res.end(text === "" ? undefined : text);
    else if (text !== "") this.res.write(text);
    this.res.uncork();
  }
}
