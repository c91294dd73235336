import { resolve as resolvePath } from "node:path";
import { parseArgs } from "node:util";
import type { ClusterMode, ClusterModeLoader } from "@openclaw/backend";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import { type ConfigChangeEvent, ConfigError, ConfigManager } from "@openclaw/config";
import { Gateway } from "./Gateway";
import { createLogger, type Logger, resolveLogFormat, stdoutLogSink } from "./logging";
import { describePortInUse } from "./portHolder";
import { resolveTracing, startTracing, type Tracing } from "./telemetry/tracing";
import { GATEWAY_VERSION } from "./version";

/** Options of {@link runGateway}. */
export interface RunGatewayOptions {
  /**
   * The program name shown in the usage text (`openclaw-gateway`, or `openclaw gateway` from the CLI).
   * @defaultValue `"openclaw-gateway"`
   */
  programName?: string;
  /**
   * The environment: `OPENCLAW_*` overrides and `${ENV}` substitution.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Stop on SIGINT / SIGTERM (a second signal while stopping exits the process at once with 1).
   * @defaultValue true
   */
  handleSignals?: boolean;
  /** Stops the gateway when aborted, like a signal. */
  signal?: AbortSignal;
  /**
   * Builds cluster mode when the config has a `cluster` section (`@openclaw/redis`'s
   * `createCluster`; the `openclaw` CLI passes it). Without it, a config with `cluster` is refused.
   */
  cluster?: ClusterModeLoader;
  /**
   * Called once the gateway listens, with its URL and state dir (the `openclaw` CLI records them in
   * its home so that client commands find the gateway from any directory).
   */
  onListening?: (info: { url: string; stateDir: string }) => void | Promise<void>;
}

/** The defaults of {@link RunGatewayOptions}. */
export const DEFAULT_RUN_GATEWAY_OPTIONS = Object.freeze({
  programName: "openclaw-gateway",
  handleSignals: true,
});

/** Exit codes of {@link runGateway}. */
export const GATEWAY_EXIT = {
  /** Stopped cleanly (after a signal), or `--help` / `--version`. */
  OK: 0,
  /** The config is invalid, or the gateway failed to start. */
  ERROR: 1,
  /** The command line is wrong. */
  USAGE: 2,
} as const;

/**
 * The usage text of the gateway's command line.
 *
 * @param programName - How the program is invoked.
 * @returns The text.
 */
export function gatewayUsage(programName: string = DEFAULT_RUN_GATEWAY_OPTIONS.programName): string {
  return `${programName} ${GATEWAY_VERSION}

Usage: ${programName} [--config <file>] [--port <port>] [--bind <address>] [--log-format <format>]

  --config <file>    config file (default: $OPENCLAW_CONFIG, else ./openclaw.json if present, else defaults)
  --port <port>      port for WebSocket and HTTP (default 18789; also OPENCLAW_PORT)
  --bind <address>   address to listen on (default 127.0.0.1; also OPENCLAW_BIND)
  --log-format <f>   pretty (readable, coloured on a terminal) or json (default: logging.format,
                     else pretty on a terminal and json otherwise)
  --help, --version

Environment: OPENCLAW_GATEWAY_TOKEN, OPENCLAW_ADMIN_TOKEN, OPENCLAW_CONFIG, OPENCLAW_STATE_DIR, OPENCLAW_PORT, OPENCLAW_BIND,
OPENCLAW_REDIS_URL (cluster mode, from the openclaw CLI).
`;
}

/**
 * Runs the gateway in the foreground, the way `openclaw-gateway` and `openclaw gateway` do: parses
 * the command line, loads the config (an invalid one is printed with file, line and path), loads the
 * configured channel plugins, starts, logs where it listens, watches the config, and stops gracefully
 * on SIGINT / SIGTERM or when `options.signal` is aborted.
 *
 * @param argv - The arguments after the program name.
 * @param options - See {@link RunGatewayOptions}.
 * @returns Resolves with the exit code once the gateway has stopped (or did not start).
 *
 * @example
 * ```ts
 * process.exitCode = await runGateway(process.argv.slice(2));
 * ```
 */
