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
  if (nestsDeeper(body, maxDepth)) return true;
  if (contentType === undefined || !contentType.toLowerCase().includes("application/x-www-form-urlencoded"))
    return false;
  for (const [, value] of new URLSearchParams(
    Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"),
  ))
    if (nestsDeeper(Buffer.from(value, "utf8"), maxDepth)) return true;
  return false;
}

/**
 * Scans bytes as a JSON lexer would (strings and their escapes skipped; UTF-8 continuation bytes
 * are never ASCII, so they cannot be taken for a bracket or a quote). For any prefix a JSON parser
 * accepts, the depth counted is the parser's.
 */
function nestsDeeper(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (inString) {
      if (byte === 0x5c)
        i++; // a backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if ((byte === 0x5d || byte === 0x7d) && depth > 0) depth--;
  }
  return false;
}
