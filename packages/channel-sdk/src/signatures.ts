import { createHash, createHmac, createPublicKey, timingSafeEqual, verify } from "node:crypto";
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";

/** Why a signature check failed. */
export type SignatureFailure =
  | "missing_signature"
  | "malformed_signature"
  | "bad_signature"
  | "stale_timestamp"
  | "missing_timestamp";

/** The outcome of a signature check. */
export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureFailure };

type Bytes = string | Uint8Array;

const OK: SignatureCheck = Object.freeze({ ok: true });
const fail = (reason: SignatureFailure): SignatureCheck => ({ ok: false, reason });
const toBuffer = (value: Bytes): Buffer =>
  typeof value === "string"
    ? Buffer.from(value, "utf8")
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);

/**
 * Compares two secrets in constant time, whatever their lengths (both are hashed first, so the
 * time taken reveals neither the content nor the length of the expected value).
 *
 * @param a - One value.
 * @param b - The other.
 * @returns `true` when they are equal.
 */
export function constantTimeEqual(a: Bytes, b: Bytes): boolean {
  const left = createHash("sha256").update(toBuffer(a)).digest();
  const right = createHash("sha256").update(toBuffer(b)).digest();
  return timingSafeEqual(left, right) && toBuffer(a).length === toBuffer(b).length;
}

/**
 * Checks a hex HMAC-SHA256 signature of `payload`.
 *
 * @param options.secret - The shared secret.
 * @param options.payload - The exact bytes that were signed.
 * @param options.signature - The received signature (hex), after any prefix such as `sha256=`.
 * @returns Whether it matches.
 */
export function verifyHmacSha256Hex(options: {
  secret: Bytes;
  payload: Bytes;
  signature: string | undefined;
}): SignatureCheck {
  if (options.signature === undefined || options.signature === "") return fail("missing_signature");
  if (!/^[0-9a-fA-F]{64}$/.test(options.signature)) return fail("malformed_signature");
  const expected = createHmac("sha256", toBuffer(options.secret))
    .update(toBuffer(options.payload))
    .digest("hex");
  return constantTimeEqual(expected, options.signature.toLowerCase()) ? OK : fail("bad_signature");
}

/** Slack's replay window: requests older (or newer) than five minutes are refused. */
export const SLACK_TOLERANCE_SECONDS = 300;

/**
 * Checks a Slack request: `X-Slack-Signature` is `v0=` + hex HMAC-SHA256 of
 * `v0:<X-Slack-Request-Timestamp>:<body>` with the signing secret, and the timestamp must be within
 * {@link SLACK_TOLERANCE_SECONDS} of now.
 *
 * @param options.signingSecret - The app's signing secret.
 * @param options.body - The raw body.
 * @param options.timestamp - The `X-Slack-Request-Timestamp` header (Unix seconds).
 * @param options.signature - The `X-Slack-Signature` header.
 * @param options.toleranceSeconds - Replay window.
 * @param options.now - Current time in ms (for tests).
 * @returns Whether the request is authentic and fresh.
 */
export function verifySlackSignature(options: {
  signingSecret: string;
  body: Bytes;
  timestamp: string | undefined;
  signature: string | undefined;
  toleranceSeconds?: number;
  now?: number;
}): SignatureCheck {
  if (options.signature === undefined || options.signature === "") return fail("missing_signature");
  if (options.timestamp === undefined || !/^\d{1,12}$/.test(options.timestamp))
    return fail("missing_timestamp");
  const age = Math.abs((options.now ?? Date.now()) / 1000 - Number(options.timestamp));
  if (age > (options.toleranceSeconds ?? SLACK_TOLERANCE_SECONDS)) return fail("stale_timestamp");
  if (!options.signature.startsWith("v0=")) return fail("malformed_signature");
  const base = Buffer.concat([Buffer.from(`v0:${options.timestamp}:`), toBuffer(options.body)]);
  return verifyHmacSha256Hex({
    secret: options.signingSecret,
    payload: base,
    signature: options.signature.slice(3),
  });
}

