/**
 * Whether a webhook body nests JSON arrays and objects deeper than `maxDepth`, found by one pass
 * over its bytes before anything parses it: a megabyte of `[[[[…` costs a JSON parser hundreds of
 * milliseconds and builds a structure as deep, this scan a millisecond and nothing. Brackets inside
 * JSON strings do not count. A form body (`application/x-www-form-urlencoded`, as Slack's
 * interactions carry their JSON in the `payload` field) is also checked field by field, decoded.
 *
 * @param body - The raw body.
 * @param contentType - The request's `Content-Type`, if any.
 * @param maxDepth - `webhooks.maxJsonDepth`.
 * @returns `true` when some part nests deeper than `maxDepth`.
 */
export function exceedsJsonDepth(
  body: Uint8Array,
  contentType: string | undefined,
  maxDepth: number,
): boolean {
  // The raw bytes always: a plugin may parse them whatever the Content-Type says.
  if (nestsDeeper(body, maxDepth, false)) return true;
  const form = contentType?.toLowerCase().includes("application/x-www-form-urlencoded") === true;
  return form && nestsDeeper(body, maxDepth, true);
}

/**
 * Scans bytes as a JSON lexer would (strings and their escapes skipped; UTF-8 continuation bytes
 * are never ASCII, so they cannot be taken for a bracket or a quote). For any prefix a JSON parser
 * accepts, the depth counted is the parser's. With `form`, the bytes are read as
 * `URLSearchParams` decodes them (`%XX`, `+`), each `&`-separated field on its own, without
 * building the decoded text.
 */
function nestsDeeper(bytes: Uint8Array, maxDepth: number, form: boolean): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < bytes.length; i++) {
    let byte = bytes[i]!;
    if (form) {
      if (byte === 0x26) {
        depth = 0;
        inString = false;
        escaped = false;
        continue;
      }
      if (byte === 0x2b) byte = 0x20;
      else if (byte === 0x25 && i + 2 < bytes.length) {
        const high = hexValue(bytes[i + 1]!);
        const low = hexValue(bytes[i + 2]!);
        if (high >= 0 && low >= 0) {
          byte = high * 16 + low;
          i += 2;
        }
      }
    }
    if (inString) {
      if (escaped) escaped = false;
      else if (byte === 0x5c) escaped = true;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if ((byte === 0x5d || byte === 0x7d) && depth > 0) depth--;
  }
  return false;
}

/** The value of an ASCII hex digit, or -1. */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}
