import type { TelemetryConfig } from "@openclaw/config";
import { TRACEPARENT_PATTERN } from "@openclaw/protocol";
import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { Logger } from "../logging";
import { GATEWAY_NAME, GATEWAY_VERSION } from "../version";

/** The instrumentation scope of the gateway's spans. */
export const TRACER_NAME = "@openclaw/gateway";

/** Where and how spans are exported, resolved from `telemetry.otlp` and the `OTEL_*` variables. */
export interface TracingOptions {
  /**
   * The OTLP/HTTP traces URL (`…/v1/traces`). `undefined`: the exporter reads
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` itself.
   */
  url?: string | undefined;
  /** Headers of every export. `undefined`: the exporter reads `OTEL_EXPORTER_OTLP_HEADERS`. */
  headers?: Record<string, string> | undefined;
  /** The share of root traces kept (0 to 1). */
  samplingRatio: number;
  /** `service.instance.id` of the spans (the cluster instance id). @defaultValue none */
  instanceId?: string | undefined;
}

/** A running trace export. */
export interface Tracing {
  /** Exports the spans still buffered and stops. Never rejects. */
  shutdown(): Promise<void>;
}

/**
 * Whether traces are to be exported, and how: `telemetry.otlp.endpoint`, else the standard
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` variables.
 *
 * @param config - The `telemetry` section.
 * @param env - The environment.
 * @returns The options, or `undefined` when nothing asks for traces (the SDK is then never loaded).
 */
export function resolveTracing(config: TelemetryConfig, env: NodeJS.ProcessEnv): TracingOptions | undefined {
  const otlp = config.otlp;
  const endpoint = otlp?.endpoint;
  const fromEnv =
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (endpoint === undefined && fromEnv === undefined) return undefined;
  return {
    url: endpoint === undefined ? undefined : tracesUrl(endpoint),
    headers: otlp?.headers,
    samplingRatio: otlp?.samplingRatio ?? 1,
  };
}

const nonEmpty = (value: string | undefined) =>
  value === undefined || value.trim() === "" ? undefined : value;

/** `<endpoint>/v1/traces`, unless the endpoint names the traces path already. */
function tracesUrl(endpoint: string): string {
  if (/\/v1\/traces\/?$/.test(endpoint)) return endpoint;
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

let active = false;

/**
 * Whether spans are recorded in this process (an export was started). The gateway's hot paths
 * check it and skip building spans altogether when not.
 */
export function tracingActive(): boolean {
  return active;
}

/**
 * Loads the OpenTelemetry SDK and the OTLP/HTTP exporter (dynamic imports: a gateway that does not
 * trace never loads them) and registers a tracer provider for the process: spans are batched and
 * exported as OTLP/JSON; traces started here are sampled at `samplingRatio`, traces continued from
 * a caller's `traceparent` follow the caller's choice. One export per process.
 *
 * @param options - From {@link resolveTracing}.
 * @param logger - Where export failures are reported.
 * @returns The running export.
 */
export async function startTracing(options: TracingOptions, logger: Pick<Logger, "warn">): Promise<Tracing> {
  const [node, base, exporterModule, resources, conventions] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  const exporter = new exporterModule.OTLPTraceExporter({
    ...(options.url === undefined ? {} : { url: options.url }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
  const attributes: Attributes = {
    [conventions.ATTR_SERVICE_NAME]: GATEWAY_NAME,
    [conventions.ATTR_SERVICE_VERSION]: GATEWAY_VERSION,
  };
  if (options.instanceId !== undefined) attributes["service.instance.id"] = options.instanceId;
  const provider = new node.NodeTracerProvider({
    resource: resources.resourceFromAttributes(attributes),
    sampler: new base.ParentBasedSampler({ root: new base.TraceIdRatioBasedSampler(options.samplingRatio) }),
    spanProcessors: [new base.BatchSpanProcessor(exporter)],
  });
  // The tracer provider, the async-hooks context manager and the W3C propagator, for the process.
  provider.register();
  tracer = provider.getTracer(TRACER_NAME, GATEWAY_VERSION);
  active = true;
  return {
    async shutdown() {
      active = false;
      tracer = trace.getTracer(TRACER_NAME, GATEWAY_VERSION);
      try {
        await provider.shutdown();
      } catch (error) {
        logger.warn({ err: error }, "could not export the last spans");
      }
      trace.disable();
      context.disable();
    },
  };
}

/**
 * The gateway's tracer: a no-op until {@link startTracing}, which takes it from the provider it
 * registers. (Taken once before registering, it would stay a no-op: the SDK registers through the
 * API's CommonJS build, whose global provider an ES-module tracer taken earlier does not follow.)
 */
let tracer: Tracer = trace.getTracer(TRACER_NAME, GATEWAY_VERSION);

/**
 * Runs `fn` in a span that is active within it, and ends the span when `fn` settles: an error
 * thrown sets the span's status to error (its `code` as `openclaw.outcome`). Without tracing, `fn`
 * runs alone.
 *
 * @param name - The span's name (low cardinality: no ids).
 * @param attributes - Its attributes.
 * @param fn - The work; gets the span to add attributes to (`undefined` without tracing).
 * @param options - The span's kind and parent (the active context by default).
 * @returns What `fn` returns.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  options: { kind?: SpanKind; parent?: Context } = {},
): Promise<T> {
  if (!active) return fn(undefined);
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        failSpan(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Starts a span that the caller ends (for work whose end is not a promise's), and the context in
 * which it is the active span.
 *
 * @returns `undefined` without tracing.
 */
export function startSpan(
  name: string,
  attributes: Attributes,
  options: { kind?: SpanKind; parent?: Context } = {},
): { span: Span; context: Context } | undefined {
  if (!active) return undefined;
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Runs `fn` with `within` as the active context. */
export function runWithin<T>(within: Context, fn: () => T): T {
  return context.with(within, fn);
}

/** Marks a span failed with an error (its `code` as `openclaw.outcome`, its message as the status). */
export function failSpan(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") span.setAttribute("openclaw.outcome", code);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: (error as Error | undefined)?.message ?? String(error),
  });
}

/**
 * The W3C `traceparent` of a context's span, to pass to an upstream server or a node.
 *
 * @param of - The context. @defaultValue the active one
 * @returns The header's value, or `undefined` without a valid span (tracing off).
 */
export function currentTraceparent(of: Context = context.active()): string | undefined {
  if (!active) return undefined;
  const span = trace.getSpanContext(of);
  if (span === undefined || !trace.isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-0${(span.traceFlags & 1).toString(16)}`;
}

/**
 * The context a caller's `traceparent` names, as the parent of the span that serves its request; the
 * active context when it is absent or not a valid `traceparent`.
 *
 * @param traceparent - The header or frame field.
 */
export function contextOf(traceparent: string | undefined): Context {
  if (traceparent === undefined || !TRACEPARENT_PATTERN.test(traceparent)) return context.active();
  const [version, traceId, spanId, flags] = traceparent.split("-") as [string, string, string, string];
  if (version === "ff") return context.active();
  const spanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & 1, isRemote: true };
  if (!trace.isSpanContextValid(spanContext)) return context.active();
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

export { SpanKind, SpanStatusCode };
