import * as v from "valibot";
import { MAX_ID_LENGTH } from "../constants";
import { ChannelNameSchema, ClientInfoSchema, DurationMsSchema, IdSchema, TimestampSchema } from "./common";

/** The two connection roles: operators (CLI, Web UI, services) and nodes (devices that execute commands). */
export const RoleSchema = v.picklist(["operator", "node"]);

/**
 * Permission scopes granted at `connect`. Operator tokens get `operator.read` and `operator.write`;
 * the admin token adds `operator.admin`; device tokens get `node`; an unauthenticated node
 * connection gets only `pairing`.
 */
export const ScopeSchema = v.picklist([
  "operator.read",
  "operator.write",
  "operator.admin",
  "node",
  "pairing",
]);

const TokenSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(1024));

/** `connect` params: the handshake, always the first frame a client sends. */
export const ConnectParamsSchema = v.object({
  /** Gateway token (operators). May also arrive as `Authorization: Bearer` on the upgrade. */
  token: v.optional(TokenSchema),
  /** Per-device token issued by pairing (nodes). */
  deviceToken: v.optional(TokenSchema),
  role: RoleSchema,
  client: ClientInfoSchema,
  /** The protocol version the client speaks. */
  protocol: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)),
  /** Commands a node can execute (e.g. `agent.run`, `camera.snap`). */
  capabilities: v.optional(
    v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(128))), v.maxLength(256)),
  ),
  /** A node's stable id; required for paired nodes, chosen by the device at pairing. */
  nodeId: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ID_LENGTH))),
  /** A human name for a node ("Ana's phone"). */
  displayName: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
});

