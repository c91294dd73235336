import { isIP } from "node:net";
import { DEFAULT_GATEWAY_HOST, DEFAULT_GATEWAY_PORT, DEFAULT_MAX_FRAME_BYTES } from "@openclaw/protocol";
import * as v from "valibot";

const ms = (min: number, max = 2_147_483_647) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const secret = v.pipe(v.string(), v.minLength(16, "must be at least 16 characters"), v.maxLength(1024));
const channelName = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be 1-64 of a-z, 0-9, '-' or '_'"),
);

/** An IP address, or one with a prefix length (`10.0.0.0/8`, `2001:db8::/32`). */
const addressOrRange = v.pipe(
  v.string(),
  v.check((entry) => {
    const [host = "", prefix, ...rest] = entry.split("/");
    const family = isIP(host);
    if (family === 0 || rest.length > 0) return false;
    if (prefix === undefined) return true;
    return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
  }, "must be an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8"),
);

/** `gateway`: where the server listens and its per-connection limits. */
export const GatewaySectionSchema = v.optional(
  v.object({
    /** Bind address. Loopback by default; changing it needs a restart. */
    host: v.optional(v.pipe(v.string(), v.minLength(1)), DEFAULT_GATEWAY_HOST),
    /** Port for WebSocket and HTTP. Changing it needs a restart. */
    port: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65_535)),
      DEFAULT_GATEWAY_PORT,
    ),
    /** Largest WebSocket frame, in bytes; larger frames close the socket with 1009. */
    maxFrameBytes: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(64 * 1024 * 1024)),
      DEFAULT_MAX_FRAME_BYTES,
    ),
    /** Time a new connection has to send `connect`. */
    handshakeTimeoutMs: v.optional(ms(100, 600_000), 10_000),
    /** A client whose unsent bytes exceed this is closed with 1008 (slow consumer). */
    maxBufferedBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024)), 4 * 1024 * 1024),
    /**
     * WebSocket connections held at once; more are refused (HTTP 503 `OVERLOADED`,
     * `too_many_connections`, with `Retry-After`). Default: what the process's descriptor limit
     * allows (the soft `ulimit -n` minus `descriptorReserve`; 20,000 where the limit cannot be read).
     * A larger value is lowered to that too.
     */
    maxConnections: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    /**
     * File descriptors kept free for the gateway's own files, `/health` and other HTTP requests,
     * admins' connections and outbound platform sockets, beyond the WebSocket clients it accepts.
     * Default: the larger of 64 and 2.5% of the descriptor limit (500 of 20,000); at least 64 (a bare
     * gateway process already holds about 30).
     */
    descriptorReserve: v.optional(v.pipe(v.number(), v.integer(), v.minValue(64))),
    /**
     * Connections accepted beyond `maxConnections` for upgrades carrying the admin token in
     * `Authorization: Bearer`, so an operator can still get in when clients fill the gateway
     * (taken from the descriptor reserve: at most an eighth of it).
     */
    adminConnections: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1000)), 16),
    /**
     * Connections from one address that have not yet completed `connect`; more from that address are
     * refused (HTTP 503 `OVERLOADED`), so one source cannot hold every handshake slot.
     */
    maxHandshakesPerSource: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 64),
    /**
     * Reverse proxies (addresses and CIDR ranges, e.g. `["10.0.0.5", "fd00::/8"]`) whose
     * `X-Forwarded-For` and `Forwarded` headers name the client. A request from one of them counts,
     * in every per-source limit, against the right-most forwarded address that is not itself a
     * trusted proxy; those headers from any other peer are ignored. Empty: the socket's peer is the
     * client. Hot-reloaded.
     */
    trustedProxies: v.optional(v.pipe(v.array(addressOrRange), v.maxLength(1000)), []),
    /**
     * Sockets from one source (an IPv4 address, an IPv6 /64) that have not completed a request
     * (connected and sent nothing yet, still sending a request's head or body, or idle between
     * keep-alive requests); more from that source are answered `503` `OVERLOADED`
     * (`too_many_pending_sockets`, with `Retry-After`) and closed, so one source cannot hold the
     * descriptors everyone needs. Counted before any header is read, so by the socket's peer even
     * behind `trustedProxies`: raise it there.
     */
    maxPendingSocketsPerSource: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 128),
    /**
     * Time a socket has to send a request's whole head, counted from the connection (or from the end
     * of the previous keep-alive request): a socket that sends nothing, or its headers slowly, is
     * answered `408` and closed. At most `requestTimeoutMs`. Needs a restart.
     */
    headersTimeoutMs: v.optional(ms(100, 600_000), 10_000),
    /**
     * Time a socket has to send a whole request, head and body: a body sent slowly is answered
     * `408` and closed. Answers are not limited by it (a streamed completion runs as long as it
     * runs). Needs a restart.
     */
    requestTimeoutMs: v.optional(ms(100, 3_600_000), 30_000),
    /**
     * Connections the kernel queues for the gateway to accept (the `listen()` backlog; Linux caps it
     * at `net.core.somaxconn`, 4096 by default). When a reconnect storm outruns the gateway, the
     * kernel drops connection attempts beyond it, and clients wait out TCP's SYN retries (1, 3, 7,
     * 15 s…). Node's own default is 511. Needs a restart.
     */
    listenBacklog: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_535)), 4096),
    /** Largest HTTP request body, in bytes. */
    maxBodyBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024)), 1_048_576),
    /**
     * How long calls pending on a node that dropped its connection wait for it to reconnect; they
     * are then sent again with the same id. Past it they fail with `NODE_OFFLINE`. Needs a restart.
     */
    nodeReconnectGraceMs: v.optional(ms(0, 3_600_000), 10_000),
  }),
  {},
);

