import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname, resolve as resolvePath } from "node:path";
import type { ConfigIssue } from "@openclaw/protocol";
import { EventEmitter } from "eventemitter3";
import { ConfigError } from "./ConfigError";
import { type ConfigDiff, diffConfig, stableStringify } from "./diff";
import { CONFIG_PATH_ENV, type Env } from "./env";
import { parseConfigText, resolveConfig, type ValidationResult } from "./resolve";
import type { Config } from "./schema";

/** Options of a {@link ConfigManager}. */
export interface ConfigManagerOptions {
  /**
   * The config file. `null` runs on embedded defaults and environment overrides only. A file named
   * here or in `OPENCLAW_CONFIG` must exist at `load()`; the implicit default may be absent.
   * @defaultValue `$OPENCLAW_CONFIG`, else `openclaw.json` in the working directory (used only if it exists)
   */
  path?: string | null;
  /**
   * The environment for `${ENV}` substitution and overrides.
   * @defaultValue `process.env`
   */
  env?: Env;
  /**
   * Quiet time after the last file event before reloading (editors write in bursts).
   * @defaultValue 100
   */
  debounceMs?: number;
  /**
   * While watching, the file is also checked this often (some file systems drop watch events).
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
}

/** The defaults of {@link ConfigManagerOptions}. */
export const DEFAULT_CONFIG_MANAGER_OPTIONS = Object.freeze({ debounceMs: 100, pollIntervalMs: 1000 });

/** Payload of the `change` event. */
export interface ConfigChangeEvent {
  config: Config;
  previous: Config;
  diff: ConfigDiff;
  hash: string;
  /** `"file"` for a hot reload, `"apply"` for {@link ConfigManager.apply}. */
  origin: "file" | "apply";
}

/** Payload of the `invalid` event: the file is broken; the active config stays. */
export interface ConfigInvalidEvent {
  file: string | null;
  issues: ConfigIssue[];
}

/** Events of a {@link ConfigManager}. */
export interface ConfigManagerEvents {
  change: (event: ConfigChangeEvent) => void;
  invalid: (event: ConfigInvalidEvent) => void;
  error: (error: ConfigError) => void;
}

/** Options of {@link ConfigManager.apply}. */
export interface ApplyOptions {
  /** `"replace"` (default) swaps the whole config; `"merge"` deep-merges `input` into the current file. */
  mode?: "replace" | "merge";
  /** Refuse with `CONFLICT` unless the active config's hash is still this. */
  baseHash?: string;
}

/** The outcome of {@link ConfigManager.apply}. */
export interface ApplyResult extends ConfigDiff {
  hash: string;
}

/**
 * Loads, validates and hot-reloads the gateway's config. An invalid file (syntax or schema) never
 * replaces the active config: the error is reported (`invalid` event, or a thrown {@link ConfigError})
 * with the file, line and column for syntax errors and the config path for schema errors.
 *
 * @example
 * ```ts
 * const config = new ConfigManager({ path: "openclaw.json" });
 * await config.load();
 * config.on("change", ({ diff }) => console.log("applied", diff.applied, "after restart", diff.restartRequired));
 * config.on("invalid", ({ issues }) => console.error(issues));
 * config.watch();
 * ```
 */
export class ConfigManager extends EventEmitter<ConfigManagerEvents> {
  readonly #path: string | null;
  readonly #explicitPath: boolean;
  readonly #env: Env;
  readonly #debounceMs: number;
  readonly #pollIntervalMs: number;
  #active: Config | undefined;
  #hash = "";
  #loadedAt = 0;
  #source: string | null = null;
  /** The file as parsed, before substitution: what `merge` merges into and `apply` writes. */
  #raw: Record<string, unknown> = {};
  #lastText: string | undefined;
  #reportedText: string | undefined;
  #missingReported = false;
  #watcher: FSWatcher | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #fileStamp = "";
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;

  /**
   * @param options - File, environment and watch timing; see {@link ConfigManagerOptions}.
   */
  constructor(options: ConfigManagerOptions = {}) {
    super();
    this.#env = options.env ?? process.env;
    const fromEnv = this.#env[CONFIG_PATH_ENV];
    this.#explicitPath = options.path !== undefined || (fromEnv !== undefined && fromEnv !== "");
    const path =
      options.path === undefined
        ? fromEnv !== undefined && fromEnv !== ""
          ? fromEnv
          : "openclaw.json"
        : options.path;
    this.#path = path === null ? null : resolvePath(path);
    this.#debounceMs = options.debounceMs ?? DEFAULT_CONFIG_MANAGER_OPTIONS.debounceMs;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_CONFIG_MANAGER_OPTIONS.pollIntervalMs;
  }

  /** The config file path (whether or not it exists), or null. */
  get path(): string | null {
    return this.#path;
  }

