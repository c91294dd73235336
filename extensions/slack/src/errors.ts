import { ChannelError } from "@openclaw/channel-sdk";
import { webApi } from "@slack/bolt";

/** Slack `error` codes that mean the token is wrong, revoked or lacks a scope. */
const AUTH_ERRORS = new Set([
  "not_authed",
  "invalid_auth",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "no_permission",
  "missing_scope",
  "not_allowed_token_type",
  "ekm_access_denied",
]);

/** Slack `error` codes that mean the conversation or user cannot be reached. */
const RECIPIENT_ERRORS = new Set([
  "channel_not_found",
  "not_in_channel",
  "is_archived",
  "user_not_found",
  "user_not_visible",
  "users_not_found",
  "cannot_dm_bot",
  "user_disabled",
  "restricted_action",
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
]);

/** Slack `error` codes of a transient failure on Slack's side. */
const TRANSIENT_ERRORS = new Set([
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
  "team_added_to_org",
]);

/**
 * Maps what the Slack SDK throws to a `ChannelError`: 429s (`WebAPIRateLimitedError`, thrown
 * because the client rejects rate-limited calls) become `RATE_LIMITED` with Slack's `Retry-After`,
 * `{ok:false,error}` answers are mapped by their error code, and network failures are
 * `PLATFORM_UNAVAILABLE`.
 *
 * @param error - Anything thrown.
 * @returns The matching `ChannelError`.
 */
export function toSlackChannelError(error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  if (error instanceof webApi.WebAPIRateLimitedError)
    return new ChannelError("RATE_LIMITED", `Slack rate limit: retry after ${error.retryAfter} s`, {
      retryAfterMs: error.retryAfter * 1000,
      platformCode: 429,
      cause: error,
    });
  if (error instanceof webApi.WebAPIPlatformError) {
    const code = error.data.error;
    const options = { platformCode: code, cause: error };
    if (code === "ratelimited" || code === "rate_limited")
      return new ChannelError("RATE_LIMITED", "Slack rate limit", { ...options, retryAfterMs: 1000 });
    if (AUTH_ERRORS.has(code))
      return new ChannelError("AUTH_FAILED", `Slack refused the token: ${code}`, options);
    if (RECIPIENT_ERRORS.has(code))
      return new ChannelError("RECIPIENT_NOT_FOUND", `Slack cannot reach the conversation: ${code}`, options);
    if (TRANSIENT_ERRORS.has(code))
      return new ChannelError("PLATFORM_UNAVAILABLE", `Slack failed: ${code}`, options);
    return new ChannelError("UNSUPPORTED_CONTENT", `Slack refused the request: ${code}`, options);
  }
  if (error instanceof webApi.WebAPIHTTPError) {
    const status = error.statusCode;
    const options = { platformCode: status, cause: error };
    if (status === 401 || status === 403)
      return new ChannelError("AUTH_FAILED", `Slack answered HTTP ${status}`, options);
    return new ChannelError("PLATFORM_UNAVAILABLE", `Slack answered HTTP ${status}`, options);
  }
  if (error instanceof webApi.WebAPIRequestError)
    return new ChannelError("PLATFORM_UNAVAILABLE", `Slack is unreachable: ${error.original.message}`, {
      cause: error,
    });
  if (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError"))
    return new ChannelError("PLATFORM_UNAVAILABLE", `Slack did not answer in time: ${error.message}`, {
      cause: error,
    });
  return new ChannelError("INTERNAL", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
