#!/usr/bin/env node
// openclaw: the command line for the OpenClaw Gateway.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { type DisconnectInfo, GatewayClient, isProtocolError, ProtocolError } from "@openclaw/protocol";
import { WebSocket } from "ws";
import { CHAT_DEFAULTS } from "./chat";
import { COMMANDS, type CommandContext, EXIT, type Flags, UsageError } from "./commands";
import { createOutput } from "./output";
import { resolveSettings } from "./settings";

/** The CLI's version, from its package.json (one directory up from both `src/` and `dist/`). */
const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

const USAGE = `openclaw <command> [options]

Commands:
  gateway [--config f] [--port p] [--bind a]   run the gateway in the foreground (as openclaw-gateway)
  gateway install [--print]                write a systemd user unit for the gateway (--help for more)
  doctor [--config f] [--port p] [--json]  check the setup and say what to fix (exit 1 if anything)
  status                                   gateway version, uptime, connections, channels
  send --to <recipient> [--channel c] <text>   send a message (without --channel the router decides)
  events [--filter name,prefix.*] [--count n]  live tail of events (Ctrl-C to stop)
  nodes [list]                             connected nodes and their capabilities
  nodes invoke <node> <method> [json]      call a method on a node
  run [--target node] [--agent a] <input>  run an agent (on a node with --target)
  chat [--agent a] [--conversation id] [-m text | --interactive]
                                           chat with an agent (a prompt on a terminal; -m or piped
                                           stdin: one message, its reply, exit; chat --help for more)
  pair [list] | pair approve <code> | pair reject <code>
  devices [list] | devices revoke <node>
  tasks [list] [--status s] [--limit n] [--cursor c] | tasks schedule <type> [--payload json] [--cron expr --timezone tz | --delay ms | --every ms | --at date]
  tasks cancel <id>
  bindings [list] | bindings add --level L [--match json] --channel c [--address a]
  bindings remove <id> | bindings resolve <recipient> [--context json]
  config get [path] | config validate <file|-> | config apply <file|-> [--mode merge] [--base-hash h]
  delivery [list] [--status pending|dead] | delivery retry <id> | delivery drop <id>

Options:
  --url <ws://…>     gateway URL (OPENCLAW_URL, ~/.openclaw/cli.json, default ws://127.0.0.1:18789)
  --token <token>    gateway or admin token (OPENCLAW_GATEWAY_TOKEN, ~/.openclaw/cli.json,
                     or ./.openclaw-state/gateway-token of a local gateway)
  --json             machine-readable output (one JSON value per line)
  --timeout <ms>     request timeout (default 30000)
  -h, --help         this help;  --version  the CLI's version

Exit codes: 0 ok, 1 error, 2 usage, 3 authentication or permission.
`;

const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  timeout: { type: "string" },
  to: { type: "string" },
  channel: { type: "string" },
  "reply-to": { type: "string" },
  "idempotency-key": { type: "string" },
  filter: { type: "string", multiple: true },
  count: { type: "string" },
  target: { type: "string" },
  agent: { type: "string" },
  reason: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  payload: { type: "string" },
  cron: { type: "string" },
  timezone: { type: "string" },
  delay: { type: "string" },
  every: { type: "string" },
  at: { type: "string" },
  name: { type: "string" },
  user: { type: "string" },
  level: { type: "string" },
  match: { type: "string" },
  address: { type: "string" },
  id: { type: "string" },
  priority: { type: "string" },
  context: { type: "string" },
  mode: { type: "string" },
  "base-hash": { type: "string" },
  message: { type: "string", short: "m" },
  conversation: { type: "string" },
  interactive: { type: "boolean", short: "i" },
} as const;

