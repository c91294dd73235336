import { type FileHandle, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RecordLogError, toRecordLogError } from "./RecordLogError";

/** Options of a {@link RecordLog}. */
export interface RecordLogOptions {
  /** The directory (normally the gateway's state dir). Created (mode `0700`) if missing. */
  dir: string;
  /**
   * The log's name: it lives in `<name>.log`, locked by `<name>.lock` (both created with mode
   * `0600`). Letters, digits, `.`, `_` and `-` only.
   */
  name: string;
  /**
   * The log is compacted once it has more than this many lines and more than twice as many lines
   * as live records. After a failed compaction the next attempt waits for this many more lines.
   * @defaultValue 1000
   */
  compactMinLines?: number;
  /**
   * Told about failures no caller is waiting for: a compaction that failed (the log keeps working
   * on its current file), or one that left the log unusable (every later write then rejects).
   * Errors it throws are ignored.
   * @defaultValue a function that does nothing
   */
  onBackgroundError?: (error: RecordLogError) => void;
}

/** The defaults of {@link RecordLogOptions}. */
export const DEFAULT_RECORD_LOG_OPTIONS = Object.freeze({
  compactMinLines: 1000,
  onBackgroundError: (_error: RecordLogError): void => {},
}) satisfies Required<Omit<RecordLogOptions, "dir" | "name">>;

/** The permissions of the files a {@link RecordLog} creates: owner read and write only. */
export const RECORD_LOG_FILE_MODE = 0o600;

/** The permissions of the directories a {@link RecordLog} creates: owner only. */
export const RECORD_LOG_DIR_MODE = 0o700;

/** Facts about a log's file, for operators and tests. */
export interface RecordLogStats {
  /** Lines in the log now. */
  lines: number;
  /** Records alive. */
  records: number;
  /** Lines skipped at load because they were not valid (a torn tail is cut, not counted). */
  corruptLines: number;
  /** Byte offsets of the first {@link MAX_REPORTED_CORRUPT_OFFSETS} skipped lines in the file. */
  corruptOffsets: number[];
  /** The log file. */
  file: string;
  /** Compactions done since opening. */
  compactions: number;
  /** Compactions that failed since opening (the log kept working on its current file). */
  compactionFailures: number;
}

type LogLine<R> = { op: "put"; record: R } | { op: "del"; id: string };

interface QueuedWrite {
  readonly text: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Puts the records in memory back as they were before this write (it failed). */
  readonly undo: () => void;
}

/** Skipped lines whose offsets {@link RecordLogStats.corruptOffsets} lists. */
export const MAX_REPORTED_CORRUPT_OFFSETS = 100;

/** Locks held by this process, by path: a lock naming our own pid is ours only if it is here. */
const heldLocks = new Set<string>();

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Records with an `id`, kept in memory and made durable in one directory: an append-only log
 * (`<name>.log`, one JSON line per put or delete) written with group commit (every write waiting at
 * the same moment shares one `write` and one `fdatasync`), so a write is durable when its promise
 * resolves. A torn last line left by a crash is cut at open. The log is compacted by writing the live
 * records to a temp file, syncing it and renaming it over the log. A `<name>.lock` file holding the
 * owner's pid keeps a second process from using the same log; a lock left by a dead process is taken
 * over.
 *
 * Failures reject the promise of the operation that failed, never anything else: a write the OS
 * refuses (`ENOSPC`, `EFBIG`, …) rejects the puts and deletes of its batch with a
 * {@link RecordLogError} (`INTERNAL`, `details.reason: "write_failed"`, the OS error as `cause`), the
 * partial line is cut off, and the log goes on. A failed `fdatasync` (the page cache can no longer be
 * trusted) or a failure halfway through a compaction leaves the log failed: every later write
 * rejects (`details.reason: "log_failed"`) until it is reopened. A rejected put or delete leaves the
 * records in memory as they were before it (unless a later put or delete of the same id came
 * meanwhile).
 *
 * @example
 * ```ts
 * const log = await RecordLog.open<{ id: string; text: string }>({ dir: ".state", name: "outbox" });
 * await log.put({ id: "m1", text: "hi" }); // durable once resolved
 * for (const record of log.values()) console.log(record.text);
 * await log.close();
 * ```
 */
