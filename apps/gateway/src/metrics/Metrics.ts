import { performance } from "node:perf_hooks";
import type {
  ClusterHealth,
  ClusterNode,
  Lease,
  LeaseProvider,
  NodeCallOptions,
  NodeHost,
  OutboundQueue,
  RemoteNodes,
} from "@openclaw/backend";
import { isMethodName, type MetricsHistogram, type SystemMetrics } from "@openclaw/protocol";
import type { TaskQueue } from "@openclaw/task-queue";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type ChatTurn, countTokens } from "../agents";

/** Every family of the gateway's own is named `openclaw_…`; prom-client's process metrics keep theirs. */
export const METRICS_PREFIX = "openclaw_";

/**
 * Distinct values one label of one family may take (channel, agent, lease, task type, refusal
 * reason); later values are counted under `"other"`, so a series count never grows with use.
 * @defaultValue 100
 */
export const MAX_LABEL_VALUES = 100;

/** Buckets (seconds) of the latency histograms: requests, agent runs, node calls. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** The counters a connection bumps on its hot path: plain numbers, read at scrape time. */
export interface ConnectionCounters {
  /** Frames sent to clients (responses, errors and events). */
  framesOut: number;
  /** Broadcast event frames delivered to a client. */
  eventDeliveries: number;
  /** Clients closed for reading too slowly (1008, slow consumer). */
  slowConsumerCloses: number;
}

/** Options of a {@link Metrics}. */
export interface MetricsOptions {
  /**
   * The `instance` label on every series (cluster mode: the instance id), so that the series of
   * several instances stay apart. @defaultValue none (a single gateway)
   */
  instance?: string | undefined;
  /**
   * Also serve prom-client's process metrics (CPU, memory, heap, event-loop delay, GC). They are
   * collected once per process, in a registry every gateway of the process shares (the event-loop
   * and GC monitors cannot be stopped: one set, not one per gateway). @defaultValue true
   */
  processMetrics?: boolean;
}

/** What the gateway reads at scrape time (set by {@link Metrics.observe}). */
export interface MetricsSources {
  /** The open connections: counted by role (`handshaking` before `connect`). */
  connections?: () => Iterable<{ readonly role: string | undefined }>;
  /** The outbound delivery queue, once running: its depth, oldest message and dead letters. */
  deliveries?: () => OutboundQueue | undefined;
  /** The cluster link's health, in cluster mode. */
  cluster?: ClusterHealth | undefined;
}

/**
 * The gateway's Prometheus metrics: one prom-client {@link Registry} per gateway (never the global
 * one, so two gateways in one process keep their own), and the calls the gateway's parts make to
 * count. Hot paths (frames, broadcasts) bump plain numbers that are read at scrape time; every other
 * count goes to a label child made once. No label takes user, chat, conversation or message ids:
 * methods outside the catalogue are `"other"`, and any other label is capped at
 * {@link MAX_LABEL_VALUES} values.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * metrics.observe({ connections: () => hub.values() });
 * const text = await metrics.registry.metrics(); // the Prometheus text format
 * ```
 */
export class Metrics implements ConnectionCounters {
  /** The gateway's own families (`/metrics` serves them with the process metrics). */
  readonly registry = new Registry();
  framesOut = 0;
  eventDeliveries = 0;
  slowConsumerCloses = 0;
  /** Frames received from clients. */
  framesIn = 0;
  #sources: MetricsSources = {};
  readonly #instance: string | undefined;
  readonly #processMetrics: boolean;
  #clusterFamilies = false;
  readonly #broadcasts = new Map<string, number>();
  readonly #labelValues = new Map<string, Set<string>>();
  /** Request histogram children by method label (a catalogue method, or `other`), then code. */
  readonly #requestChildren = new Map<string, Map<string, HistogramChild>>();
  readonly #refusals: Counter<"stage" | "reason">;
  readonly #handshakes: Counter<"role">;
  readonly #requests: FastHistogram;
  readonly #webhooks: Counter<"channel" | "status">;
  readonly #inbound: Counter<"channel">;
  readonly #sends: Counter<"channel" | "outcome">;
  readonly #agentRuns: Histogram<"agent" | "outcome">;
  readonly #firstToken: Histogram<"agent">;
  readonly #agentTokens: Counter<"agent" | "kind">;
  readonly #tasks: Counter<"type" | "outcome">;
  readonly #reloads: Counter<"result">;
  readonly #leases: Counter<"lease" | "change">;
  readonly #nodeCalls: Histogram<"where" | "code">;

