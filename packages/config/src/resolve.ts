import type { ConfigIssue } from "@openclaw/protocol";
import JSON5 from "json5";
import * as v from "valibot";
import { applyEnvOverrides, type Env, substituteEnv } from "./env";
import { type Config, ConfigSchema } from "./schema";
import { isSecretPath } from "./secrets";
import { unknownKeys } from "./unknown-keys";

/** The outcome of validating a config. */
export type ValidationResult =
  | { valid: true; config: Config; issues: []; overridden: string[] }
  | { valid: false; issues: ConfigIssue[] };

/**
 * Parses `openclaw.json` text (JSON5). A syntax error becomes one issue with its line and column.
 *
 * @param text - The file's content.
 * @param file - The file's path, for the issue.
 * @returns The parsed value, or the issue.
 */
export function parseConfigText(
  text: string,
  file?: string,
): { ok: true; value: unknown } | { ok: false; issue: ConfigIssue } {
  try {
    return { ok: true, value: JSON5.parse(text) };
  } catch (error) {
    const syntax = error as SyntaxError & { lineNumber?: number; columnNumber?: number };
    const issue: ConfigIssue = { path: "", message: syntax.message.replace(/^JSON5: /, "") };
    if (file !== undefined) issue.file = file;
    if (syntax.lineNumber !== undefined) issue.line = syntax.lineNumber;
    if (syntax.columnNumber !== undefined) issue.column = syntax.columnNumber;
    return { ok: false, issue };
  }
}

/**
 * Turns a parsed (raw) config into the active one: `${ENV}` substitution, environment overrides,
 * schema validation with defaults. A key the schema does not declare is an issue naming it, with the
 * closest known key as a suggestion (see {@link unknownKeys}); `channels.<name>` keeps its plugin's
 * own settings. Issue messages never contain a secret's value.
 *
 * @param raw - The parsed file or a client's input; `undefined` means no file (all defaults).
 * @param env - The environment.
 * @param file - The file it came from, added to each issue.
 * @returns The config with defaults, or every issue found.
 */
export function resolveConfig(raw: unknown, env: Env, file?: string): ValidationResult {
  const withFile = (issues: ConfigIssue[]) =>
    file === undefined ? issues : issues.map((issue) => ({ ...issue, file }));
  const input = raw === undefined ? {} : raw;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { valid: false, issues: withFile([{ path: "", message: "the config must be a JSON object" }]) };
  }
  const substituted = substituteEnv(input, env);
  const overridden = applyEnvOverrides(substituted.value as Record<string, unknown>, env);
  const parsed = v.safeParse(ConfigSchema, overridden.value);
  // Keys the schema does not know are refused by name (valibot's objects would drop them silently);
  // a channel's own settings pass through to its plugin.
  const issues = [
    ...substituted.issues,
    ...overridden.issues,
    ...unknownKeys(ConfigSchema, overridden.value),
  ];
  if (!parsed.success) issues.push(...parsed.issues.map(toIssue));
  if (issues.length > 0 || !parsed.success) return { valid: false, issues: withFile(issues) };
  return { valid: true, config: parsed.output, issues: [], overridden: overridden.overridden };
}

function toIssue(issue: v.BaseIssue<unknown>): ConfigIssue {
  const path = v.getDotPath(issue) ?? "";
  if (issue.kind === "schema" && issue.type === "object" && issue.input === undefined) {
    return { path, message: "is required" };
  }
  // valibot's messages quote the received value; for secrets only the expectation is kept.
  const message = isSecretPath(path)
    ? `invalid value (expected ${issue.expected ?? "a valid value"})`
    : issue.message;
  return { path, message };
}