export class RecordLog<R extends { id: string }> {
  readonly #dir: string;
  readonly #logPath: string;
  readonly #lockPath: string;
  readonly #compactMinLines: number;
  readonly #onBackgroundError: (error: RecordLogError) => void;
  readonly #records = new Map<string, R>();
  #handle: FileHandle | undefined;
  #queue: QueuedWrite[] = [];
  /** The running flush. It never rejects: each write's own promise carries its failure. */
  #flushing: Promise<void> | undefined;
  /** Bytes of whole lines in the log file: a failed write is cut back to this length. */
  #size = 0;
  #lines = 0;
  #compactAtLines: number;
  #corruptLines = 0;
  readonly #corruptOffsets: number[] = [];
  #compactions = 0;
  #compactionFailures = 0;
  /** Set once the log can no longer be written safely; every later write rejects with it. */
  #failure: RecordLogError | undefined;
  #closed = false;

  private constructor(options: RecordLogOptions) {
    this.#dir = options.dir;
    this.#logPath = join(options.dir, `${options.name}.log`);
    this.#lockPath = join(options.dir, `${options.name}.lock`);
    this.#compactMinLines = options.compactMinLines ?? DEFAULT_RECORD_LOG_OPTIONS.compactMinLines;
    this.#compactAtLines = this.#compactMinLines;
    this.#onBackgroundError = options.onBackgroundError ?? DEFAULT_RECORD_LOG_OPTIONS.onBackgroundError;
  }

