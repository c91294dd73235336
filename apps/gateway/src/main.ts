#!/usr/bin/env node
// openclaw-gateway: runs the gateway as a service.
import { parseArgs } from "node:util";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import { ConfigError, ConfigManager } from "@openclaw/config";
import { Gateway } from "./Gateway";
import { createLogger } from "./logging";
import { GATEWAY_VERSION } from "./version";

const USAGE = `openclaw-gateway ${GATEWAY_VERSION}

Usage: openclaw-gateway [--config <file>] [--port <port>] [--bind <address>]

  --config <file>    config file (default: $OPENCLAW_CONFIG, else ./openclaw.json if present, else defaults)
  --port <port>      port for WebSocket and HTTP (default 18789; also OPENCLAW_PORT)
  --bind <address>   address to listen on (default 127.0.0.1; also OPENCLAW_BIND)
  --help, --version

Environment: OPENCLAW_GATEWAY_TOKEN, OPENCLAW_ADMIN_TOKEN, OPENCLAW_CONFIG, OPENCLAW_STATE_DIR, OPENCLAW_PORT, OPENCLAW_BIND.
`;

async function main(): Promise<number> {
  let values: {
    config?: string | undefined;
    port?: string | undefined;
    bind?: string | undefined;
    help?: boolean | undefined;
    version?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string" },
        port: { type: "string" },
        bind: { type: "string" },
        help: { type: "boolean" },
        version: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`${GATEWAY_VERSION}\n`);
    return 0;
  }
  const env = { ...process.env };
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
      return 1;
    }
    throw error;
  }
  const logger = createLogger(config.get().logging.level);
  const channels = await loadChannelPlugins(config, logger);
  const gateway = new Gateway({ config, channels, logger });
  // Signals are handled from here on, also while the gateway is starting (channels may take a while).
  let stopping = false;
  let starting: Promise<unknown> = Promise.resolve();
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    await starting.catch(() => {});
    await gateway.stop();
    await config.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  starting = gateway.start();
  const { url, tokenSource } = (await starting) as Awaited<ReturnType<Gateway["start"]>>;
  if (stopping) return -1;
  config.watch();
  logger.info(
    { url, http: url.replace(/^ws/, "http"), config: config.source ?? "(embedded defaults)" },
    `OpenClaw Gateway listening on ${url} (HTTP on the same port); ${tokenSource}`,
  );
  return -1; // keep running
}

/** Channel plugins are packages named `@openclaw/channel-<plugin>`, loaded for the configured channels. */
async function loadChannelPlugins(
  config: ConfigManager,
  logger: ReturnType<typeof createLogger>,
): Promise<ChannelPluginFactory[]> {
  const names = new Set(
    Object.entries(config.get().channels).map(([name, settings]) => settings.plugin ?? name),
  );
  const factories: ChannelPluginFactory[] = [];
  for (const name of names) {
    try {
      const module = (await import(`@openclaw/channel-${name}`)) as { default?: ChannelPluginFactory };
      if (module.default !== undefined) factories.push(module.default);
    } catch (error) {
      logger.error(
        { plugin: name, err: (error as Error).message },
        `channel plugin @openclaw/channel-${name} is not installed`,
      );
    }
  }
  return factories;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`openclaw-gateway failed to start: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
