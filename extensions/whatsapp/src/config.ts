import { v } from "@openclaw/channel-sdk";

/** WhatsApp's limit on one text message's body (Cloud API and WhatsApp Web alike). */
export const WHATSAPP_MAX_TEXT = 4096;

/** Defaults of every optional WhatsApp setting. */
export const WHATSAPP_DEFAULTS = Object.freeze({
  transport: "cloud" as "cloud" | "baileys",
  graphApiUrl: "https://graph.facebook.com",
  graphApiVersion: "v23.0",
  requestTimeoutMs: 15_000,
  maxMediaBytes: 5 * 1024 * 1024,
  rateLimitRetryMs: 10_000,
  dedupeCacheSize: 5_000,
  reconnectInitialMs: 1_000,
  reconnectMaxMs: 60_000,
  watchdogIntervalMs: 30_000,
  pingTimeoutMs: 15_000,
  connectTimeoutMs: 60_000,
});

const TemplateSchema = v.object({
  /** The approved template's name in WhatsApp Manager. */
  name: v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,512}$/, "must be a WhatsApp template name (a-z, 0-9, _)")),
  /** Its language code, e.g. `en_US`. */
  language: v.pipe(v.string(), v.regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, "must be a language code like en_US")),
  /** How many `{{n}}` body parameters it takes; they are filled from the message text. @defaultValue 0 */
  bodyParameters: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20)), 0),
});

/** A message template approved by Meta, as configured under `templates`. */
export type WhatsAppTemplate = v.InferOutput<typeof TemplateSchema>;

const positiveMs = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/**
 * Settings of a WhatsApp channel (`channels.<name>` in openclaw.json). `transport` picks the Cloud
 * API (the default; needs `phoneNumberId`, `accessToken`, `appSecret`, `verifyToken`) or WhatsApp
 * Web through Baileys (`authDir`, optional `pairingPhoneNumber`).
 */
export const WhatsAppConfigSchema = v.pipe(
  v.object({
    /** `cloud` (Meta's WhatsApp Business Cloud API) or `baileys` (WhatsApp Web, personal numbers). @defaultValue "cloud" */
    transport: v.optional(v.picklist(["cloud", "baileys"]), WHATSAPP_DEFAULTS.transport),

    // Cloud API
    /** The business phone number's id (WhatsApp Manager > API Setup), not the number itself. */
    phoneNumberId: v.optional(
      v.pipe(v.string(), v.regex(/^\d{1,32}$/, "must be the numeric phone number id")),
    ),
    /** A system-user access token with whatsapp_business_messaging. Write it as `${WHATSAPP_TOKEN}`. */
    accessToken: v.optional(v.pipe(v.string(), v.minLength(16))),
    /** The Meta app's secret: webhooks are checked against `X-Hub-Signature-256` with it. */
    appSecret: v.optional(v.pipe(v.string(), v.minLength(16))),
    /** The verify token you typed into the app's webhook settings (answered in the GET handshake). */
    verifyToken: v.optional(v.pipe(v.string(), v.minLength(8), v.maxLength(256))),
    /** The Graph API's base URL (tests point it at a fake). @defaultValue "https://graph.facebook.com" */
    graphApiUrl: v.optional(v.pipe(v.string(), v.url()), WHATSAPP_DEFAULTS.graphApiUrl),
    /** The Graph API version in request paths. @defaultValue "v23.0" */
    graphApiVersion: v.optional(
      v.pipe(v.string(), v.regex(/^v\d{1,3}\.\d{1,2}$/, "must look like v23.0")),
      WHATSAPP_DEFAULTS.graphApiVersion,
    ),
    /** Each Graph API request (and media download) is abandoned after this long. @defaultValue 15000 */
    requestTimeoutMs: v.optional(positiveMs(100, 300_000), WHATSAPP_DEFAULTS.requestTimeoutMs),
    /** Inbound media up to this size is downloaded into the message (base64); larger media is linked. @defaultValue 5242880 */
    maxMediaBytes: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100 * 1024 * 1024)),
      WHATSAPP_DEFAULTS.maxMediaBytes,
    ),
    /** Retry delay reported with a rate-limit error when WhatsApp gives no hint. @defaultValue 10000 */
    rateLimitRetryMs: v.optional(positiveMs(100, 3_600_000), WHATSAPP_DEFAULTS.rateLimitRetryMs),
    /** Approved message templates by alias, for messages outside the 24-hour service window. */
    templates: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)), TemplateSchema), {}),
    /**
     * Alias (in `templates`) sent instead when WhatsApp refuses a free-form message because the
     * 24-hour window is closed. Without it, such a send fails with a final error.
     */
    windowClosedTemplate: v.optional(v.string()),

    // Baileys (WhatsApp Web)
    /** Where WhatsApp Web credentials are kept (directory 0700, files 0600). @defaultValue "$OPENCLAW_STATE_DIR/whatsapp/<channel>" */
    authDir: v.optional(v.pipe(v.string(), v.minLength(1))),
    /** Log in with an 8-character pairing code for this number (digits, with country code) instead of a QR code. */
    pairingPhoneNumber: v.optional(
      v.pipe(v.string(), v.regex(/^\d{6,15}$/, "must be digits with the country code")),
    ),
    /** First reconnect delay after the socket closes; doubles up to `reconnectMaxMs`. @defaultValue 1000 */
    reconnectInitialMs: v.optional(positiveMs(10, 600_000), WHATSAPP_DEFAULTS.reconnectInitialMs),
    /** Longest reconnect delay. @defaultValue 60000 */
    reconnectMaxMs: v.optional(positiveMs(10, 3_600_000), WHATSAPP_DEFAULTS.reconnectMaxMs),
    /** How often the watchdog checks a quiet open socket with a ping. @defaultValue 30000 */
    watchdogIntervalMs: v.optional(positiveMs(10, 3_600_000), WHATSAPP_DEFAULTS.watchdogIntervalMs),
    /** A ping unanswered for this long counts as a stalled socket: it is closed and reconnected. @defaultValue 15000 */
    pingTimeoutMs: v.optional(positiveMs(10, 600_000), WHATSAPP_DEFAULTS.pingTimeoutMs),
    /** A socket that neither opens nor shows a QR code within this long is restarted. @defaultValue 60000 */
    connectTimeoutMs: v.optional(positiveMs(10, 600_000), WHATSAPP_DEFAULTS.connectTimeoutMs),

    // Both
    /** How many recent inbound message ids are remembered to drop redeliveries. @defaultValue 5000 */
    dedupeCacheSize: v.optional(positiveMs(1, 1_000_000), WHATSAPP_DEFAULTS.dedupeCacheSize),
  }),
  v.check(
    (c) =>
      c.transport === "baileys" ||
      (c.phoneNumberId !== undefined &&
        c.accessToken !== undefined &&
        c.appSecret !== undefined &&
        c.verifyToken !== undefined),
    "the cloud transport needs phoneNumberId, accessToken, appSecret and verifyToken",
  ),
  v.check(
    (c) =>
      c.windowClosedTemplate === undefined || (c.templates[c.windowClosedTemplate]?.bodyParameters ?? 2) <= 1,
    "windowClosedTemplate must name an entry of templates that takes at most one body parameter (the message text)",
  ),
  v.check(
    (c) => c.reconnectMaxMs >= c.reconnectInitialMs,
    "reconnectMaxMs must be at least reconnectInitialMs",
  ),
);

/** Validated WhatsApp settings. */
export type WhatsAppConfig = v.InferOutput<typeof WhatsAppConfigSchema>;
