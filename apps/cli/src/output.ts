/** How the CLI writes: human (tables, colours on a TTY, a spinner on waits) or JSON for scripts. */
export interface Output {
  readonly json: boolean;
  /** Writes a result: as JSON, or through `human` for people. */
  result(value: unknown, human: (value: never) => string): void;
  /** A line for people (suppressed in JSON mode). */
  info(line: string): void;
  /** An error line on stderr (JSON mode: one `{"error":…}` object). */
  error(message: string, details?: Record<string, unknown>): void;
  /** Shows a spinner on stderr while `promise` runs (TTY only). */
  wait<T>(label: string, promise: Promise<T>): Promise<T>;
  readonly color: Colors;
}

/** ANSI colours, or plain text when colours are off. */
export interface Colors {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** ANSI colour codes, which take no room on screen. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, "g");

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * Makes the output. Colours only on a TTY and without `NO_COLOR`; `FORCE_COLOR` turns them on.
 *
 * @param options.json - Machine-readable output.
 */
export function createOutput(options: {
  json: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const useColor =
    !options.json && env.NO_COLOR === undefined && (env.FORCE_COLOR !== undefined || stdout.isTTY === true);
  const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
  const color: Colors = {
    bold: paint(1),
    dim: paint(2),
    green: paint(32),
    red: paint(31),
    yellow: paint(33),
    cyan: paint(36),
  };
  return {
    json: options.json,
    color,
    result(value, human) {
      if (options.json) stdout.write(`${JSON.stringify(value)}\n`);
      else {
        const text = human(value as never);
        if (text !== "") stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      }
    },
    info(line) {
      if (!options.json) stdout.write(`${line}\n`);
    },
    error(message, details) {
      if (options.json) stderr.write(`${JSON.stringify({ error: { message, ...details } })}\n`);
      else stderr.write(`${color.red("error:")} ${message}\n`);
    },
    async wait(label, promise) {
      if (options.json || stderr.isTTY !== true) return promise;
      let frame = 0;
      const timer = setInterval(() => {
        stderr.write(`\r${color.cyan(SPINNER[frame++ % SPINNER.length]!)} ${label}`);
      }, 80);
      try {
        return await promise;
      } finally {
        clearInterval(timer);
        stderr.write("\r\u001b[K");
      }
    },
  };
}

/**
 * Renders rows as an aligned text table.
 *
 * @param headers - Column titles.
 * @param rows - Cells (already strings).
 * @returns The table, or `(none)` when there are no rows.
 */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  if (rows.length === 0) return "(none)";
  // Widths ignore ANSI colour codes.
  const visible = (text: string) => text.replace(ANSI, "").length;
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => visible(row[i] ?? ""))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(widths[i]! - visible(cell))))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** A timestamp as local ISO-like text, or `-`. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}