/** `heartbeat`: the `tick` event interval. Hot-reloaded. */
export const HeartbeatSectionSchema = v.optional(
  v.object({ intervalMs: v.optional(ms(1000, 3_600_000), 15_000) }),
  {},
);

/** `security`: tokens, origins and rate limits. Hot-reloaded. */
export const SecuritySectionSchema = v.optional(
  v.object({
    /** Operator token. Usually `${OPENCLAW_GATEWAY_TOKEN}` or set by that variable. */
    token: v.optional(secret),
    /** Admin token for `config.apply`, `pairing.approve`, `device.revoke`, `binding.*`. */
    adminToken: v.optional(secret),
    /** Browser origins allowed to open a WebSocket (`Origin` header); empty allows non-browser clients only. */
    allowedOrigins: v.optional(v.array(v.pipe(v.string(), v.minLength(1))), []),
    /**
     * Host names (as in the `Host` header, without the port) under which browsers may reach this
     * gateway's control UI and same-origin WebSocket, besides IP addresses and loopback names
     * (`localhost`, `*.localhost`). Guards against DNS rebinding; add the name a reverse proxy uses.
     */
    allowedHosts: v.optional(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(253))), []),
    /** Failed logins (wrong or missing token) tolerated from one address before it is refused for a while. */
    authFailures: v.optional(
      v.object({
        /** Failed logins per minute from one address before its connections are refused. */
        maxPerMinute: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 20),
        /** How long an address is refused once it passed `maxPerMinute`. */
        blockMs: v.optional(ms(1000, 86_400_000), 60_000),
      }),
      {},
    ),
    rateLimit: v.optional(
      v.object({
        /** Requests per second per connection, sustained. */
        requestsPerSecond: v.optional(v.pipe(v.number(), v.minValue(1)), 100),
        /** Extra requests a connection may burst above the rate. */
        burst: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 200),
      }),
      {},
    ),
    pairing: v.optional(
      v.object({
        /**
         * How long a pairing code stays valid; also how long an unauthenticated (pairing) connection
         * may stay open.
         */
        codeTtlMs: v.optional(ms(1000, 3_600_000), 300_000),
        /**
         * Failed approvals or rejections per minute, per principal (token and address), before that
         * principal's attempts are refused for the rest of the minute (brute-force guard).
         */
        maxFailedAttemptsPerMinute: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10),
        /** Pairing requests waiting for approval at once, from all sources. */
        maxPending: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 100),
        /** Pairing requests waiting at once from one address. */
        maxPendingPerSource: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
        /** Unauthenticated (pairing) connections held at once, from all sources; they never use operators' slots. */
        maxConnections: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 64),
        /**
         * `pairing.start` calls per minute one connection may make; more get `RATE_LIMITED`. Keeps
         * one socket from flooding operators with `pairing.requested` events.
         */
        startsPerMinute: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10),
        /** Unauthenticated (pairing) connections held at once from one address. */
        maxConnectionsPerSource: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
      }),
      {},
    ),
  }),
  {},
);