  /** The file the active config came from, or null when it is the embedded defaults. */
  get source(): string | null {
    return this.#source;
  }

  /** SHA-256 of the active config (canonical JSON), hex. */
  get hash(): string {
    return this.#hash;
  }

  /** When the active config became active (ms since epoch). */
  get loadedAt(): number {
    return this.#loadedAt;
  }

  /**
   * Reads and validates the config file (or the defaults when there is none) and makes it active.
   *
   * @returns The active config.
   * @throws {@link ConfigError} `INVALID_PARAMS` with every issue; the previously active config (if any) stays.
   */
  async load(): Promise<Config> {
    const read = await this.#readFile();
    // Only the implicit default (./openclaw.json) may be absent; a file someone named must exist.
    if (read.kind === "missing" && this.#explicitPath && read.path !== null) {
      throw new ConfigError("INVALID_PARAMS", `config file ${read.path} does not exist`, {
        issues: [{ path: "", message: "file not found", file: read.path }],
      });
    }
    const outcome = this.#evaluate(read);
    if (!outcome.result.valid) {
      throw new ConfigError("INVALID_PARAMS", summarise(outcome.result.issues), {
        issues: outcome.result.issues,
      });
    }
    this.#lastText = read.kind === "file" ? read.text : undefined;
    this.#activate(outcome.result.config, outcome.raw, read.kind === "file" ? read.path : null);
    return this.get();
  }

  /**
   * The active config. Treat it as read-only.
   *
   * @returns The config.
   * @throws {@link ConfigError} when nothing was loaded yet.
   */
  get(): Config {
    if (this.#active === undefined)
      throw new ConfigError("INTERNAL", "no config loaded yet: call load() first");
    return this.#active;
  }

  /**
   * Validates a config without applying it: `${ENV}` substitution, environment overrides, schema.
   *
   * @param input - A config object as it would be written in the file.
   * @returns `{ valid: true, config }` or `{ valid: false, issues }`.
   */
  validate(input: unknown): ValidationResult {
    return resolveConfig(input, this.#env);
  }

  /**
   * Validates and activates a new config, writing it (as given, `${ENV}` placeholders kept) to the
   * file atomically when there is one, so a restart keeps it. Comments in the file are not kept.
   *
   * @param input - The new config, or a patch with `mode: "merge"`.
   * @param options - Merge mode and optimistic-concurrency hash.
   * @returns Exactly what changed live and what needs a restart.
   * @throws {@link ConfigError} `INVALID_PARAMS` (nothing changes) or `CONFLICT`.
   */
  async apply(input: unknown, options: ApplyOptions = {}): Promise<ApplyResult> {
    const previous = this.get();
    if (options.baseHash !== undefined && options.baseHash !== this.#hash) {
      throw new ConfigError("CONFLICT", "the config changed since it was read", {
        details: {
          reason: "stale_hash",
          hash: this.#hash,
          nextStep: "get the config again and re-apply your change",
        },
      });
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new ConfigError("INVALID_PARAMS", "the config must be a JSON object", {
        issues: [{ path: "", message: "the config must be a JSON object" }],
      });
    }
    const raw =
      options.mode === "merge"
        ? deepMerge(this.#raw, input as Record<string, unknown>)
        : structuredClone(input as Record<string, unknown>);
    const result = resolveConfig(raw, this.#env);
    if (!result.valid)
      throw new ConfigError("INVALID_PARAMS", summarise(result.issues), { issues: result.issues });
    if (this.#path !== null) {
      const text = `${JSON.stringify(raw, null, 2)}\n`;
      await writeAtomically(this.#path, text);
      this.#lastText = text;
      this.#reportedText = undefined;
      this.#fileStamp = await this.#stamp();
    }
    const diff = diffConfig(previous, result.config);
    this.#activate(result.config, raw, this.#path);
    if (diff.changed.length > 0)
      this.emit("change", { config: result.config, previous, diff, hash: this.#hash, origin: "apply" });
    return { ...diff, hash: this.#hash };
  }

  /**
   * Starts watching the config file (and its directory, so rename-replace saves and
   * delete/recreate are seen). Changes are debounced; valid ones emit `change`, invalid ones
   * emit `invalid` and leave the active config in place. No-op without a file path.
   */
  watch(): void {
    if (this.#path === null || this.#watcher !== undefined || this.#poll !== undefined) return;
    const path = this.#path;
    const name = basename(path);
    try {
      this.#watcher = watch(dirname(path), { persistent: true }, (_event, filename) => {
        if (filename === null || filename.toString() === name) this.#scheduleReload();
      });
      this.#watcher.on("error", () => {
        this.#watcher?.close();
        this.#watcher = undefined; // polling goes on
      });
    } catch {
      this.#watcher = undefined; // e.g. the directory does not exist yet: polling covers it
    }
    void this.#stamp().then((stamp) => {
      this.#fileStamp = stamp;
    });
    this.#poll = setInterval(() => {
      void this.#stamp().then((stamp) => {
        if (stamp !== this.#fileStamp) {
          this.#fileStamp = stamp;
          this.#scheduleReload();
        }
      });
    }, this.#pollIntervalMs);
  }

