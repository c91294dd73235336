import { fstatSync, write, writeSync } from "node:fs";
import { isatty } from "node:tty";

/** The defaults of {@link LogSinkOptions}. */
export const DEFAULT_LOG_SINK_OPTIONS = Object.freeze({
  fd: 1,
  maxBufferedBytes: 4 * 1024 * 1024,
  drainTimeoutMs: 2_000,
  flushOnExit: true,
});

/** Largest single write: the lines waiting are written together, up to this many bytes. */
const MAX_WRITE_BYTES = 64 * 1024;
/** The first wait before a failed write is tried again; it doubles up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 25;
/** The longest wait between two tries of a failing log. */
const MAX_RETRY_MS = 1_000;

/** Options of a {@link LogSink}. */
export interface LogSinkOptions {
  /**
   * The file descriptor written to. A regular file is written with asynchronous `fs.write`; stdout
   * or stderr that is a pipe, socket or terminal through `process.stdout` / `process.stderr`, whose
   * writes there never block the process.
   * @defaultValue 1 (stdout)
   */
  fd?: number;
  /**
   * Bytes of log lines that may wait to be written (the destination slow, full or failing). A line
   * that does not fit is dropped and counted; once a write succeeds again with room in the buffer,
   * one line reports the count ("dropped N log lines while the log could not be written").
   * @defaultValue 4 MiB
   */
  maxBufferedBytes?: number;
  /**
   * How long {@link LogSink.drain} waits at most for the lines still waiting (at shutdown).
   * @defaultValue 2000
   */
  drainTimeoutMs?: number;
  /**
   * When the process exits with lines still waiting and the destination is a regular file, try once
   * to write them synchronously (one attempt per chunk; a failure ends it, so exit is never held up).
   * @defaultValue true
   */
  flushOnExit?: boolean;
  /** Fields of the sink's own line (the drop report), as a logger's `base`. @defaultValue `{}` */
  base?: Readonly<Record<string, unknown>>;
}

/** What a {@link LogSink} holds and has dropped. */
export interface LogSinkStats {
  /** Bytes waiting to be written (including a write in progress). */
  bufferedBytes: number;
  /** Lines dropped and not yet reported in the log. */
  droppedLines: number;
  /** Lines dropped since the sink was made. */
  totalDroppedLines: number;
  /** The OS code of the last failed write while the log is failing (`ENOSPC`, `EPIPE`, …), else undefined. */
  error: string | undefined;
}

/** How chunks reach the destination: one at a time, `done` called once with the bytes written. */
type Transport = (
  chunk: Buffer,
  done: (error: NodeJS.ErrnoException | null, written: number) => void,
) => void;

/**
 * A log destination that never blocks the process: lines (pino's `DestinationStream`) are written
 * asynchronously, at most `maxBufferedBytes` of them wait, and what does not fit is dropped and
 * counted, never awaited. A failed write (a full disk, a closed pipe) keeps its lines and is tried
 * again with a backoff (25 ms doubling to 1 s); once writes succeed again, one warning line says how
 * many lines were lost. {@link LogSink.drain} waits for the rest at shutdown, within a time budget.
 *
 * @example
 * ```ts
 * const sink = new LogSink({ maxBufferedBytes: 8 * 1024 * 1024 });
 * const logger = pino({}, sink);
 * // … at shutdown:
 * await sink.drain();
 * ```
 */
export class LogSink {
  readonly #fd: number;
  readonly #drainTimeoutMs: number;
  readonly #base: Readonly<Record<string, unknown>>;
  readonly #transport: Transport;
  readonly #regularFile: boolean;
  #maxBufferedBytes: number;
  /** Lines not yet taken for a write; `#head` is the first one still waiting. */
  #queue: Buffer[] = [];
  #head = 0;
  /** Bytes in the queue and in the chunk being written. */
  #buffered = 0;
  /** The chunk being written, or the rest of it after a partial or failed write. */
  #chunk: Buffer | undefined;
  #writing = false;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = FIRST_RETRY_MS;
  #error: string | undefined;
  #dropped = 0;
  #droppedError: string | undefined;
  #totalDropped = 0;
  readonly #waiters = new Set<() => void>();
  readonly #onExit = () => this.#flushSync();