/**
 * `channels.<name>`: one channel. `plugin` names the channel plugin (default: the channel's name),
 * `enabled` switches it off, `agent` names an agent that answers its inbound messages; every other key
 * is the plugin's own settings, validated by the plugin. Only a changed channel restarts.
 */
export const ChannelSectionSchema = v.looseObject({
  plugin: v.optional(channelName),
  enabled: v.optional(v.boolean(), true),
  /** An agent that answers every inbound message of this channel, replying in the same conversation. */
  agent: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
});

/** `channels`: the configured channels by name. */
export const ChannelsSectionSchema = v.optional(v.record(channelName, ChannelSectionSchema), {});

/** `webhooks`: where platform webhooks arrive. Hot-reloaded. */
export const WebhooksSectionSchema = v.optional(
  v.object({
    /** URL path prefix; a channel's webhook is `<basePath>/<channel>`. */
    basePath: v.optional(
      v.pipe(v.string(), v.regex(/^\/[A-Za-z0-9/_-]*$/, "must be a URL path starting with /")),
      "/webhook",
    ),
    /** Largest webhook body, in bytes. */
    maxBodyBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024)), 1_048_576),
    /**
     * Deepest JSON nesting (arrays and objects) a webhook body may have, checked on the raw bytes
     * (and on each field of a form body) before any plugin parses it; deeper is a 400. Real
     * platform payloads nest well under 32 levels.
     * @defaultValue 64
     */
    maxJsonDepth: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)), 64),
  }),
  {},
);

/** One cron job: a task of `type` with `payload`, run on `schedule`. */
export const CronJobSchema = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  /** Cron expression (5 or 6 fields). */
  schedule: v.pipe(v.string(), v.minLength(9), v.maxLength(200)),
  timezone: v.optional(v.pipe(v.string(), v.maxLength(64)), "UTC"),
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  payload: v.optional(v.unknown()),
  enabled: v.optional(v.boolean(), true),
});

/** `cron`: scheduled jobs. Hot-reloaded. */
export const CronSectionSchema = v.optional(
  v.pipe(
    v.array(CronJobSchema),
    v.check((jobs) => new Set(jobs.map((job) => job.id)).size === jobs.length, "cron job ids must be unique"),
  ),
  [],
);

/** One agent: the built-in echo agent, an OpenAI-compatible upstream, or an agent on a node. */
export const AgentSchema = v.variant("provider", [
  v.object({
    provider: v.literal("echo"),
    /** A pause before each word of the answer, in ms (default 0: the whole answer at once); for demos and tests of streaming. */
    delayMs: v.optional(ms(0, 10_000)),
  }),
  v.object({
    provider: v.literal("openai"),
    baseUrl: v.pipe(v.string(), v.url()),
    apiKey: v.optional(v.pipe(v.string(), v.minLength(1))),
    /** The upstream model name (the agent's name is what clients ask for). */
    model: v.pipe(v.string(), v.minLength(1)),
    timeoutMs: v.optional(ms(1000, 3_600_000), 120_000),
  }),
  v.object({
    provider: v.literal("node"),
    /** Node id or display name; omitted → any node advertising `agent.run`. */
    node: v.optional(v.pipe(v.string(), v.minLength(1))),
    timeoutMs: v.optional(ms(1000, 3_600_000), 120_000),
  }),
]);

