import { type DestinationStream, type Logger, pino } from "pino";

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
 * @param destination - Where lines go. @defaultValue stdout
 * @returns The logger.
 */
export function createLogger(level = "info", destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "openclaw-gateway" },
    redact: { paths: REDACTED_LOG_PATHS, censor: "[redacted]" },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export type { Logger };
