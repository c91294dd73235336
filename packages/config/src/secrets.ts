/** Keys whose values are secrets: redacted in `config.get`, diffs, logs and error messages. */
export const SECRET_KEY_PATTERN =
  /(token|secret|password|passphrase|api[-_]?key|private[-_]?key|credentials?|signing[-_]?key)$/i;

/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

/**
 * Tests whether a dotted config path ends in a secret key.
 *
 * @param path - E.g. `channels.telegram.botToken`.
 * @returns `true` for secrets.
 */
export function isSecretPath(path: string): boolean {
  const last = path.split(".").at(-1) ?? "";
  return SECRET_KEY_PATTERN.test(last);
}

/** The password of a URL with credentials (`scheme://user:password@host`), wherever it appears. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:)[^/@\s]+@/gi;

/**
 * Replaces the password of every URL with credentials in `text` with {@link REDACTED}
 * (`redis://:secret@host` → `redis://:[redacted]@host`): use it on every URL (or message holding
 * one) that is logged or put in an error.
 *
 * @param text - A URL, or any text with URLs in it.
 * @returns The text without the passwords.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}@`);
}

/**
 * A deep copy of `value` with every secret replaced by {@link REDACTED}: the values of secret keys,
 * and the password of any URL with credentials (e.g. `cluster.redisUrl`).
 *
 * @param value - A config or any part of one.
 * @returns The redacted copy.
 */
export function redact<T>(value: T): T {
  return redactValue(value, "") as T;
}

function redactValue(value: unknown, key: string): unknown {
  if (key !== "" && SECRET_KEY_PATTERN.test(key) && value !== undefined && value !== null && value !== "")
    return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, ""));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, redactValue(item, k)]));
  }
  if (typeof value === "string") return redactUrl(value);
  return value;
}