/** `agents`: agents by name, and the default one. Hot-reloaded. */
export const AgentsSectionSchema = v.optional(
  v.pipe(
    v.object({
      default: v.optional(v.pipe(v.string(), v.minLength(1)), "echo"),
      list: v.optional(v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(128)), AgentSchema), {
        echo: { provider: "echo" },
      }),
    }),
    v.check(
      (agents) => agents.default === "echo" || Object.hasOwn(agents.list, agents.default),
      'agents.default must name an agent in agents.list (or be "echo")',
    ),
  ),
  {},
);

/**
 * `delivery`: the guarantees around messages. Outbound sends go through a persisted queue with
 * retries and a dead-letter list; inbound platform message ids are remembered so that none is
 * emitted twice; side-effecting requests with an `idempotencyKey` are performed once. Hot-reloaded.
 */
export const DeliverySectionSchema = v.optional(
  v.object({
    /** Attempts of one outbound message before it goes to the dead-letter list. */
    maxAttempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 10),
    /** Delay before the second attempt; it doubles with each attempt (a platform's retry-after wins when longer). */
    backoffBaseMs: v.optional(ms(10, 3_600_000), 1000),
    /** Longest delay between two attempts. */
    backoffMaxMs: v.optional(ms(10, 86_400_000), 300_000),
    /** Outbound messages waiting at once; sends beyond it are refused with `RATE_LIMITED`. */
    maxQueued: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10_000),
    /** Dead letters kept; the oldest are dropped (and logged) beyond it. */
    maxDeadLetters: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1000),
    /** How long a request's `idempotencyKey` is remembered. */
    idempotencyWindowMs: v.optional(ms(1000), 86_400_000),
    /** Idempotency keys remembered at most; the oldest are forgotten first. */
    maxIdempotencyKeys: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10_000),
    /** How long an inbound platform message id is remembered for dedupe. */
    inboundDedupeWindowMs: v.optional(ms(1000), 7 * 86_400_000),
    /** Inbound message ids remembered at most; the oldest are forgotten first. */
    maxInboundDedupeIds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 50_000),
  }),
  {},
);

/**
 * `watchdog`: the gateway restarts a channel that has not been `ready` for `restartAfterMs`
 * (a failed start, a connection the plugin gave up on), and again with doubling delays, up to
 * `maxRestartDelayMs`, until it is ready. Hot-reloaded.
 */
export const WatchdogSectionSchema = v.optional(
  v.object({
    /** How often channel states are checked. */
    checkIntervalMs: v.optional(ms(10, 600_000), 5000),
    /** How long a channel may stay connecting, degraded or down before it is restarted. */
    restartAfterMs: v.optional(ms(100, 86_400_000), 60_000),
    /** Longest delay between two restarts of a channel that stays unready. */
    maxRestartDelayMs: v.optional(ms(100, 86_400_000), 600_000),
  }),
  {},
);

/** `logging`: level, and how much unwritten log may wait. Hot-reloaded. */
export const LoggingSectionSchema = v.optional(
  v.object({
    level: v.optional(v.picklist(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
    /**
     * Bytes of log lines that may wait to be written while the log's destination is slow, full or
     * failing (stdout to a file on a full disk, a stalled pipe). Lines beyond it are dropped and
     * counted, never waited for; once the log can be written again one warning says how many
     * ("dropped N log lines while the log could not be written"). Logging never blocks serving or
     * shutdown.
     */
    maxBufferedBytes: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(16 * 1024), v.maxValue(1024 * 1024 * 1024)),
      4 * 1024 * 1024,
    ),
    /**
     * How lines are written: `json` (one JSON object a line, for log collectors), `pretty` (coloured,
     * readable lines with ISO timestamps), or `auto`: pretty when stdout is a terminal, JSON otherwise.
     * The command line's `--log-format` wins. Needs a restart.
     */
    format: v.optional(v.picklist(["auto", "pretty", "json"]), "auto"),
  }),
  {},
);

