import { type ConfigIssue, type ErrorDetails, ProtocolError } from "@openclaw/protocol";

/** The codes {@link ConfigManager} raises; each is also a wire error code. */
export const ConfigErrorCode = {
  /** The config (file or input) is not valid; `details.issues` says where. */
  INVALID_PARAMS: "INVALID_PARAMS",
  /** `apply` with a `baseHash` that is no longer the active config's. */
  CONFLICT: "CONFLICT",
  /** The file could not be read or written. */
  INTERNAL: "INTERNAL",
} as const;

/** One of the {@link ConfigErrorCode} values. */
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** An error about configuration. `issues` lists every problem, each with its path (and line/column for syntax). */
export class ConfigError extends ProtocolError<ConfigErrorCode> {
  override readonly name: string = "ConfigError";
  /** Every problem found. Never contains a secret's value. */
  readonly issues: readonly ConfigIssue[];

  constructor(
    code: ConfigErrorCode,
    message: string,
    options: { issues?: readonly ConfigIssue[]; details?: ErrorDetails; cause?: unknown } = {},
  ) {
    const issues = options.issues ?? [];
    super(code, message, {
      details: { ...options.details, issues: issues.map((issue) => ({ ...issue })) },
      cause: options.cause,
    });
    this.issues = issues;
  }
}
