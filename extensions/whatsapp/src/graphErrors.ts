import { ChannelError } from "@openclaw/channel-sdk";

/** Graph API error codes WhatsApp uses for throttling: they become retryable `RATE_LIMITED` errors. */
export const RATE_LIMIT_CODES: ReadonlySet<number> = new Set([4, 80007, 130429, 131056]);

/** The Graph API error code for a free-form message outside the 24-hour customer service window. */
export const WINDOW_CLOSED_CODE = 131047;

const AUTH_CODES: ReadonlySet<number> = new Set([3, 10, 190]);
const RECIPIENT_CODES: ReadonlySet<number> = new Set([131026, 131030, 131021]);
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([1, 2, 131000, 131016, 133004]);

/** The `error` object of a Graph API error reply. */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_data?: { details?: string };
  fbtrace_id?: string;
}

/**
 * Maps a Graph API error reply to a `ChannelError`.
 *
 * @param status - The HTTP status.
 * @param headers - The reply's headers (`retry-after`, `x-business-use-case-usage`).
 * @param body - The parsed body, if JSON.
 * @param rateLimitRetryMs - Retry delay when WhatsApp gives no hint.
 * @returns The typed error, with `platformCode` set to the Graph error code (or HTTP status).
 */
export function graphError(
  status: number,
  headers: Headers,
  body: unknown,
  rateLimitRetryMs: number,
): ChannelError {
  const error = (body as { error?: GraphErrorBody } | undefined)?.error;
  const code = typeof error?.code === "number" ? error.code : undefined;
  const detail = error?.error_data?.details;
  const message = `WhatsApp answered ${status}${code === undefined ? "" : ` (error ${code})`}: ${error?.message ?? "no error body"}${detail === undefined ? "" : ` - ${detail}`}`;
  const options = { platformCode: code ?? status };
  if (status === 429 || (code !== undefined && RATE_LIMIT_CODES.has(code)))
    return new ChannelError("RATE_LIMITED", message, {
      ...options,
      retryAfterMs: retryAfterMs(headers) ?? rateLimitRetryMs,
    });
  if (status === 401 || (code !== undefined && (AUTH_CODES.has(code) || (code >= 200 && code < 300))))
    return new ChannelError("AUTH_FAILED", message, options);
  if (code !== undefined && RECIPIENT_CODES.has(code))
    return new ChannelError("RECIPIENT_NOT_FOUND", message, options);
  if (status >= 500 || (code !== undefined && UNAVAILABLE_CODES.has(code)))
    return new ChannelError("PLATFORM_UNAVAILABLE", message, options);
  return new ChannelError("UNSUPPORTED_CONTENT", message, options);
}

/** How long WhatsApp asks to wait: `Retry-After` (seconds), else the business use case usage estimate (minutes). */
function retryAfterMs(headers: Headers): number | undefined {
  const retryAfter = Number(headers.get("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.round(retryAfter * 1000);
  const usage = headers.get("x-business-use-case-usage");
  if (usage === null) return undefined;
  try {
    let minutes = 0;
    for (const entries of Object.values(JSON.parse(usage) as Record<string, unknown>)) {
      if (!Array.isArray(entries)) continue;
      for (const entry of entries as Array<{ estimated_time_to_regain_access?: number }>)
        minutes = Math.max(minutes, Number(entry.estimated_time_to_regain_access) || 0);
    }
    return minutes > 0 ? minutes * 60_000 : undefined;
  } catch {
    return undefined;
  }
}
