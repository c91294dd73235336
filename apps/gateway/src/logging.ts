import { type DestinationStream, type Logger, pino } from "pino";
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

/**
 * The gateway's structured logger (pino, JSON lines on stdout). Message bodies are logged only at
 * `debug`; tokens never.
 *
 * @param level - pino level, or `silent`.
 * @param destination - Where lines go. @defaultValue {@link stdoutLogSink}: stdout, never blocking
 * @returns The logger.
 */
export function createLogger(level = "info", destination: DestinationStream = stdoutLogSink()): Logger {
  const options = {
    level,
    base: { ...LOG_BASE },
    redact: { paths: REDACTED_LOG_PATHS, censor: "[redacted]" },
  };
  return pino(options, destination);
}

export type { Logger };