  /** @param options - See {@link LogSinkOptions}. */
  constructor(options: LogSinkOptions = {}) {
    this.#fd = options.fd ?? DEFAULT_LOG_SINK_OPTIONS.fd;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_LOG_SINK_OPTIONS.maxBufferedBytes;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_LOG_SINK_OPTIONS.drainTimeoutMs;
    this.#base = options.base ?? {};
    let regularFile = true;
    try {
      regularFile = !isStream(this.#fd);
    } catch {
      // not open (EBADF): writes fail and are counted
    }
    this.#regularFile = regularFile;
    const stdio = this.#fd === 1 ? process.stdout : this.#fd === 2 ? process.stderr : undefined;
    if (!regularFile && stdio !== undefined) {
      // A pipe, socket or terminal: Node's own stream writes it without blocking (a pipe whose reader
      // stalls would hold a thread, and the exit, with fs.write). Its errors arrive with the write.
      stdio.on("error", () => {});
      this.#transport = (chunk, done) =>
        void stdio.write(chunk, (error) =>
          done((error as NodeJS.ErrnoException | null | undefined) ?? null, error ? 0 : chunk.length),
        );
    } else {
      this.#transport = (chunk, done) => write(this.#fd, chunk, 0, chunk.length, null, done);
    }
    if (options.flushOnExit ?? DEFAULT_LOG_SINK_OPTIONS.flushOnExit) process.on("exit", this.#onExit);
  }

  /** The bound on waiting bytes (see {@link LogSinkOptions.maxBufferedBytes}); applies from the next line. */
  get maxBufferedBytes(): number {
    return this.#maxBufferedBytes;
  }

  set maxBufferedBytes(bytes: number) {
    this.#maxBufferedBytes = bytes;
  }

  /** What the sink holds and has dropped. */
  get stats(): LogSinkStats {
    return {
      bufferedBytes: this.#buffered,
      droppedLines: this.#dropped,
      totalDroppedLines: this.#totalDropped,
      error: this.#error,
    };
  }

  /**
   * Queues one line (pino passes whole lines, newline included). Never blocks and never throws.
   *
   * @param line - The line.
   * @returns `false` if the line was dropped (no room in the buffer).
   */
  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.#buffered + bytes > this.#maxBufferedBytes) {
      if (this.#dropped === 0) this.#droppedError = this.#error;
      this.#dropped++;
      this.#totalDropped++;
      return false;
    }
    this.#enqueue(Buffer.from(line));
    return true;
  }

  /**
   * Waits until every waiting line is written, a write fails for a reason other than a full pipe,
   * or `timeoutMs` passes, whichever comes first. A failing log is tried once more at once.
   *
   * @param timeoutMs - The budget. @defaultValue {@link LogSinkOptions.drainTimeoutMs}
   * @returns Resolves (never rejects) when done waiting.
   */
  drain(timeoutMs = this.#drainTimeoutMs): Promise<void> {
    if (this.#buffered === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
      if (this.#retry !== undefined) {
        clearTimeout(this.#retry);
        this.#retry = undefined;
        this.#pump();
      }
    });
  }

  /**
   * pino's `logger.flush(callback)`: {@link drain}, then the callback.
   *
   * @param callback - Called once done waiting.
   */
  flush(callback?: (error?: Error) => void): void {
    void this.drain().then(() => callback?.());
  }

  /** Stops retrying and forgets the exit hook; lines still waiting are not written. */
  close(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    process.off("exit", this.#onExit);
  }

  #enqueue(line: Buffer): void {
    this.#queue.push(line);
    this.#buffered += line.length;
    this.#pump();
  }

  #pump(): void {
    if (this.#writing || this.#retry !== undefined) return;
    const chunk = this.#chunk ?? this.#take();
    if (chunk === undefined) return;
    this.#chunk = chunk;
    this.#writing = true;
    this.#transport(chunk, (error, written) => this.#written(chunk, error, written));
  }

  /** Takes the waiting lines for one write, up to {@link MAX_WRITE_BYTES} (at least one line). */
  #take(): Buffer | undefined {
    const queue = this.#queue;
    if (this.#head === queue.length) return undefined;
    let end = this.#head + 1;
    let size = queue[this.#head]!.length;
    while (end < queue.length && size + queue[end]!.length <= MAX_WRITE_BYTES) size += queue[end++]!.length;
    const chunk =
      end - this.#head === 1 ? queue[this.#head]! : Buffer.concat(queue.slice(this.#head, end), size);
    this.#head = end;
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    return chunk;
  }

  #written(chunk: Buffer, error: NodeJS.ErrnoException | null, written: number): void {
    this.#writing = false;
    if (error !== null) {
      // Kept, and tried again later: a full disk may get space back, a slow reader catch up.
      this.#error = error.code ?? "EIO";
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#pump();
      }, this.#retryMs);
      this.#retry.unref();
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
      if (error.code !== "EAGAIN") this.#wake();
      return;
    }
    this.#retryMs = FIRST_RETRY_MS;
    this.#error = undefined;
    this.#buffered -= written;
    this.#chunk = written < chunk.length ? chunk.subarray(written) : undefined;
    if (this.#dropped > 0 && this.#buffered <= this.#maxBufferedBytes / 2) this.#report();
    if (this.#buffered === 0) this.#wake();
    else this.#pump();
  }

  /** The line that says what was lost (pino's JSON, level warn), queued past the bound: it is small. */
  #report(): void {
    const droppedLines = this.#dropped;
    const error = this.#droppedError;
    this.#dropped = 0;
    this.#droppedError = undefined;
    const fields = {
      level: 40,
      time: Date.now(),
      ...this.#base,
      droppedLines,
      ...(error === undefined ? {} : { error }),
      msg: `dropped ${droppedLines} log lines while the log could not be written`,
    };
    this.#enqueue(Buffer.from(`${JSON.stringify(fields)}\n`));
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** At exit, to a regular file only (a pipe could block): one synchronous attempt per chunk. */
  #flushSync(): void {
    if (!this.#regularFile || this.#writing) return;
    try {
      for (;;) {
        const chunk = this.#chunk ?? this.#take();
        if (chunk === undefined) return;
        this.#chunk = chunk;
        const written = writeSync(this.#fd, chunk);
        if (written <= 0) return;
        this.#buffered -= written;
        this.#chunk = written < chunk.length ? chunk.subarray(written) : undefined;
      }
    } catch {
      // the log cannot be written: what waits goes with the process
    }
  }
}

/**
 * Whether the descriptor is a pipe, socket or terminal (a stream), not a file. The stat is taken as
 * bigint: on Node 20 a plain `fstatSync` of a pipe leaves the shared stat buffer so that the ESM
 * loader stops resolving symbolic links afterwards (a channel plugin imported later then found its
 * packages' dependencies missing under pnpm's layout: `Cannot find module 'debug'` for grammY).
 */
function isStream(fd: number): boolean {
  const stat = fstatSync(fd, { bigint: true });
  return stat.isFIFO() || stat.isSocket() || (stat.isCharacterDevice() && isatty(fd));
}
