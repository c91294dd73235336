import * as v from "valibot";
import { TimestampSchema } from "./common";

/** One problem found in a config. `line`/`column` are given for syntax errors in a file. */
export const ConfigIssueSchema = v.object({
  /** Dotted path into the config, e.g. `channels.telegram.token`; empty for the whole file. */
  path: v.string(),
  message: v.string(),
  file: v.optional(v.string()),
  line: v.optional(v.number()),
  column: v.optional(v.number()),
});

/** `config.get` params. */
export const ConfigGetParamsSchema = v.optional(
  v.object({ path: v.optional(v.pipe(v.string(), v.maxLength(500))) }),
  {},
);

/** `config.get` result. Secrets are redacted. */
export const ConfigGetResultSchema = v.object({
  config: v.unknown(),
  /** Content hash of the active config; pass it to `config.apply` as `baseHash`. */
  hash: v.string(),
  /** The file it came from, or null for embedded defaults. */
  source: v.nullable(v.string()),
  loadedAt: TimestampSchema,
});

/** `config.validate` params. */
export const ConfigValidateParamsSchema = v.object({ config: v.unknown() });

/** `config.validate` result. */
export const ConfigValidateResultSchema = v.object({
  valid: v.boolean(),
  issues: v.array(ConfigIssueSchema),
});

/** `config.apply` params: a whole new config, or a patch merged into the active one. */
export const ConfigApplyParamsSchema = v.object({
  config: v.unknown(),
  mode: v.optional(v.picklist(["replace", "merge"]), "replace"),
  /** Refuse with `CONFLICT` unless the active config still has this hash. */
  baseHash: v.optional(v.string()),
});

/** `config.apply` result: exactly what changed live and what waits for a restart. */
export const ConfigApplyResultSchema = v.object({
  hash: v.string(),
  /** Sections applied live, e.g. `channels.telegram`, `security`. */
  applied: v.array(v.string()),
  /** Sections that changed but take effect only after a restart, e.g. `gateway.port`. */
  restartRequired: v.array(v.string()),
});

/** `config.reloaded` event payload. */
export const ConfigReloadedEventSchema = ConfigApplyResultSchema;

/** `config.invalid` event payload: the file was edited into an invalid state; the old config stays. */
export const ConfigInvalidEventSchema = v.object({
  file: v.nullable(v.string()),
  issues: v.array(ConfigIssueSchema),
});

/** One problem in a config. */
export type ConfigIssue = v.InferOutput<typeof ConfigIssueSchema>;