  /** Stops watching. Leaves no timers or watchers behind. */
  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearInterval(this.#poll);
    this.#poll = undefined;
    clearTimeout(this.#debounce);
    this.#debounce = undefined;
    while (this.#reloading !== undefined) await this.#reloading;
  }

  #scheduleReload(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#reload();
    }, this.#debounceMs);
  }

  /** Reloads, one at a time; events during a reload cause one more reload afterwards. */
  #reload(): void {
    if (this.#reloading !== undefined) {
      this.#reloadAgain = true;
      return;
    }
    this.#reloading = this.#reloadOnce()
      .catch((error: unknown) => {
        this.emit(
          "error",
          error instanceof ConfigError
            ? error
            : new ConfigError("INTERNAL", `could not reload ${this.#path}`, { cause: error }),
        );
      })
      .finally(() => {
        this.#reloading = undefined;
        if (this.#reloadAgain) {
          this.#reloadAgain = false;
          this.#reload();
        }
      });
  }

  async #reloadOnce(): Promise<void> {
    if (this.#active === undefined) return;
    const read = await this.#readFile();
    if (read.kind === "missing") {
      if (this.#source !== null && !this.#missingReported) {
        this.#missingReported = true;
        this.emit("invalid", {
          file: this.#path,
          issues: [
            {
              path: "",
              message: "the config file was deleted; the active config stays until it is back",
              file: this.#path ?? "",
            },
          ],
        });
      }
      return;
    }
    this.#missingReported = false;
    if (read.text === this.#lastText) return;
    const outcome = this.#evaluate(read);
    if (!outcome.result.valid) {
      if (read.text !== this.#reportedText) {
        this.#reportedText = read.text;
        this.emit("invalid", { file: read.path, issues: outcome.result.issues });
      }
      return;
    }
    this.#lastText = read.text;
    this.#reportedText = undefined;
    const previous = this.#active;
    const diff = diffConfig(previous, outcome.result.config);
    this.#activate(outcome.result.config, outcome.raw, read.path);
    if (diff.changed.length > 0)
      this.emit("change", {
        config: outcome.result.config,
        previous,
        diff,
        hash: this.#hash,
        origin: "file",
      });
  }

  #evaluate(read: FileRead): { result: ValidationResult; raw: Record<string, unknown> } {
    if (read.kind === "missing") return { result: resolveConfig(undefined, this.#env), raw: {} };
    const parsed = parseConfigText(read.text, read.path);
    if (!parsed.ok) return { result: { valid: false, issues: [parsed.issue] }, raw: {} };
    const raw =
      typeof parsed.value === "object" && parsed.value !== null && !Array.isArray(parsed.value)
        ? (parsed.value as Record<string, unknown>)
        : {};
    return { result: resolveConfig(parsed.value, this.#env, read.path), raw };
  }

  #activate(config: Config, raw: Record<string, unknown>, source: string | null): void {
    this.#active = deepFreeze(config);
    this.#raw = raw;
    this.#source = source;
    this.#hash = createHash("sha256").update(stableStringify(config)).digest("hex");
    this.#loadedAt = Date.now();
  }

  async #readFile(): Promise<FileRead> {
    if (this.#path === null) return { kind: "missing", path: null };
    try {
      return { kind: "file", path: this.#path, text: await readFile(this.#path, "utf8") };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing", path: this.#path };
      throw new ConfigError("INTERNAL", `cannot read ${this.#path}: ${(error as Error).message}`, {
        cause: error,
        issues: [{ path: "", message: "cannot read the file", file: this.#path }],
      });
    }
  }

  async #stamp(): Promise<string> {
    if (this.#path === null) return "";
    try {
      const info = await stat(this.#path);
      return `${info.ino}:${info.size}:${info.mtimeMs}`;
    } catch {
      return "missing";
    }
  }
}

type FileRead = { kind: "file"; path: string; text: string } | { kind: "missing"; path: string | null };

function summarise(issues: readonly ConfigIssue[]): string {
  const first = issues[0];
  if (first === undefined) return "invalid config";
  const where = [first.file, first.line === undefined ? undefined : `${first.line}:${first.column ?? 0}`]
    .filter(Boolean)
    .join(":");
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  return `invalid config${where === "" ? "" : ` in ${where}`}: ${first.path === "" ? "" : `${first.path}: `}${first.message}${more}`;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") continue;
    const current = out[key];
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(current)) out[key] = deepMerge(current, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