/** `connect` result: what was negotiated and what the server offers. */
export const ConnectResultSchema = v.object({
  protocol: v.pipe(v.number(), v.integer()),
  server: v.object({ name: v.string(), version: v.string() }),
  connectionId: IdSchema,
  role: RoleSchema,
  scopes: v.array(ScopeSchema),
  methods: v.array(v.string()),
  events: v.array(v.string()),
  /** The server sends a `tick` event this often; no frame for 2.5× this means the link is dead. */
  heartbeatMs: DurationMsSchema,
  limits: v.object({ maxFrameBytes: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  /** For nodes: the id the node is registered under. */
  nodeId: v.optional(IdSchema),
});

/** `ping` params: an optional client timestamp echoed back. */
export const PingParamsSchema = v.optional(v.object({ ts: v.optional(TimestampSchema) }), {});

/** `ping` result. */
export const PingResultSchema = v.object({
  /** Server time. */
  ts: TimestampSchema,
  /** The client's `ts`, when it sent one. */
  echo: v.optional(TimestampSchema),
});

/**
 * A channel's health. `standby` (cluster mode): the channel runs on another instance, under a lease
 * this instance takes over when that instance dies.
 */
export const ChannelStateSchema = v.picklist([
  "stopped",
  "connecting",
  "ready",
  "degraded",
  "down",
  "standby",
]);

/** What a channel supports. */
export const ChannelCapabilitySchema = v.picklist([
  "text",
  "markdown",
  "media",
  "edit",
  "delete",
  "reactions",
  "threads",
  "typing",
  "buttons",
]);

/** One channel's status. */
export const ChannelStatusSchema = v.object({
  name: ChannelNameSchema,
  /** The plugin implementing it, e.g. `telegram`. */
  plugin: v.string(),
  state: ChannelStateSchema,
  /**
   * Cluster mode, a channel that runs on one instance at a time: the instance running it (this one,
   * or, in state `standby`, the holder of its lease when known).
   */
  instance: v.optional(v.string()),
  /** When the channel entered its current state. */
  since: TimestampSchema,
  capabilities: v.array(ChannelCapabilitySchema),
  lastError: v.optional(v.object({ code: v.string(), message: v.string(), at: TimestampSchema })),
  /** Plugin-specific facts (bot username, poll lag, …). No secrets. */
  details: v.optional(v.record(v.string(), v.unknown())),
});

/** `system.status` result. */
export const SystemStatusResultSchema = v.object({
  server: v.object({ name: v.string(), version: v.string() }),
  protocol: v.number(),
  startedAt: TimestampSchema,
  uptimeMs: v.number(),
  /** Ready connections: operators, paired nodes, and devices connected to be paired (`pairing`, not nodes). */
  connections: v.object({
    total: v.number(),
    operators: v.number(),
    nodes: v.number(),
    /** Devices connected unauthenticated to pair (absent from older gateways). */
    pairing: v.optional(v.number()),
    /**
     * WebSocket connections this instance accepts at once (`gateway.maxConnections`, or what the
     * descriptor limit allows); beyond it clients get 503 `too_many_connections`. Absent from older
     * gateways.
     */
    max: v.optional(v.number()),
    /**
     * Clients refused at that cap since it was last reached (0 while below it): upgrades answered
     * 503, and sockets closed as they were accepted because every descriptor for clients was taken.
     * Absent from older gateways.
     */
    refusedAtCap: v.optional(v.number()),
  }),
  channels: v.array(
    v.object({ name: ChannelNameSchema, state: ChannelStateSchema, instance: v.optional(v.string()) }),
  ),
  nodes: v.number(),
  tasks: v.object({ scheduled: v.number(), running: v.number() }),
  /**
   * In cluster mode: this instance, the link's state (`degraded` while Redis cannot be reached) and
   * the instances seen alive.
   */
  cluster: v.optional(
    v.object({
      instanceId: v.string(),
      state: v.picklist(["ready", "degraded"]),
      instances: v.array(v.string()),
      reason: v.optional(v.string()),
    }),
  ),
});

/**
 * A latency histogram of `system.metrics`: cumulative counts per upper bound (seconds), the last
 * one for `+Inf`, as Prometheus keeps them.
 */
export const MetricsHistogramSchema = v.object({
  /** Upper bounds of the buckets, in seconds, ascending (`+Inf` not listed). */
  bounds: v.array(v.number()),
  /** Cumulative counts: one per bound, then the `+Inf` bucket (the total). */
  counts: v.array(v.number()),
  /** Values observed. */
  count: v.number(),
  /** Sum of the values, in seconds. */
  sum: v.number(),
});

/**
 * `system.metrics` result: a compact summary of the gateway's Prometheus metrics (the same
 * registry as `/metrics`), counters as totals since start. Rates and percentiles come from two
 * successive samples (see `metricsFigures`).
 */
export const SystemMetricsResultSchema = v.object({
  /** When the sample was taken (server clock). */
  ts: TimestampSchema,
  /** Cluster mode: the instance that answered. */
  instance: v.optional(v.string()),
  /** Open WebSocket connections by role (`handshaking`: no `connect` yet). */
  connections: v.record(v.string(), v.number()),
  /** WebSocket frames received from and sent to clients. */
  frames: v.object({ in: v.number(), out: v.number() }),
  /** Channel messages: received from platforms, sent to them, and sends that failed. */
  messages: v.object({ in: v.number(), out: v.number(), failed: v.number() }),
  /** WebSocket request latency, every method and outcome together. */
  requests: MetricsHistogramSchema,
  /** Agent run latency, every agent and outcome together. */
  agentRuns: MetricsHistogramSchema,
  /** The outbound delivery queue. */
  delivery: v.object({
    /** Messages waiting to be sent. */
    depth: v.number(),
    /** Age of the oldest waiting message, in seconds (0: none waits). */
    oldestAgeSeconds: v.number(),
    /** Messages given up on (dead letters kept). */
    deadLetters: v.number(),
  }),
});

/** `channel.list` result. */
export const ChannelListResultSchema = v.object({
  channels: v.array(
    v.object({
      name: ChannelNameSchema,
      plugin: v.string(),
      state: ChannelStateSchema,
      capabilities: v.array(ChannelCapabilitySchema),
    }),
  ),
});

/** `channel.status` params: one channel, or all when omitted. */
export const ChannelStatusParamsSchema = v.optional(v.object({ channel: v.optional(ChannelNameSchema) }), {});

/** `channel.status` result. */
export const ChannelStatusResultSchema = v.object({ channels: v.array(ChannelStatusSchema) });

/** `tick` event payload: the heartbeat. */
export const TickEventSchema = v.object({ ts: TimestampSchema });

/** A latency histogram of `system.metrics`. */
export type MetricsHistogram = v.InferOutput<typeof MetricsHistogramSchema>;
/** `system.metrics` result. */
export type SystemMetrics = v.InferOutput<typeof SystemMetricsResultSchema>;
/** A connection role. */
export type Role = v.InferOutput<typeof RoleSchema>;
/** A permission scope. */
export type Scope = v.InferOutput<typeof ScopeSchema>;
/** `connect` params. */
export type ConnectParams = v.InferOutput<typeof ConnectParamsSchema>;
/** `connect` result. */
export type ConnectResult = v.InferOutput<typeof ConnectResultSchema>;
/** A channel's health state. */
export type ChannelState = v.InferOutput<typeof ChannelStateSchema>;
/** A channel capability. */
export type ChannelCapability = v.InferOutput<typeof ChannelCapabilitySchema>;
/** One channel's status. */
export type ChannelStatus = v.InferOutput<typeof ChannelStatusSchema>;