/** Defaults of the `metrics` section. */
export const METRICS_DEFAULTS = {
  /** `metrics.enabled` */
  enabled: true,
  /** `metrics.bind`, when `metrics.port` is set */
  bind: "127.0.0.1",
  /** `metrics.auth` */
  auth: "token",
} as const;

/**
 * `metrics`: `GET /metrics` in the Prometheus text format. Served on the gateway's port behind the
 * gateway (or admin) token by default, or on a listener of its own (`port`, `bind`). `auth` is
 * hot-reloaded; `enabled`, `bind` and `port` need a restart.
 */
export const MetricsSectionSchema = v.optional(
  v.object({
    /** Count, and serve `/metrics`. Off: nothing is counted and `/metrics` answers 404. @defaultValue true */
    enabled: v.optional(v.boolean(), METRICS_DEFAULTS.enabled),
    /**
     * A port of its own for `/metrics` (`0` picks a free one); the gateway's port then answers 404
     * for it. @defaultValue none: the gateway's port
     */
    port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65_535))),
    /** The address of that port's listener. @defaultValue "127.0.0.1" */
    bind: v.optional(v.pipe(v.string(), v.minLength(1)), METRICS_DEFAULTS.bind),
    /**
     * `token`: a scrape needs `Authorization: Bearer <gateway or admin token>` (401 without). `none`:
     * anyone who reaches the listener may scrape (only for a `port` of its own on a private address).
     * @defaultValue "token"
     */
    auth: v.optional(v.picklist(["token", "none"]), METRICS_DEFAULTS.auth),
  }),
  {},
);

/** Defaults of the `telemetry` section. */
export const TELEMETRY_DEFAULTS = {
  /** `telemetry.otlp.samplingRatio`: every trace is kept */
  samplingRatio: 1,
} as const;

/**
 * `telemetry`: OpenTelemetry traces. With `otlp.endpoint` set (or the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables), the gateway loads
 * the OpenTelemetry SDK and exports its spans over OTLP/HTTP; without either, the SDK is never
 * loaded and spans cost nothing. Needs a restart.
 */
export const TelemetrySectionSchema = v.optional(
  v.object({
    /** Export traces over OTLP/HTTP (JSON). @defaultValue none: no export, unless the `OTEL_*` variables ask for it */
    otlp: v.optional(
      v.object({
        /**
         * The collector's base URL (`http://collector:4318`; traces go to `<endpoint>/v1/traces`), or,
         * ending in `/v1/traces`, the traces URL itself. @defaultValue `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
         * else `OTEL_EXPORTER_OTLP_ENDPOINT`
         */
        endpoint: v.optional(v.pipe(v.string(), v.url())),
        /**
         * Headers sent with every export (an API key of a hosted collector: write it as `${ENV}`).
         * @defaultValue `OTEL_EXPORTER_OTLP_HEADERS`
         */
        headers: v.optional(v.record(v.string(), v.string())),
        /**
         * The share of traces started here that are kept (0 to 1); a trace started by a caller that
         * sent a sampled `traceparent` follows the caller's choice. @defaultValue 1
         */
        samplingRatio: v.optional(
          v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
          TELEMETRY_DEFAULTS.samplingRatio,
        ),
      }),
    ),
  }),
  {},
);

/** `state`: where persistent state lives. Changing it needs a restart. */
export const StateSectionSchema = v.optional(
  v.object({
    /** Directory for devices, bindings, tasks and conversation history. */
    dir: v.optional(v.pipe(v.string(), v.minLength(1)), ".openclaw-state"),
    /**
     * Messages kept per conversation.
     * @deprecated Use `conversations.maxMessagesPerConversation`, which wins when both are set.
     */
    historyLimit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000)), 200),
  }),
  {},
);

/**
 * `conversations`: how much history the gateway keeps (in memory and in its journal). The oldest
 * messages go first when any bound is reached. Hot-reloaded.
 */