export async function runGateway(argv: readonly string[], options: RunGatewayOptions = {}): Promise<number> {
  const programName = options.programName ?? DEFAULT_RUN_GATEWAY_OPTIONS.programName;
  const usage = gatewayUsage(programName);
  let values: {
    config?: string | undefined;
    port?: string | undefined;
    bind?: string | undefined;
    "log-format"?: string | undefined;
    help?: boolean | undefined;
    version?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: "string" },
        port: { type: "string" },
        bind: { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    return GATEWAY_EXIT.USAGE;
  }
  const logFormat = values["log-format"];
  if (logFormat !== undefined && logFormat !== "pretty" && logFormat !== "json") {
    process.stderr.write(`--log-format must be pretty or json, not ${JSON.stringify(logFormat)}\n\n${usage}`);
    return GATEWAY_EXIT.USAGE;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return GATEWAY_EXIT.OK;
  }
  if (values.version === true) {
    process.stdout.write(`${GATEWAY_VERSION}\n`);
    return GATEWAY_EXIT.OK;
  }
  const env = { ...(options.env ?? process.env) };
  if (values.port !== undefined) env.OPENCLAW_PORT = values.port;
  if (values.bind !== undefined) env.OPENCLAW_BIND = values.bind;
  const config = new ConfigManager(values.config === undefined ? { env } : { env, path: values.config });
  try {
    await config.load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `${error.message}\n${error.issues.map((issue) => `  ${issue.file ?? ""}${issue.line === undefined ? "" : `:${issue.line}:${issue.column ?? 0}`} ${issue.path || "(file)"}: ${issue.message}`).join("\n")}\n`,
      );
      return GATEWAY_EXIT.ERROR;
    }
    throw error;
  }
  // Lines that cannot be written (a full disk, a stalled pipe) wait within a bound, then are dropped
  // and counted: logging never holds up serving or shutdown.
  const sink = stdoutLogSink();
  sink.maxBufferedBytes = config.get().logging.maxBufferedBytes;
  const onConfigChange = ({ config: next }: ConfigChangeEvent) => {
    sink.maxBufferedBytes = next.logging.maxBufferedBytes;
  };
  config.on("change", onConfigChange);
  const format = resolveLogFormat(logFormat ?? config.get().logging.format, process.stdout.isTTY === true);
  const logger = createLogger(config.get().logging.level, sink, { format });
  const channels = await loadChannelPlugins(
    Object.entries(config.get().channels).map(([name, settings]) => settings.plugin ?? name),
    logger,
  );
  let cluster: ClusterMode | undefined;
  const clusterConfig = config.get().cluster;
  if (clusterConfig !== undefined) {
    if (options.cluster === undefined) {
      process.stderr.write(
        `${programName}: cluster mode (cluster.redisUrl / OPENCLAW_REDIS_URL) needs @openclaw/redis; run the gateway with \`openclaw gateway\` from @openclaw/cli, which includes it\n`,
      );
      await config.close();
      return GATEWAY_EXIT.ERROR;
    }
    try {
      cluster = await options.cluster(clusterConfig, { logger });
    } catch (error) {
      process.stderr.write(`${programName} failed to start: ${(error as Error).message}\n`);
      await config.close();
      return GATEWAY_EXIT.ERROR;
    }
    logger.info(
      { instanceId: cluster.instanceId, namespace: clusterConfig.namespace },
      "cluster mode on Redis",
    );
  }
  // Traces: the OpenTelemetry SDK is loaded only when an OTLP endpoint is configured.
  const tracingOptions = resolveTracing(config.get().telemetry, env);
  let tracing: Tracing | undefined;
  if (tracingOptions !== undefined) {
    try {
      tracing = await startTracing({ ...tracingOptions, instanceId: cluster?.instanceId }, logger);
      logger.info(
        {
          endpoint: tracingOptions.url ?? "(OTEL_EXPORTER_OTLP_* variables)",
          samplingRatio: tracingOptions.samplingRatio,
        },
        "exporting traces over OTLP/HTTP",
      );
    } catch (error) {
      logger.error({ err: error }, "could not start exporting traces; the gateway runs without them");
    }
  }
  const gateway = new Gateway({ config, channels, logger, ...cluster?.options });

  // Stop requests are handled from here on, also while the gateway is starting (channels may take a while).
  let stopping = false;
  let starting: Promise<unknown> = Promise.resolve();
  let stopped!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    stopped = resolve;
  });
  const stop = async (reason: string) => {
    if (stopping) {
      if (reason !== "abort") process.exit(GATEWAY_EXIT.ERROR);
      return;
    }
    stopping = true;
    logger.info({ signal: reason }, "shutting down");
    await starting.catch(() => {});
    await gateway.stop();
    await tracing?.shutdown();
    await cluster?.close();
    await config.close();
    logger.info("stopped");
    stopped(GATEWAY_EXIT.OK);
  };
  // A promise rejected with nobody listening is a bug to log, not a reason to drop every client.
  const onUnhandled = (reason: unknown) =>
    logger.error({ err: reason }, "unhandled promise rejection (logged; the gateway keeps running)");
  process.on("unhandledRejection", onUnhandled);
  const onSigint = () => void stop("SIGINT");
  const onSigterm = () => void stop("SIGTERM");
  const onAbort = () => void stop("abort");
  if (options.handleSignals ?? DEFAULT_RUN_GATEWAY_OPTIONS.handleSignals) {
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
  }
  if (options.signal?.aborted === true) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    starting = gateway.start();
    const { url, tokenSource } = (await starting) as Awaited<ReturnType<Gateway["start"]>>;
    if (!stopping) {
      config.watch();
      const http = url.replace(/^ws/, "http");
      // Where to go next: the control UI, and where its token is (never the token itself).
      logger.info(
        { url, http, ui: `${http}/ui/`, config: config.source ?? "(embedded defaults)" },
        `OpenClaw Gateway listening on ${url} (HTTP on the same port); control UI at ${http}/ui/; ${tokenSource}`,
      );
      await options.onListening?.({ url, stateDir: resolvePath(config.get().state.dir) });
    }
  } catch (error) {
    if (!stopping) {
      stopping = true;
      // Typed errors (a corrupt state file, a state dir in use) explain themselves; a stack would
      // only bury the advice. Anything else is a bug: show where.
      const typed = error instanceof Error && (error.name === "StateFileError" || "code" in error);
      // A busy port: who holds it (when /proc tells) and the flag to choose another.
      const message =
        (error as NodeJS.ErrnoException).code === "EADDRINUSE"
          ? await describePortInUse(config.get().gateway.host, config.get().gateway.port)
          : typed
            ? (error as Error).message
            : ((error as Error).stack ?? String(error));
      process.stderr.write(`${programName} failed to start: ${message}\n`);
      // The caller exits the process: whatever did start (stores, timers) goes with it.
      await tracing?.shutdown();
      await cluster?.close().catch(() => {});
      await config.close().catch(() => {});
      stopped(GATEWAY_EXIT.ERROR);
    }
  }
  try {
    const code = await done;
    // The last lines ("stopped"), within the sink's budget: a log that cannot be written does not
    // hold the exit.
    await sink.drain();
    return code;
  } finally {
    config.off("change", onConfigChange);
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    process.off("unhandledRejection", onUnhandled);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Loads channel plugin packages: plugin `<name>` is the package `@openclaw/channel-<name>`, resolved
 * from the gateway's own dependencies. A plugin that is not installed is logged and skipped.
 *
 * @param names - Plugin names (a channel's `plugin`, else its name); duplicates are loaded once.
 * @param logger - Where a missing plugin is reported.
 * @returns The factories found.
 */
export async function loadChannelPlugins(
  names: Iterable<string>,
  logger?: Pick<Logger, "error">,
): Promise<ChannelPluginFactory[]> {
  const factories: ChannelPluginFactory[] = [];
  for (const name of new Set(names)) {
    try {
      const module = (await import(`@openclaw/channel-${name}`)) as { default?: ChannelPluginFactory };
      if (module.default !== undefined) factories.push(module.default);
    } catch (error) {
      logger?.error(
        { plugin: name, err: (error as Error).message },
        `channel plugin @openclaw/channel-${name} is not installed`,
      );
    }
  }
  return factories;
}