  /**
   * Opens (or creates) the log `options.name` in `options.dir`.
   *
   * @param options - Directory, name and compaction threshold.
   * @returns The open log, with the records it holds loaded.
   * @throws {@link RecordLogError} `CONFLICT` (`details.reason: "store_locked"`) when another live
   * process holds the log, `INVALID_PARAMS` for bad options, `INTERNAL` (`details.reason:
   * "open_failed"`, the OS error as `cause`) when the directory or file cannot be used.
   */
  static async open<R extends { id: string }>(options: RecordLogOptions): Promise<RecordLog<R>> {
    validate(options);
    const log = new RecordLog<R>(options);
    try {
      await mkdir(options.dir, { recursive: true, mode: RECORD_LOG_DIR_MODE });
      await log.#lock();
    } catch (error) {
      throw toRecordLogError(error, "open_failed", `could not open ${log.#logPath}`);
    }
    try {
      await log.#read();
      log.#handle = await open(log.#logPath, "a", RECORD_LOG_FILE_MODE);
      log.#size = (await log.#handle.stat()).size;
    } catch (error) {
      await log.#handle?.close().catch(() => {});
      heldLocks.delete(log.#lockPath);
      await rm(log.#lockPath, { force: true }).catch(() => {});
      throw toRecordLogError(error, "open_failed", `could not open ${log.#logPath}`);
    }
    return log;
  }

  /** The directory the log lives in. */
  get dir(): string {
    return this.#dir;
  }

  /** Facts about the log. */
  get stats(): RecordLogStats {
    return {
      lines: this.#lines,
      records: this.#records.size,
      corruptLines: this.#corruptLines,
      corruptOffsets: [...this.#corruptOffsets],
      file: this.#logPath,
      compactions: this.#compactions,
      compactionFailures: this.#compactionFailures,
    };
  }

  /** Number of live records. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * A live record, as last put. Do not change it: put a new version instead.
   *
   * @param id - The record's id.
   * @returns The record, or undefined.
   */
  get(id: string): R | undefined {
    return this.#records.get(id);
  }

  /**
   * The live records, least recently put first. Do not change them: put new versions instead.
   *
   * @returns An iterator over the records.
   * @throws {@link RecordLogError} `SHUTTING_DOWN` once the log is closed.
   */
  values(): IterableIterator<R> {
    this.#assertOpen();
    return this.#records.values();
  }

  /**
   * Stores a record (replacing the one with its id); it becomes the most recently put.
   *
   * @param record - The record; a JSON value. It is copied: the log keeps the record parsed back
   *   from the line it writes, so {@link get} returns what a reopened log would load.
   * @returns Resolves once the record is on disk; rejects with a {@link RecordLogError} if the write
   *   fails, or `INVALID_PARAMS` (`details.reason: "record_not_json"`, nothing stored) if the record
   *   has no JSON form (a cycle, a `BigInt`).
   * @throws {@link RecordLogError} `SHUTTING_DOWN` once the log is closed.
   */
  put(record: R): Promise<void> {
    this.#assertOpen();
    // The copy is the record's JSON form, as a reopened log loads it: built directly for plain
    // data (a tenth of the time of JSON.parse, which structuredClone cost about as much as), parsed
    // back from the line otherwise (a Date, a class instance, a toJSON).
    let json: string;
    try {
      json = JSON.stringify(record);
    } catch (error) {
      return Promise.reject(
        new RecordLogError("INVALID_PARAMS", `the record has no JSON form: ${(error as Error).message}`, {
          details: { reason: "record_not_json" },
          cause: error,
        }),
      );
    }
    const copied = plainCopy(record);
    const copy = (copied === NOT_PLAIN ? JSON.parse(json) : copied) as R;
    const previous = this.#records.get(copy.id);
    if (previous !== undefined) this.#records.delete(copy.id); // to the end: the most recently put
    this.#records.set(copy.id, copy);
    return this.#appendText(`{"op":"put","record":${json}}\n`, () => {
      if (this.#records.get(copy.id) !== copy) return; // changed again since
      this.#records.delete(copy.id);
      if (previous !== undefined) this.#records.set(copy.id, previous);
    });
  }

  /**
   * Removes a record.
   *
   * @param id - The record's id.
   * @returns Resolves once the removal is on disk; rejects with a {@link RecordLogError} if the write fails.
   * @throws {@link RecordLogError} `SHUTTING_DOWN` once the log is closed.
   */
  delete(id: string): Promise<void> {
    this.#assertOpen();
    const previous = this.#records.get(id);
    this.#records.delete(id);
    return this.#appendText(`${JSON.stringify({ op: "del", id } satisfies LogLine<R>)}\n`, () => {
      if (previous !== undefined && !this.#records.has(id)) this.#records.set(id, previous);
    });
  }

  /**
   * Writes what is pending, closes the file and releases the lock. Idempotent.
   *
   * @returns Resolves once the file is closed and the lock removed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing !== undefined) await this.#flushing;
    const handle = this.#handle;
    this.#handle = undefined;
    try {
      await handle?.close();
    } finally {
      heldLocks.delete(this.#lockPath);
      await rm(this.#lockPath, { force: true }).catch((error: unknown) => {
        // The directory itself is gone or replaced: there is no lock left to remove.
        if ((error as NodeJS.ErrnoException).code !== "ENOTDIR") throw error;
      });
    }
  }

  /** Queues one journal line (its text ends with a newline). */
  #appendText(text: string, undo: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ text, resolve, reject, undo });
      // The stored chain swallows; each write's own promise (above) is the one that rejects.
      if (this.#flushing === undefined) this.#flushing = this.#flush().catch(() => {});
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        const failure = await this.#write(batch.map((write) => write.text).join(""), batch.length);
        if (failure === undefined) for (const write of batch) write.resolve();
        else {
          // Newest first, so that each id ends as it was before the batch.
          for (let i = batch.length - 1; i >= 0; i--) batch[i]!.undo();
          for (const write of batch) write.reject(failure);
        }
        if (
          failure === undefined &&
          this.#lines > this.#compactAtLines &&
          this.#lines > 2 * this.#records.size
        )
          await this.#compact();
      }
    } catch (error) {
      // Not reached by design (#write and #compact return their failures); never leave a write hanging.
      this.#failure ??= toRecordLogError(error, "log_failed", `the log ${this.#logPath} failed`);
      const left = this.#queue.splice(0);
      for (let i = left.length - 1; i >= 0; i--) left[i]!.undo();
      for (const write of left) write.reject(this.#failure);
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Appends one batch and syncs it. @returns The failure to reject the batch with, if any. */
  async #write(text: string, lines: number): Promise<RecordLogError | undefined> {
    if (this.#failure !== undefined) return this.#failure;
    const handle = this.#handle;
    if (handle === undefined) return this.#closedError();
    const bytes = Buffer.from(text, "utf8");
    try {
      await writeAll(handle, bytes);
    } catch (error) {
      const failure = toRecordLogError(error, "write_failed", `could not write ${this.#logPath}`);
      try {
        await handle.truncate(this.#size); // cut the partial line so the next write starts clean
      } catch (truncateError) {
        this.#fail(truncateError, `could not cut a failed write off ${this.#logPath}`);
      }
      return failure;
    }
    try {
      await handle.datasync();
    } catch (error) {
      // After a failed fsync the page cache can no longer be trusted (Linux drops the dirty pages).
      return this.#fail(error, `could not sync ${this.#logPath}`);
    }
    this.#size += bytes.length;
    this.#lines += lines;
    return undefined;
  }

  /**
   * Rewrites the log as one put per live record: temp file, fsync, rename, fsync the directory. A
   * failure before the rename leaves the current file in use; one after it fails the log.
   */
  async #compact(): Promise<void> {
    const tmpPath = `${this.#logPath}.tmp`;
    // A snapshot of what is flushed so far (writes queued meanwhile are appended after the swap),
    // written in chunks: a log of many large records never needs one string of its whole size.
    const records = [...this.#records.values()];
    let size = 0;
    try {
      const tmp = await open(tmpPath, "w", RECORD_LOG_FILE_MODE);
      try {
        let chunk = "";
        for (const record of records) {
          chunk += `${JSON.stringify({ op: "put", record } satisfies LogLine<R>)}\n`;
          if (chunk.length >= COMPACTION_CHUNK_CHARS) {
            size += await writeText(tmp, chunk);
            chunk = "";
          }
        }
        if (chunk !== "") size += await writeText(tmp, chunk);
        await tmp.sync();
      } finally {
        await tmp.close();
      }
      await rename(tmpPath, this.#logPath);
    } catch (error) {
      await rm(tmpPath, { force: true }).catch(() => {});
      this.#compactionFailures += 1;
      this.#compactAtLines = this.#lines + this.#compactMinLines;
      this.#report(
        toRecordLogError(error, "compaction_failed", `could not compact ${this.#logPath}; it keeps growing`),
      );
      return;
    }
    // From here the old handle writes to a file no longer linked: it must be replaced.
    const old = this.#handle;
    this.#handle = undefined;
    try {
      await syncDirectory(this.#dir);
      this.#handle = await open(this.#logPath, "a", RECORD_LOG_FILE_MODE);
    } catch (error) {
      this.#report(this.#fail(error, `could not reopen ${this.#logPath} after compacting it`));
      return;
    } finally {
      await old?.close().catch(() => {});
    }
    this.#size = size;
    this.#lines = records.length;
    this.#compactAtLines = this.#compactMinLines;
    this.#compactions += 1;
  }

  async #read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#logPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    // A crash can leave a partial last line: it was never acknowledged, so cut it.
    const end = text.lastIndexOf("\n") + 1;
    if (end < text.length) {
      await writeFile(this.#logPath, text.slice(0, end));
      text = text.slice(0, end);
    }
    let offset = 0;
    for (const raw of text.split("\n")) {
      const at = offset;
      offset += Buffer.byteLength(raw) + 1;
      if (raw === "") continue;
      this.#lines += 1;
      const skip = () => {
        this.#corruptLines += 1;
        if (this.#corruptOffsets.length < MAX_REPORTED_CORRUPT_OFFSETS) this.#corruptOffsets.push(at);
      };
      let line: LogLine<R>;
      try {
        line = JSON.parse(raw) as LogLine<R>;
      } catch {
        skip();
        continue;
      }
      if (line?.op === "put" && typeof line.record?.id === "string") {
        this.#records.delete(line.record.id);
        this.#records.set(line.record.id, line.record);
      } else if (line?.op === "del" && typeof line.id === "string") {
        this.#records.delete(line.id);
      } else {
        skip();
      }
    }
  }

  /**
   * Takes `<name>.lock`: a file naming the owner's pid and its start time. A lock whose owner is
   * gone (no such process, a zombie, or its pid reused by a process started at another time, as
   * when a container's PID 1 restarts) is taken over.
   */
  async #lock(): Promise<void> {
    if (heldLocks.has(this.#lockPath))
      throw new RecordLogError("CONFLICT", `${this.#logPath} is open already in this process`, {
        details: { reason: "store_locked", pid: process.pid },
      });
    const self = await lockOwner(process.pid);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.#lockPath, `${self.pid} ${self.startedAt ?? ""}`.trim(), {
          flag: "wx",
          mode: RECORD_LOG_FILE_MODE,
        });
        heldLocks.add(this.#lockPath);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const [pidText, startedText] = (await readFile(this.#lockPath, "utf8").catch(() => ""))
        .trim()
        .split(" ");
      const owner = Number.parseInt(pidText ?? "", 10);
      if (Number.isInteger(owner) && owner > 0 && (await isAlive(owner, startedText))) {
        throw new RecordLogError("CONFLICT", `${this.#dir} is in use by process ${owner}`, {
          details: {
            reason: "store_locked",
            pid: owner,
            nextStep: `stop process ${owner}, or give this gateway its own state dir`,
          },
        });
      }
      await rm(this.#lockPath, { force: true }); // left by a process that died
    }
    throw new RecordLogError("CONFLICT", `could not lock ${this.#dir}`, {
      details: { reason: "store_locked" },
    });
  }

  /** Marks the log failed (the first failure sticks) and returns the failure. */
  #fail(error: unknown, message: string): RecordLogError {
    this.#failure ??= toRecordLogError(error, "log_failed", `${message}; reopen the log`);
    return this.#failure;
  }

  #report(error: RecordLogError): void {
    try {
      this.#onBackgroundError(error);
    } catch {
      // A throwing listener must not break the log.
    }
  }

  #closedError(): RecordLogError {
    return new RecordLogError("SHUTTING_DOWN", `the log ${this.#logPath} is closed`, {
      details: { reason: "store_closed" },
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#closedError();
  }
}

function validate(options: RecordLogOptions): void {
  const invalid = (message: string) =>
    new RecordLogError("INVALID_PARAMS", message, { details: { reason: "invalid_options" } });
  if (typeof options?.dir !== "string" || options.dir === "") throw invalid("dir must be a non-empty path");
  if (typeof options.name !== "string" || !NAME.test(options.name))
    throw invalid("name must be 1 to 100 letters, digits, '.', '_' or '-'");
  const min = options.compactMinLines;
  if (min !== undefined && !(Number.isSafeInteger(min) && min >= 1))
    throw invalid("compactMinLines must be a positive integer");
}

/** Characters of log lines written at once while compacting. */
const COMPACTION_CHUNK_CHARS = 1 << 20;

/** Writes a string as UTF-8, whole. @returns The bytes written. */
async function writeText(handle: FileHandle, text: string): Promise<number> {
  const bytes = Buffer.from(text, "utf8");
  await writeAll(handle, bytes);
  return bytes.length;
}

/** Writes every byte, however many calls the OS needs (a write may be short near a size limit). */
async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    if (bytesWritten <= 0) throw new Error("the file accepted no bytes");
    offset += bytesWritten;
  }
}

/** A process as a lock names it: its pid, and its start time where the OS tells it (Linux). */
async function lockOwner(
  pid: number,
): Promise<{ pid: number; startedAt?: string | undefined; zombie?: boolean }> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, startedAt: fields[19], zombie: fields[0] === "Z" || fields[0] === "X" };
  } catch {
    return { pid };
  }
}