export const ConversationsSectionSchema = v.optional(
  v.object({
    /** Conversations kept; the least recently updated one is dropped beyond it. */
    maxConversations: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000_000)),
      10_000,
    ),
    /** Messages kept per conversation (default: `state.historyLimit`, 200). */
    maxMessagesPerConversation: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000)),
    ),
    /**
     * Bytes of message history kept in all (measured as the messages' JSON): the most recent
     * messages across every conversation, up to this much, are kept; older ones are dropped. This
     * is what bounds the gateway's memory under a flood of inbound messages.
     */
    maxBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(65_536)), 32 * 1024 * 1024),
  }),
  {},
);

/** Defaults of the `openai` section. */
export const OPENAI_DEFAULTS = {
  /** `openai.responses.maxStored` */
  responsesMaxStored: 1000,
  /** `openai.responses.ttlMs` */
  responsesTtlMs: 3_600_000,
  /** `openai.responses.maxStoredBytes` (64 MiB) */
  responsesMaxStoredBytes: 67_108_864,
  /** `openai.responses.maxStoredBytesPerPrincipal` (16 MiB) */
  responsesMaxStoredBytesPerPrincipal: 16_777_216,
  /** `openai.responses.maxExpandedInputChars` (4 Mi) */
  responsesMaxExpandedInputChars: 4_194_304,
} as const;

/**
 * `openai`: the OpenAI-compatible API under `/v1`. Hot-reloaded (limits apply to responses stored
 * from then on; the oldest beyond a lowered `maxStored` are dropped at the next store).
 */
export const OpenAiSectionSchema = v.optional(
  v.object({
    /** `POST /v1/responses`: stored responses, for `GET /v1/responses/{id}` and `previous_response_id`. */
    responses: v.optional(
      v.object({
        /**
         * Responses kept in memory (with the conversation that led to each); the oldest is dropped
         * beyond it. `0` stores none.
         * @defaultValue 1000
         */
        maxStored: v.optional(
          v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000_000)),
          OPENAI_DEFAULTS.responsesMaxStored,
        ),
        /**
         * How long a stored response is kept after it was created.
         * @defaultValue 3600000 (one hour)
         */
        ttlMs: v.optional(ms(1000, 30 * 86_400_000), OPENAI_DEFAULTS.responsesTtlMs),
        /**
         * Bytes of stored responses kept, all tokens together (the UTF-8 size of each response and
         * its conversation as JSON); the oldest are dropped beyond it. A response larger than this
         * (or than `maxStoredBytesPerPrincipal`) is not stored and answers `store: false`.
         * @defaultValue 67108864 (64 MiB)
         */
        maxStoredBytes: v.optional(
          v.pipe(v.number(), v.integer(), v.minValue(0)),
          OPENAI_DEFAULTS.responsesMaxStoredBytes,
        ),
        /**
         * Bytes of stored responses kept per token (responses belong to the token that made them;
         * another token cannot read or chain them); that token's oldest are dropped beyond it.
         * @defaultValue 16777216 (16 MiB)
         */
        maxStoredBytesPerPrincipal: v.optional(
          v.pipe(v.number(), v.integer(), v.minValue(0)),
          OPENAI_DEFAULTS.responsesMaxStoredBytesPerPrincipal,
        ),
        /**
         * Characters a request's input may come to once `previous_response_id` (the stored
         * conversation) and `item_reference` items (each time referenced) are expanded, with
         * `instructions`; beyond it the request gets a 400 `input_too_large` (param `input`).
         * @defaultValue 4194304 (4 Mi)
         */
        maxExpandedInputChars: v.optional(
          v.pipe(v.number(), v.integer(), v.minValue(1)),
          OPENAI_DEFAULTS.responsesMaxExpandedInputChars,
        ),
      }),
      {},
    ),
  }),
  {},
);