  /** @param options - See {@link MetricsOptions}. */
  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#instance = options.instance;
    if (options.instance !== undefined) this.registry.setDefaultLabels({ instance: options.instance });
    this.#processMetrics = options.processMetrics ?? true;
    const name = (suffix: string) => `${METRICS_PREFIX}${suffix}`;
    const self = this;
    new Gauge({
      name: name("connections"),
      help: "Open WebSocket connections by role (handshaking: no connect yet).",
      labelNames: ["role"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const connection of self.#sources.connections?.() ?? []) {
          const role = connection.role ?? "handshaking";
          counts.set(role, (counts.get(role) ?? 0) + 1);
        }
        for (const [role, count] of counts) this.set({ role }, count);
      },
    });
    this.#handshakes = new Counter({
      name: name("handshakes_total"),
      help: "Completed handshakes (connect answered hello) by role.",
      labelNames: ["role"],
      registers,
    });
    this.#refusals = new Counter({
      name: name("refusals_total"),
      help: "Connections refused, at the upgrade or the connect handshake, by reason.",
      labelNames: ["stage", "reason"],
      registers,
    });
    const hot = (field: "framesIn" | "framesOut" | "eventDeliveries" | "slowConsumerCloses", help: string) =>
      new Counter({
        name: name(
          {
            framesIn: "frames_received_total",
            framesOut: "frames_sent_total",
            eventDeliveries: "event_deliveries_total",
            slowConsumerCloses: "slow_consumer_closes_total",
          }[field],
        ),
        help,
        registers,
        collect() {
          this.reset();
          this.inc(self[field]);
        },
      });
    hot("framesIn", "WebSocket frames received from clients.");
    hot("framesOut", "WebSocket frames sent to clients (responses, errors, events).");
    hot("eventDeliveries", "Broadcast event frames delivered to clients.");
    hot("slowConsumerCloses", "Clients closed (1008) for not reading what they were sent.");
    new Counter({
      name: name("events_broadcast_total"),
      help: "Events broadcast, by event.",
      labelNames: ["event"],
      registers,
      collect() {
        this.reset();
        for (const [event, count] of self.#broadcasts) this.inc({ event }, count);
      },
    });
    this.#requests = new FastHistogram(
      name("request_duration_seconds"),
      "WebSocket requests by method and outcome code (OK or the error code), in seconds.",
      LATENCY_BUCKETS,
    );
    this.registry.registerMetric(this.#requests as unknown as Parameters<Registry["registerMetric"]>[0]);
    this.#webhooks = new Counter({
      name: name("webhook_requests_total"),
      help: "Webhook requests by channel and HTTP status.",
      labelNames: ["channel", "status"],
      registers,
    });
    this.#inbound = new Counter({
      name: name("inbound_messages_total"),
      help: "Messages channels received from their platforms, by channel (repeats included).",
      labelNames: ["channel"],
      registers,
    });
    this.#sends = new Counter({
      name: name("channel_sends_total"),
      help: "Attempts to send a message to a platform, by channel and outcome (sent, or the error code).",
      labelNames: ["channel", "outcome"],
      registers,
    });
    const queueGauge = (suffix: string, help: string, read: (queue: OutboundQueue) => Promise<number>) =>
      new Gauge({
        name: name(suffix),
        help,
        registers,
        async collect() {
          const queue = self.#queue();
          this.set(queue === undefined ? 0 : await read(queue).catch(() => 0));
        },
      });
    queueGauge("delivery_queue_depth", "Outbound messages waiting to be sent.", async (queue) => {
      return (await queue.counts()).pending;
    });
    queueGauge(
      "delivery_dead_letters",
      "Outbound messages given up on (dead letters kept).",
      async (queue) => {
        return (await queue.counts()).dead;
      },
    );
    queueGauge(
      "delivery_queue_oldest_age_seconds",
      "Age of the oldest outbound message still waiting, in seconds (0: none waits).",
      async (queue) => {
        const [oldest] = await queue.list({ status: "pending", limit: 1 });
        return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.createdAt) / 1000);
      },
    );
    this.#agentRuns = new Histogram({
      name: name("agent_run_duration_seconds"),
      help: "Agent runs by agent and outcome (ok, cancelled, or the error code), in seconds.",
      labelNames: ["agent", "outcome"],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#firstToken = new Histogram({
      name: name("agent_first_token_seconds"),
      help: "Time from the start of an agent run to its first output, in seconds.",
      labelNames: ["agent"],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#agentTokens = new Counter({
      name: name("agent_tokens_total"),
      help: "Tokens of agent runs by agent and kind (prompt, completion), counted by the gateway (words).",
      labelNames: ["agent", "kind"],
      registers,
    });
    this.#tasks = new Counter({
      name: name("task_runs_total"),
      help: "Task runs that ended, by type and outcome (completed, failed, cancelled).",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.#reloads = new Counter({
      name: name("config_reloads_total"),
      help: "Config file changes by result (applied, invalid).",
      labelNames: ["result"],
      registers,
    });
    this.#leases = new Counter({
      name: name("lease_changes_total"),
      help: "Channel leases (cluster mode) this instance acquired, lost or released, by lease.",
      labelNames: ["lease", "change"],
      registers,
    });
    this.#nodeCalls = new Histogram({
      name: name("node_call_duration_seconds"),
      help: "Calls to nodes by where the node is (local, or remote: on another instance) and outcome code.",
      labelNames: ["where", "code"],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
  }

  /** Sets what is read at scrape time. */
  observe(sources: MetricsSources): void {
    this.#sources = { ...this.#sources, ...sources };
    if (sources.cluster !== undefined && !this.#clusterFamilies) {
      this.#clusterFamilies = true;
      this.#registerClusterFamilies();
    }
  }

  /** The cluster link's gauges: only in cluster mode (a single gateway has no link to report). */
  #registerClusterFamilies(): void {
    const registers = [this.registry];
    const self = this;
    new Gauge({
      name: `${METRICS_PREFIX}cluster_healthy`,
      help: "1 while this instance's link to the cluster (Redis) is ready, 0 while degraded.",
      registers,
      collect() {
        const cluster = self.#sources.cluster;
        if (cluster !== undefined) this.set(cluster.health().state === "ready" ? 1 : 0);
      },
    });
    new Gauge({
      name: `${METRICS_PREFIX}cluster_instances`,
      help: "Gateway instances this instance sees alive in the cluster.",
      registers,
      collect() {
        const cluster = self.#sources.cluster;
        if (cluster !== undefined) this.set(cluster.health().instances.length);
      },
    });
  }

  /** The Prometheus text format of every family, the process metrics' included. */
  text(): Promise<string> {
    if (!this.#processMetrics) return this.registry.metrics();
    const merged = Registry.merge([this.registry, processRegistry()]);
    if (this.#instance !== undefined) merged.setDefaultLabels({ instance: this.#instance });
    return merged.metrics();
  }

  /**
   * The compact summary `system.metrics` answers: the same counts as {@link Metrics.text}'s, with
   * the request and agent-run histograms summed over their labels.
   */
  async summary(): Promise<SystemMetrics> {
    const connections: Record<string, number> = {};
    for (const connection of this.#sources.connections?.() ?? []) {
      const role = connection.role ?? "handshaking";
      connections[role] = (connections[role] ?? 0) + 1;
    }
    let messagesOut = 0;
    let failed = 0;
    for (const { labels, value } of (await this.#sends.get()).values) {
      if (labels.outcome === "sent") messagesOut += value;
      else failed += value;
    }
    const messagesIn = (await this.#inbound.get()).values.reduce((sum, { value }) => sum + value, 0);
    const queue = this.#queue();
    const [counts, oldest] =
      queue === undefined
        ? [undefined, undefined]
        : await Promise.all([
            Promise.resolve()
              .then(() => queue.counts())
              .catch(() => undefined),
            Promise.resolve()
              .then(() => queue.list({ status: "pending", limit: 1 }))
              .then((list) => list[0])
              .catch(() => undefined),
          ]);
    const ts = Date.now();
    return {
      ts,
      ...(this.#instance === undefined ? {} : { instance: this.#instance }),
      connections,
      frames: { in: this.framesIn, out: this.framesOut },
      messages: { in: messagesIn, out: messagesOut, failed },
      requests: this.#requests.summary(),
      agentRuns: summed((await this.#agentRuns.get()).values),
      delivery: {
        depth: counts?.pending ?? 0,
        oldestAgeSeconds: oldest === undefined ? 0 : Math.max(0, (ts - oldest.createdAt) / 1000),
        deadLetters: counts?.dead ?? 0,
      },
    };
  }

  /** Counts a refusal: `upgrade` (answered before the WebSocket opened) or `handshake` (at `connect`). */
  refused(stage: "upgrade" | "handshake", reason: unknown): void {
    this.#refusals.inc({
      stage,
      reason: this.#bounded("reason", typeof reason === "string" ? reason : "other"),
    });
  }

  /** Counts a completed handshake. */
  handshake(role: string | undefined): void {
    this.#handshakes.inc({ role: role ?? "unknown" });
  }

  /**
   * Records a request's latency.
   *
   * @param method - The frame's method (outside the catalogue: counted as `"other"`).
   * @param code - `"OK"` or the error code answered.
   * @param startedAt - `performance.now()` when the request arrived.
   */
  request(method: string, code: string, startedAt: number): void {
    // Children by method, then code: two map lookups, no string built per request.
    let byCode = this.#requestChildren.get(method);
    if (byCode === undefined) {
      const label = isMethodName(method) ? method : "other";
      byCode = this.#requestChildren.get(label) ?? new Map();
      this.#requestChildren.set(label, byCode);
    }
    let child = byCode.get(code);
    if (child === undefined) {
      child = this.#requests.child({ method: isMethodName(method) ? method : "other", code });
      byCode.set(code, child);
    }
    child.observe((performance.now() - startedAt) / 1000);
  }

  /** Counts the events of a broadcast (event names come from the catalogue). */
  broadcast(event: string): void {
    this.#broadcasts.set(event, (this.#broadcasts.get(event) ?? 0) + 1);
  }

  /**
   * Counts a webhook request by its status once its response is sent.
   *
   * @param response - The response (its `statusCode` is read when it finishes).
   * @param channel - The channel; an unconfigured one is counted as `"unknown"`.
   */
  webhook(
    response: { statusCode: number; once(event: "finish", listener: () => void): unknown },
    channel: string,
  ): void {
    const label = this.#bounded("channel", channel);
    response.once("finish", () =>
      this.#webhooks.inc({ channel: label, status: String(response.statusCode) }),
    );
  }

  /** Counts a message a channel received. */
  inbound(channel: string): void {
    this.#inbound.inc({ channel: this.#bounded("channel", channel) });
  }

  /**
   * Counts an attempt to send to a platform by its outcome, and passes it through.
   *
   * @param channel - The channel.
   * @param attempt - The plugin's send.
   * @returns `attempt`.
   */
  send<T>(channel: string, attempt: Promise<T>): Promise<T> {
    const label = this.#bounded("channel", channel);
    attempt.then(
      () => this.#sends.inc({ channel: label, outcome: "sent" }),
      (error: unknown) => this.#sends.inc({ channel: label, outcome: errorCode(error) }),
    );
    return attempt;
  }

  /**
   * Wraps an agent run's output to record its latency, first-output latency, outcome and tokens.
   *
   * @param agent - The agent's name (a configured one, or `echo`).
   * @param turns - The conversation it answers (its prompt tokens).
   * @param run - The run's output.
   * @returns The same output, counted.
   */
  async *agentRun(
    agent: string,
    turns: readonly ChatTurn[],
    run: AsyncIterable<string>,
  ): AsyncGenerator<string> {
    const label = this.#bounded("agent", agent);
    const startedAt = performance.now();
    let outcome = "cancelled";
    let first = true;
    let tokens = 0;
    let inWord = false;
    try {
      for await (const delta of run) {
        if (first && delta !== "") {
          first = false;
          this.#firstToken.observe({ agent: label }, (performance.now() - startedAt) / 1000);
        }
        // Words across deltas: a word split between two deltas is one.
        if (delta !== "") {
          tokens += countTokens(delta) - (inWord && !/^\s/.test(delta) ? 1 : 0);
          inWord = !/\s$/.test(delta);
        }
        yield delta;
      }
      outcome = "ok";
    } catch (error) {
      outcome = errorCode(error);
      throw error;
    } finally {
      this.#agentRuns.observe({ agent: label, outcome }, (performance.now() - startedAt) / 1000);
      const prompt = turns.reduce((sum, turn) => sum + countTokens(turn.content), 0);
      this.#agentTokens.inc({ agent: label, kind: "prompt" }, prompt);
      this.#agentTokens.inc({ agent: label, kind: "completion" }, Math.max(0, tokens));
    }
  }

  /**
   * Records an agent run measured by its caller: a `/v1` request, whose output is OpenAI's chunks
   * or an upstream's own bytes (see `meteredAgent`).
   *
   * @param agent - The agent's name (the request's `model`, one the gateway knows).
   * @param outcome - `ok`, `cancelled`, or the error's code.
   * @param seconds - How long the run took.
   * @param firstOutputSeconds - When its first output came (streams only).
   * @param tokens - Its usage, when the agent or upstream reported one.
   */
  agentRunEnded(
    agent: string,
    outcome: string,
    seconds: number,
    firstOutputSeconds?: number,
    tokens?: { prompt: number; completion: number },
  ): void {
    const label = this.#bounded("agent", agent);
    const ended = this.#bounded("outcome", /^[A-Za-z_]{1,40}$/.test(outcome) ? outcome : "error");
    this.#agentRuns.observe({ agent: label, outcome: ended }, seconds);
    if (firstOutputSeconds !== undefined) this.#firstToken.observe({ agent: label }, firstOutputSeconds);
    if (tokens !== undefined) {
      this.#agentTokens.inc({ agent: label, kind: "prompt" }, Math.max(0, tokens.prompt));
      this.#agentTokens.inc({ agent: label, kind: "completion" }, Math.max(0, tokens.completion));
    }
  }

  /** Counts the task runs of a queue as they end. */
  watchTasks(queue: Pick<TaskQueue, "on">): void {
    for (const outcome of ["completed", "failed", "cancelled"] as const)
      queue.on(`task.${outcome}`, (event) =>
        this.#tasks.inc({ type: this.#bounded("type", event.type), outcome }),
      );
  }

  /** Counts a config file change (`applied`) or a rejected edit (`invalid`). */
  configReload(result: "applied" | "invalid"): void {
    this.#reloads.inc({ result });
  }

  /**
   * A lease provider that counts the leases acquired, lost and released through it.
   *
   * @param leases - The provider.
   * @returns A provider doing the same, counted.
   */
  countLeases(leases: LeaseProvider): LeaseProvider {
    const count = (name: string, change: "acquired" | "lost" | "released") =>
      this.#leases.inc({ lease: this.#bounded("lease", name), change });
    return {
      get ttlMs() {
        return leases.ttlMs;
      },
      close: () => leases.close(),
      ...(leases.holder === undefined ? {} : { holder: (name: string) => leases.holder!(name) }),
      tryAcquire: async (name) => {
        const lease = await leases.tryAcquire(name);
        if (lease === undefined) return undefined;
        count(name, "acquired");
        lease.lost.addEventListener("abort", () => count(name, "lost"), { once: true });
        const counted: Lease = {
          name: lease.name,
          token: lease.token,
          lost: lease.lost,
          release: () => {
            if (!lease.lost.aborted) count(name, "released");
            return lease.release();
          },
        };
        return counted;
      },
    };
  }

  /**
   * Node calls timed by where the node is: `local`, or `remote` (held by another instance: the
   * cross-instance latency).
   *
   * @param nodes - The gateway's {@link RemoteNodes}.
   * @param instanceId - This instance's id.
   * @returns The same nodes, with `invoke` timed.
   */
  countNodeCalls(nodes: RemoteNodes, instanceId: string): RemoteNodes {
    const histogram = this.#nodeCalls;
    return {
      start: (host: NodeHost) => nodes.start(host),
      resolve: (target, command) => nodes.resolve(target, command),
      list: () => nodes.list(),
      close: () => nodes.close(),
      invoke: (node: ClusterNode, method: string, data: unknown, options?: NodeCallOptions) => {
        const where = node.instanceId === undefined || node.instanceId === instanceId ? "local" : "remote";
        const startedAt = performance.now();
        const call = nodes.invoke(node, method, data, options);
        const done = (code: string) =>
          histogram.observe({ where, code }, (performance.now() - startedAt) / 1000);
        call.then(
          () => done("OK"),
          (error: unknown) => done(errorCode(error)),
        );
        return call;
      },
    };
  }

  /** The delivery queue, if it runs. */
  #queue(): OutboundQueue | undefined {
    try {
      return this.#sources.deliveries?.();
    } catch {
      return undefined; // not started, or stopped
    }
  }

  /** `value`, or `"other"` once the label already took {@link MAX_LABEL_VALUES} values. */
  #bounded(label: string, value: string): string {
    let values = this.#labelValues.get(label);
    if (values === undefined) {
      values = new Set();
      this.#labelValues.set(label, values);
    }
    if (values.has(value)) return value;
    if (values.size >= MAX_LABEL_VALUES) return "other";
    values.add(value);
    return value;
  }
}

let sharedProcessRegistry: Registry | undefined;

/** The process metrics, collected once per process (made on first use). */
function processRegistry(): Registry {
  if (sharedProcessRegistry === undefined) {
    sharedProcessRegistry = new Registry();
    collectDefaultMetrics({ register: sharedProcessRegistry });
  }
  return sharedProcessRegistry;
}

/** A prom-client histogram's values summed over every label set but `le`. */
function summed(
  values: ReadonlyArray<{
    metricName?: string;
    labels: Partial<Record<string, string | number>>;
    value: number;
  }>,
): MetricsHistogram {
  const bounds = [...LATENCY_BUCKETS];
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let count = 0;
  let sum = 0;
  for (const { metricName, labels, value } of values) {
    if (metricName?.endsWith("_bucket") === true) {
      const i = labels.le === "+Inf" ? bounds.length : bounds.indexOf(Number(labels.le));
      if (i >= 0) counts[i]! += value;
    } else if (metricName?.endsWith("_count") === true) count += value;
    else if (metricName?.endsWith("_sum") === true) sum += value;
  }
  return { bounds, counts, count, sum };
}

/** An error's code (`ProtocolError`, `ChannelError`), else `"error"`. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Za-z_]{1,40}$/.test(code) ? code : "error";
}

/** One label set of a {@link FastHistogram}: its bucket counts (not cumulative), sum and count. */
class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value: a scan of the bounds and three additions. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram for the hot path (every request): its label children are plain counters, with none
 * of prom-client's per-observation label hashing (about 1 µs); the Prometheus text is made at scrape
 * time by the registry, as for prom-client's own (`registerMetric`).
 */
class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #children = new Map<string, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  /** The child of a label set, made on first use (callers keep it). */
  child(labels: Readonly<Record<string, string>>): HistogramChild {
    const key = JSON.stringify(labels);
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new HistogramChild(labels, this.bounds);
      this.#children.set(key, child);
    }
    return child;
  }

  /** Every label set summed: cumulative counts per bound, then `+Inf`. */
  summary(): MetricsHistogram {
    const counts = new Array<number>(this.bounds.length + 1).fill(0);
    let count = 0;
    let sum = 0;
    for (const child of this.#children.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += child.counts[i]!;
        counts[i]! += cumulative;
      }
      count += child.count;
      sum += child.sum;
    }
    return { bounds: [...this.bounds], counts, count, sum };
  }

  /** What prom-client's registry formats: cumulative buckets, sum and count per label set. */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }>;
  } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const child of this.#children.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += child.counts[i]!;
        const le = i === this.bounds.length ? "+Inf" : this.bounds[i]!;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...child.labels, le },
          value: cumulative,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { ...child.labels }, value: child.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...child.labels }, value: child.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