/**
 * Checks a Meta (WhatsApp Cloud API) webhook: `X-Hub-Signature-256` is `sha256=` + hex
 * HMAC-SHA256 of the raw body with the app secret. Meta defines no replay window.
 *
 * @param options.appSecret - The app secret.
 * @param options.body - The raw body.
 * @param options.signature - The `X-Hub-Signature-256` header.
 * @returns Whether it matches.
 */
export function verifyWhatsAppSignature(options: {
  appSecret: string;
  body: Bytes;
  signature: string | undefined;
}): SignatureCheck {
  if (options.signature === undefined || options.signature === "") return fail("missing_signature");
  if (!options.signature.startsWith("sha256=")) return fail("malformed_signature");
  return verifyHmacSha256Hex({
    secret: options.appSecret,
    payload: options.body,
    signature: options.signature.slice(7),
  });
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * Checks a Discord interaction: `X-Signature-Ed25519` is the hex Ed25519 signature of
 * `X-Signature-Timestamp` + body under the application's public key. Discord defines no replay
 * window; pass `toleranceSeconds` to enforce one.
 *
 * @param options.publicKey - The application's public key (hex, 32 bytes).
 * @param options.body - The raw body.
 * @param options.signature - The `X-Signature-Ed25519` header.
 * @param options.timestamp - The `X-Signature-Timestamp` header.
 * @param options.toleranceSeconds - Optional replay window.
 * @param options.now - Current time in ms (for tests).
 * @returns Whether it is authentic.
 */
export function verifyDiscordSignature(options: {
  publicKey: string;
  body: Bytes;
  signature: string | undefined;
  timestamp: string | undefined;
  toleranceSeconds?: number;
  now?: number;
}): SignatureCheck {
  if (options.signature === undefined || options.signature === "") return fail("missing_signature");
  if (options.timestamp === undefined || options.timestamp === "") return fail("missing_timestamp");
  if (!/^[0-9a-fA-F]{128}$/.test(options.signature)) return fail("malformed_signature");
  if (options.toleranceSeconds !== undefined) {
    if (!/^\d{1,12}$/.test(options.timestamp)) return fail("missing_timestamp");
    if (Math.abs((options.now ?? Date.now()) / 1000 - Number(options.timestamp)) > options.toleranceSeconds)
      return fail("stale_timestamp");
  }
  if (!/^[0-9a-fA-F]{64}$/.test(options.publicKey))
    throw new TypeError("publicKey must be 64 hex characters");
  const key = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(options.publicKey, "hex")]),
    format: "der",
    type: "spki",
  });
  const message = Buffer.concat([Buffer.from(options.timestamp, "utf8"), toBuffer(options.body)]);
  return verify(null, message, key, Buffer.from(options.signature, "hex")) ? OK : fail("bad_signature");
}

/**
 * Checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header against the `secret_token` given to
 * `setWebhook`, in constant time.
 *
 * @param options.expected - The secret set with `setWebhook`.
 * @param options.received - The header's value.
 * @returns Whether it matches.
 */
export function verifyTelegramSecretToken(options: {
  expected: string;
  received: string | undefined;
}): SignatureCheck {
  if (options.received === undefined || options.received === "") return fail("missing_signature");
  return constantTimeEqual(options.expected, options.received) ? OK : fail("bad_signature");
}

/** The JWKS whose keys sign Bot Framework channel tokens (named by Bot Framework's OpenID metadata). */
export const BOT_FRAMEWORK_JWKS_URL = "https://login.botframework.com/v1/.well-known/keys";
/** The issuer of Bot Framework channel tokens. */
export const BOT_FRAMEWORK_ISSUER = "https://api.botframework.com";

/** The outcome of {@link verifyBotFrameworkJwt}. */
export type BotFrameworkCheck =
  | { ok: true; claims: JWTPayload }
  | {
      ok: false;
      reason:
        | SignatureFailure
        | "wrong_audience"
        | "wrong_issuer"
        | "expired"
        | "wrong_service_url"
        | "missing_service_url";
    };

