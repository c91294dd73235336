import { type FileHandle, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TaskQueueError } from "../TaskQueueError";

/** Options of a {@link RecordLog}. */
export interface RecordLogOptions {
  /** The directory (normally the gateway's state dir). */
  dir: string;
  /** The log's name: it lives in `<name>.log`, locked by `<name>.lock`. */
  name: string;
  /**
   * The log is compacted once it has more than this many lines and more than twice as many lines
   * as live records.
   * @defaultValue 1000
   */
  compactMinLines?: number;
}

/** Facts about a log's file, for operators and tests. */
export interface RecordLogStats {
  /** Lines in the log now. */
  lines: number;
  /** Records alive. */
  records: number;
  /** Lines skipped at load because they were not valid (a torn tail is cut, not counted). */
  corruptLines: number;
  /** Compactions done since opening. */
  compactions: number;
}

type LogLine<R> = { op: "put"; record: R } | { op: "del"; id: string };

interface QueuedWrite {
  readonly text: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Records with an `id`, kept in memory and made durable in one directory: an append-only log
 * (`<name>.log`, one JSON line per put or delete) written with group commit (every write waiting at
 * the same moment shares one `write` and one `fdatasync`), so a write is durable when its promise
 * resolves. A torn last line left by a crash is cut at open. The log is compacted by writing the live
 * records to a temp file, syncing it and renaming it over the log. A `<name>.lock` file holding the
 * owner's pid keeps a second process from using the same log; a lock left by a dead process is taken
 * over. {@link FileTaskStore} is built on it; hosts use it for records of their own.
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
  readonly #records = new Map<string, R>();
  #handle: FileHandle | undefined;
  #queue: QueuedWrite[] = [];
  #flushing: Promise<void> | undefined;
  #lines = 0;
  #corruptLines = 0;
  #compactions = 0;
  #closed = false;

  private constructor(options: RecordLogOptions) {
    this.#dir = options.dir;
    this.#logPath = join(options.dir, `${options.name}.log`);
    this.#lockPath = join(options.dir, `${options.name}.lock`);
    this.#compactMinLines = options.compactMinLines ?? 1000;
  }

  /**
   * Opens (or creates) the log `options.name` in `options.dir`.
   *
   * @param options - Directory, name and compaction threshold.
   * @returns The open log, with the records it holds loaded.
   * @throws {@link TaskQueueError} `CONFLICT` (`details.reason: "store_locked"`) when another live process holds the log.
   */
  static async open<R extends { id: string }>(options: RecordLogOptions): Promise<RecordLog<R>> {
    const store = new RecordLog<R>(options);
    await mkdir(options.dir, { recursive: true });
    await store.#lock();
    try {
      await store.#read();
      store.#handle = await open(store.#logPath, "a");
    } catch (error) {
      await rm(store.#lockPath, { force: true });
      throw error;
    }
    return store;
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
      compactions: this.#compactions,
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

  /** The live records, least recently put first. Do not change them: put new versions instead. */
  values(): IterableIterator<R> {
    this.#assertOpen();
    return this.#records.values();
  }

  /**
   * Stores a record (replacing the one with its id); it becomes the most recently put.
   *
   * @param record - The record; it is copied.
   * @returns Resolves once the record is on disk.
   */
  put(record: R): Promise<void> {
    this.#assertOpen();
    const copy = structuredClone(record);
    this.#records.delete(copy.id);
    this.#records.set(copy.id, copy);
    return this.#append({ op: "put", record: copy });
  }

  /**
   * Removes a record.
   *
   * @param id - The record's id.
   * @returns Resolves once the removal is on disk.
   */
  delete(id: string): Promise<void> {
    this.#assertOpen();
    this.#records.delete(id);
    return this.#append({ op: "del", id });
  }

  /** Writes what is pending, closes the file and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing !== undefined) await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
    await rm(this.#lockPath, { force: true });
  }

  #append(line: LogLine<R>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ text: `${JSON.stringify(line)}\n`, resolve, reject });
      if (this.#flushing === undefined) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        try {
          const handle = this.#handle;
          if (handle === undefined)
            throw new TaskQueueError("SHUTTING_DOWN", `the log ${this.#logPath} is closed`, {
              details: { reason: "store_closed" },
            });
          await handle.write(batch.map((write) => write.text).join(""));
          await handle.datasync();
          this.#lines += batch.length;
          for (const write of batch) write.resolve();
        } catch (error) {
          const failure =
            error instanceof TaskQueueError
              ? error
              : new TaskQueueError("CONFLICT", `could not write ${this.#logPath}`, {
                  details: { reason: "write_failed" },
                  cause: error,
                });
          for (const write of batch) write.reject(failure);
        }
        if (this.#lines > this.#compactMinLines && this.#lines > 2 * this.#records.size)
          await this.#compact();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Rewrites the log as one put per live record: temp file, fsync, rename, fsync the directory. */
  async #compact(): Promise<void> {
    const tmpPath = `${this.#logPath}.tmp`;
    const text = [...this.#records.values()]
      .map((record) => `${JSON.stringify({ op: "put", record } satisfies LogLine<R>)}\n`)
      .join("");
    const tmp = await open(tmpPath, "w");
    try {
      await tmp.write(text);
      await tmp.sync();
    } finally {
      await tmp.close();
    }
    await this.#handle?.close();
    await rename(tmpPath, this.#logPath);
    await syncDirectory(this.#dir);
    this.#handle = await open(this.#logPath, "a");
    this.#lines = this.#records.size;
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
    for (const raw of text.split("\n")) {
      if (raw === "") continue;
      this.#lines += 1;
      let line: LogLine<R>;
      try {
        line = JSON.parse(raw) as LogLine<R>;
      } catch {
        this.#corruptLines += 1;
        continue;
      }
      if (line.op === "put" && typeof line.record?.id === "string") {
        this.#records.delete(line.record.id);
        this.#records.set(line.record.id, line.record);
      } else if (line.op === "del" && typeof line.id === "string") {
        this.#records.delete(line.id);
      } else {
        this.#corruptLines += 1;
      }
    }
  }

  async #lock(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.#lockPath, String(process.pid), { flag: "wx" });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const owner = Number.parseInt(await readFile(this.#lockPath, "utf8").catch(() => ""), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new TaskQueueError("CONFLICT", `${this.#dir} is in use by process ${owner}`, {
          details: {
            reason: "store_locked",
            pid: owner,
            nextStep: `stop process ${owner}, or give this gateway its own state dir`,
          },
        });
      }
      await rm(this.#lockPath, { force: true }); // left by a process that died
    }
    throw new TaskQueueError("CONFLICT", `could not lock ${this.#dir}`, {
      details: { reason: "store_locked" },
    });
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new TaskQueueError("SHUTTING_DOWN", `the log ${this.#logPath} is closed`, {
        details: { reason: "store_closed" },
      });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
