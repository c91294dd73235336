/**
 * One log method: pino's shape (an object of fields and a message, or a message alone), which a
 * pino `Logger` satisfies.
 */
export interface BackendLogFn {
  (object: object, message?: string): void;
  (message: string): void;
}

/**
 * Where a backend logs (what it lost and found again, takeovers, records it refused). The gateway
 * passes its pino logger; any object with these four methods will do.
 */
export interface BackendLogger {
  debug: BackendLogFn;
  info: BackendLogFn;
  warn: BackendLogFn;
  error: BackendLogFn;
}
