import { isatty } from "node:tty";
import { type DestinationStream, type Logger, pino } from "pino";
import pinoPretty from "pino-pretty";
import { LogSink } from "./LogSink";

/** Fields of every gateway log line. */
export const LOG_BASE = Object.freeze({ service: "openclaw-gateway" });

let stdoutSink: LogSink | undefined;

/**
 * The process's one {@link LogSink} on stdout, made on first use: the default destination of
 * {@link createLogger}. Logging to it never blocks serving or shutdown (a full disk, a stalled pipe);
 * set its `maxBufferedBytes` from `logging.maxBufferedBytes`, and `drain()` it before exiting.
 *
 * @returns The sink.
 */
export function stdoutLogSink(): LogSink {
  stdoutSink ??= new LogSink({ fd: 1, base: LOG_BASE });
  return stdoutSink;
}

/** Paths pino blanks in every log line: tokens and credentials never reach the logs. */
export const REDACTED_LOG_PATHS = [
  "token",
  "deviceToken",
  "adminToken",
  "apiKey",
  "authorization",
  "*.token",
  "*.deviceToken",
  "*.adminToken",
  "*.apiKey",
  "*.authorization",
  "headers.authorization",
  "params.token",
  "params.deviceToken",
];

/** How log lines are written: JSON objects, or readable lines (see {@link createLogger}). */
export type LogFormat = "json" | "pretty";

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /**
   * `json`: one JSON object a line (for log collectors). `pretty`: a readable line per entry, its
   * ISO time (UTC), level and message, then its fields indented below.
   * @defaultValue "json"
   */
  format?: LogFormat;
  /**
   * Colour the pretty lines' level and message (ANSI).
   * @defaultValue whether stdout is a terminal and `NO_COLOR` is not set
   */
  colorize?: boolean;
}

/**
 * The format a `logging.format` (or `--log-format`) setting means here: `auto` is `pretty` on a
 * terminal and `json` otherwise (a pipe, a file, a service manager's journal).
 *
 * @param setting - `auto`, `pretty` or `json`.
 * @param isTerminal - Whether stdout is a terminal. @defaultValue `isatty(1)`
 * @returns The format.
 */
export function resolveLogFormat(setting: "auto" | LogFormat, isTerminal: boolean = isatty(1)): LogFormat {
  return setting === "auto" ? (isTerminal ? "pretty" : "json") : setting;
}

/**
 * The gateway's structured logger (pino, JSON lines on stdout, or readable lines with `pretty`).
 * Message bodies are logged only at `debug`; tokens never.
 *
 * @param level - pino level, or `silent`.
 * @param destination - Where lines go. @defaultValue {@link stdoutLogSink}: stdout, never blocking
 * @param options - See {@link LoggerOptions}.
 * @returns The logger.
 */
export function createLogger(
  level = "info",
  destination: DestinationStream = stdoutLogSink(),
  options: LoggerOptions = {},
): Logger {
  const settings = {
    level,
    base: { ...LOG_BASE },
    redact: { paths: REDACTED_LOG_PATHS, censor: "[redacted]" },
  };
  if (options.format !== "pretty") return pino(settings, destination);
  // Formatted on this thread, line by line, then written through the same destination (the
  // non-blocking sink): no worker transport, nothing that could block.
  const pretty = pinoPretty.prettyFactory({
    colorize: options.colorize ?? (isatty(1) && (process.env.NO_COLOR ?? "") === ""),
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    ignore: "pid,hostname,service",
  });
  const prettyDestination: DestinationStream = {
    write: (line: string) => destination.write(pretty(line)),
  };
  return pino(settings, prettyDestination);
}

export type { Logger };