/**
 * Checks the `Authorization: Bearer <jwt>` of a Bot Framework (MS Teams) activity: RS256 signature
 * by a key from the Bot Framework JWKS, issuer, audience = the bot's app id, expiry (5 minutes of
 * clock skew), and, when given, that the token's `serviceurl` claim matches the activity's.
 *
 * Bot Connector tokens carry the service URL as the lower-case `serviceurl` claim (a camel-case
 * `serviceUrl` claim is accepted too). When `serviceUrl` is passed, a token without the claim is
 * refused (`missing_service_url`) and one naming another URL is refused (`wrong_service_url`):
 * otherwise a token issued for one service URL could be replayed with an activity that makes the
 * bot send its replies, with its credentials, to a URL the attacker chose.
 *
 * @param options.authorization - The `Authorization` header.
 * @param options.appId - The bot's Microsoft app id (the expected audience).
 * @param options.keys - Where the signing keys come from: a JWKS URL, or a jose key getter (tests, caching).
 * @param options.issuer - Expected issuer.
 * @param options.serviceUrl - The activity's `serviceUrl`, to bind the token to it (required in the token when given).
 * @param options.now - Current time in ms (for tests).
 * @returns The verified claims, or why not.
 */
export async function verifyBotFrameworkJwt(options: {
  authorization: string | undefined;
  appId: string;
  keys: URL | JWTVerifyGetKey;
  issuer?: string;
  serviceUrl?: string;
  now?: number;
}): Promise<BotFrameworkCheck> {
  const header = options.authorization ?? "";
  if (!header.startsWith("Bearer ")) return { ok: false, reason: "missing_signature" };
  const token = header.slice(7).trim();
  const keys = options.keys instanceof URL ? remoteKeys(options.keys) : options.keys;
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: options.issuer ?? BOT_FRAMEWORK_ISSUER,
      audience: options.appId,
      algorithms: ["RS256"],
      clockTolerance: 300,
      ...(options.now === undefined ? {} : { currentDate: new Date(options.now) }),
    });
    if (options.serviceUrl !== undefined) {
      const bound = checkBotFrameworkServiceUrl(payload, options.serviceUrl);
      if (!bound.ok) return bound;
    }
    return { ok: true, claims: payload };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_JWT_EXPIRED") return { ok: false, reason: "expired" };
    if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
      const claim = (error as { claim?: string }).claim;
      return {
        ok: false,
        reason: claim === "aud" ? "wrong_audience" : claim === "iss" ? "wrong_issuer" : "bad_signature",
      };
    }
    if (code === "ERR_JWS_INVALID" || code === "ERR_JWT_INVALID")
      return { ok: false, reason: "malformed_signature" };
    return { ok: false, reason: "bad_signature" };
  }
}

/**
 * Checks that a verified Bot Framework token names the activity's service URL: its `serviceurl`
 * claim (or `serviceUrl`) must equal it, ignoring case and trailing slashes. For callers that verify
 * the token before reading the body (so that an unauthenticated request costs no JSON parse): call
 * {@link verifyBotFrameworkJwt} without `serviceUrl`, parse the activity, then this with its claims.
 *
 * @param claims - The claims {@link verifyBotFrameworkJwt} returned.
 * @param serviceUrl - The activity's `serviceUrl` (`""` when it has none: never matches).
 * @returns `ok`, or `missing_service_url` (no claim) or `wrong_service_url` (another URL).
 *
 * @example
 * ```ts
 * const check = await verifyBotFrameworkJwt({ authorization, appId, keys });
 * if (!check.ok) return unauthorized(check.reason);
 * const activity = JSON.parse(body);
 * const bound = checkBotFrameworkServiceUrl(check.claims, activity.serviceUrl ?? "");
 * ```
 */
export function checkBotFrameworkServiceUrl(
  claims: JWTPayload,
  serviceUrl: string,
): { ok: true } | { ok: false; reason: "missing_service_url" | "wrong_service_url" } {
  const claimed = claims.serviceurl ?? claims.serviceUrl;
  if (typeof claimed !== "string" || claimed === "") return { ok: false, reason: "missing_service_url" };
  if (!sameServiceUrl(claimed, serviceUrl)) return { ok: false, reason: "wrong_service_url" };
  return { ok: true };
}

const jwksCache = new Map<string, JWTVerifyGetKey>();
function remoteKeys(url: URL): JWTVerifyGetKey {
  let keys = jwksCache.get(url.href);
  if (keys === undefined) {
    keys = createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: 24 * 3_600_000 });
    jwksCache.set(url.href, keys);
  }
  return keys;
}

function sameServiceUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
}