/**
 * Whether the process a lock names still runs: not for our own pid (this process holds no such
 * lock, checked before), nor for a zombie, nor for a pid now used by a process started at another time.
 */
async function isAlive(pid: number, startedAt: string | undefined): Promise<boolean> {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = await lockOwner(pid);
  if (now.zombie === true) return false;
  if (startedAt !== undefined && startedAt !== "" && now.startedAt !== undefined)
    return now.startedAt === startedAt;
  return true;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What {@link plainCopy} returns for a value it leaves to `JSON.parse`. */
const NOT_PLAIN: unique symbol = Symbol("not plain");

/**
 * A copy of a JSON value equal to `JSON.parse(JSON.stringify(value))`, for plain data only: objects
 * whose prototype is `Object.prototype` or `null`, arrays, strings, finite numbers, booleans and
 * `null` (an `undefined` or function property is left out, as JSON does). Anything else, anywhere
 * inside, gives {@link NOT_PLAIN}.
 */
function plainCopy(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : NOT_PLAIN;
    case "object": {
      if (value === null) return null;
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") return NOT_PLAIN;
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          // JSON writes a hole, an undefined or a function in an array as null.
          const copied = item === undefined || typeof item === "function" ? null : plainCopy(item);
          if (copied === NOT_PLAIN) return NOT_PLAIN;
          out[i] = copied;
        }
        return out;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const out: Record<string, unknown> = {};
      for (const name of Object.keys(value)) {
        if (name === "__proto__") return NOT_PLAIN; // an own key JSON.parse keeps; `out[name] =` would not
        const item = (value as Record<string, unknown>)[name];
        if (item === undefined || typeof item === "function") continue;
        const copied = plainCopy(item);
        if (copied === NOT_PLAIN) return NOT_PLAIN;
        out[name] = copied;
      }
      return out;
    }
    default:
      return NOT_PLAIN; // bigint, symbol, undefined, function at the top
  }
}