async function main(argv: string[]): Promise<number> {
  // These two take their own flags (the gateway's).
  if (argv[0] === "gateway") return (await import("./gateway")).gatewayCommand(argv.slice(1));
  if (argv[0] === "doctor") return (await import("./doctor")).doctorCommand(argv.slice(1));
  let parsed: { values: Flags; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as never;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  const flags = parsed.values;
  const out = createOutput({ json: flags.json === true });
  if (flags.version === true) {
    out.result({ version: VERSION }, () => VERSION);
    return EXIT.OK;
  }
  const [name, ...args] = parsed.positionals;
  if (flags.help === true && name === "chat") {
    process.stdout.write((await import("./chat")).CHAT_USAGE);
    return EXIT.OK;
  }
  if (flags.help === true || name === undefined || name === "help") {
    process.stdout.write(USAGE);
    return name === undefined && flags.help !== true ? EXIT.USAGE : EXIT.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    out.error(`unknown command "${name}"; run openclaw --help`);
    return EXIT.USAGE;
  }

  let settings: ReturnType<typeof resolveSettings>;
  try {
    settings = resolveSettings(
      {
        ...(typeof flags.url === "string" ? { url: flags.url } : {}),
        ...(typeof flags.token === "string" ? { token: flags.token } : {}),
      },
      process.env,
    );
  } catch (error) {
    out.error((error as Error).message);
    return EXIT.USAGE;
  }
  const timeoutMs = typeof flags.timeout === "string" ? Number(flags.timeout) : 30_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    out.error("--timeout must be a positive number of milliseconds");
    return EXIT.USAGE;
  }
  let client: GatewayClient | undefined;
  let connecting: Promise<GatewayClient> | undefined;
  const connect = () => {
    connecting ??= (async () => {
      client = new GatewayClient({
        url: settings.url,
        ...(settings.token === undefined ? {} : { token: settings.token }),
        WebSocket,
        // A live tail and a chat reconnect; one-shot commands report the failure instead.
        reconnect:
          name === "events"
            ? { initialDelayMs: 500, maxDelayMs: 10_000 }
            : name === "chat"
              ? { initialDelayMs: 250, maxDelayMs: 5_000, maxAttempts: CHAT_DEFAULTS.reconnectAttempts }
              : false,
        requestTimeoutMs: timeoutMs,
        handshakeTimeoutMs: Math.min(timeoutMs, 10_000),
        client: { name: "openclaw-cli", version: VERSION, platform: process.platform },
      });
      // A chat reconnects once it has been connected; a gateway it cannot reach at start is an error.
      let lost: DisconnectInfo | undefined;
      const stops =
        name === "chat"
          ? [
              client.once("disconnected", (info) => {
                lost = info;
              }),
              client.once("reconnecting", () => void client?.close()),
            ]
          : [];
      try {
        await out.wait(`connecting to ${settings.url}`, client.connect());
      } catch (error) {
        if (lost === undefined || !isProtocolError(error) || error.code !== "CONNECTION_CLOSED") throw error;
        throw new ProtocolError(
          "CONNECTION_CLOSED",
          lost.reason === "" ? "cannot connect" : `cannot connect (${lost.code}: ${lost.reason})`,
          { details: { reason: "connect_failed" } },
        );
      } finally {
        for (const stop of stops) stop();
      }
      return client;
    })();
    return connecting;
  };
  const interrupted = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  const ctx: CommandContext = {
    args,
    flags,
    out,
    client: connect,
    interrupted,
    async call(method, params, options) {
      const c = await connect();
      const request = c.request as (
        m: string,
        p?: unknown,
        o?: { target?: string; timeoutMs?: number },
      ) => Promise<never>;
      return out.wait(method, request.call(c, method, params, options ?? {}));
    },
  };
  try {
    const code = await command(ctx);
    return typeof code === "number" ? code : EXIT.OK;
  } catch (error) {
    return report(error, out, settings);
  } finally {
    await client?.close().catch(() => {});
  }
}

/** Prints an error that says what to do, and picks the exit code. */
function report(
  error: unknown,
  out: ReturnType<typeof createOutput>,
  settings: ReturnType<typeof resolveSettings>,
): number {
  if (error instanceof UsageError) {
    out.error(`${error.message}\n\nRun openclaw --help for the commands and options.`);
    return EXIT.USAGE;
  }
  if (isProtocolError(error)) {
    const details = (error.details ?? {}) as { reason?: string; nextStep?: string };
    const hint = details.nextStep === undefined ? "" : ` (next: ${details.nextStep})`;
    if (error.code === "UNAUTHORIZED") {
      const what =
        settings.token === undefined
          ? "no token: set OPENCLAW_GATEWAY_TOKEN or pass --token"
          : `token rejected (from ${settings.tokenSource}): set OPENCLAW_GATEWAY_TOKEN or pass --token`;
      out.error(`${what}${hint}`, { code: error.code, details: error.details });
      return EXIT.AUTH;
    }
    if (error.code === "FORBIDDEN") {
      out.error(`${error.message}: this needs the admin token (OPENCLAW_ADMIN_TOKEN) passed with --token`, {
        code: error.code,
        details: error.details,
      });
      return EXIT.AUTH;
    }
    if (error.code === "CONNECTION_CLOSED" || error.code === "TIMEOUT") {
      out.error(
        `${error.message} — is the gateway running at ${settings.url}? Start it with \`openclaw gateway\`, or pass --url`,
        { code: error.code, details: error.details },
      );
      return EXIT.ERROR;
    }
    out.error(`${error.code}: ${error.message}${hint}`, { code: error.code, details: error.details });
    return EXIT.ERROR;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (
    /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(message) ||
    (error as { code?: string }).code === "ECONNREFUSED"
  ) {
    out.error(
      `cannot reach the gateway at ${settings.url} — is it running? Start it with \`openclaw gateway\`, or pass --url`,
    );
    return EXIT.ERROR;
  }
  out.error(message);
  return EXIT.ERROR;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `openclaw failed: ${error instanceof ProtocolError ? error.message : String((error as Error)?.stack ?? error)}\n`,
    );
    process.exit(EXIT.ERROR);
  },
);