/** Defaults of the `cluster` section. */
export const CLUSTER_DEFAULTS = {
  /** `cluster.namespace` */
  namespace: "openclaw",
  /** `cluster.leaseTtlMs` */
  leaseTtlMs: 10_000,
  /** `cluster.instanceTtlMs` */
  instanceTtlMs: 5_000,
} as const;

/**
 * `cluster`: several gateway instances sharing one Redis behave as one gateway (events, nodes,
 * state, channels, deliveries and jobs are shared). Absent: one process on its state dir, no Redis.
 * Also set by `OPENCLAW_REDIS_URL`. Changing it needs a restart.
 */
export const ClusterSectionSchema = v.optional(
  v.object({
    /** The Redis server, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS; credentials in the URL). */
    redisUrl: v.pipe(v.string(), v.regex(/^rediss?:\/\/./, "must be a redis:// or rediss:// URL")),
    /**
     * This instance's id, unique in the cluster; it names the instance in logs, `system.status`
     * and Redis.
     * @defaultValue the host name and process id
     */
    instanceId: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128), v.regex(/^[^\s|]+$/))),
    /**
     * Instances share only within one namespace (keys `openclaw:<namespace>:…`), so several
     * clusters may share a Redis.
     * @defaultValue "openclaw"
     */
    namespace: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/)), CLUSTER_DEFAULTS.namespace),
    /**
     * How long a channel's connection or queue stays with an instance that stopped renewing it:
     * the longest a channel is down when its instance dies.
     * @defaultValue 10000
     */
    leaseTtlMs: v.optional(ms(1000, 600_000), CLUSTER_DEFAULTS.leaseTtlMs),
    /**
     * How long an instance that stopped sending heartbeats counts as alive: after it, its node
     * calls fail over and its work is taken over.
     * @defaultValue 5000
     */
    instanceTtlMs: v.optional(ms(1000, 600_000), CLUSTER_DEFAULTS.instanceTtlMs),
  }),
);

/** The whole of `openclaw.json`. Every section is optional; `{}` is a complete, valid config. */
export const ConfigSchema = v.object({
  /** Editors use it to find the JSON Schema; ignored by the gateway. */
  $schema: v.optional(v.string()),
  gateway: GatewaySectionSchema,
  heartbeat: HeartbeatSectionSchema,
  security: SecuritySectionSchema,
  channels: ChannelsSectionSchema,
  webhooks: WebhooksSectionSchema,
  cron: CronSectionSchema,
  agents: AgentsSectionSchema,
  delivery: DeliverySectionSchema,
  watchdog: WatchdogSectionSchema,
  logging: LoggingSectionSchema,
  metrics: MetricsSectionSchema,
  telemetry: TelemetrySectionSchema,
  state: StateSectionSchema,
  openai: OpenAiSectionSchema,
  conversations: ConversationsSectionSchema,
  cluster: ClusterSectionSchema,
});

/** A validated config with every default filled in. */
export type Config = v.InferOutput<typeof ConfigSchema>;
/** What may be written in `openclaw.json`. */
export type ConfigInput = v.InferInput<typeof ConfigSchema>;
/** One channel's settings. */
export type ChannelConfig = v.InferOutput<typeof ChannelSectionSchema>;
/** One cron job. */
export type CronJob = v.InferOutput<typeof CronJobSchema>;
/** The `delivery` section. */
export type DeliveryConfig = v.InferOutput<typeof DeliverySectionSchema>;
/** The `conversations` section, with defaults filled in. */
export type ConversationsConfig = v.InferOutput<typeof ConversationsSectionSchema>;
/** The `metrics` section, with defaults filled in. */
export type MetricsConfig = v.InferOutput<typeof MetricsSectionSchema>;
/** The `telemetry` section, with defaults filled in. */
export type TelemetryConfig = v.InferOutput<typeof TelemetrySectionSchema>;
/** The `cluster` section, with defaults filled in. */
export type ClusterConfig = NonNullable<v.InferOutput<typeof ClusterSectionSchema>>;
/** One agent. */
export type AgentConfig = v.InferOutput<typeof AgentSchema>;
