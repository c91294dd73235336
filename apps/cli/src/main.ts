#!/usr/bin/env node
// openclaw: the command line for the OpenClaw Gateway.
import { createRequire } from "node:module";
import { type DisconnectInfo, GatewayClient, isProtocolError, ProtocolError } from "@openclaw/protocol";
import { CommanderError } from "commander";
import { WebSocket } from "ws";
import { CHAT_DEFAULTS } from "./chat";
import { COMMANDS, type CommandContext, EXIT, UsageError } from "./commands";
import { completionScript, type Shell } from "./completion";
import { createOutput } from "./output";
import { buildProgram, type Invocation } from "./program";
import { resolveSettings } from "./settings";

/** The CLI's version, from its package.json (one directory up from both `src/` and `dist/`). */
const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/**
 * Runs the CLI: parses the command line (commander: options per command, generated help,
 * `-v/--version`, unknown commands and options refused with exit code 2) and runs the command.
 *
 * @param argv - The arguments after the program name.
 * @returns The exit code.
 */
async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = buildProgram(VERSION, {
    async run(invocation) {
      exitCode = await runClient(invocation);
    },
    async passThrough(name, args) {
      exitCode =
        name === "gateway"
          ? await (await import("./gateway")).gatewayCommand(args)
          : await (await import("./doctor")).doctorCommand(args);
    },
    async logs(options) {
      exitCode = await (await import("./logs")).logsCommand(options);
    },
    completion(shell, root) {
      process.stdout.write(completionScript(shell as Shell, root));
    },
  });
  // `gateway` and `doctor` parse their own flags, `--help` included (listed in the help and the
  // completion through the program).
  if (argv[0] === "help" && (argv[1] === "gateway" || argv[1] === "doctor" || argv[1] === "onboard"))
    argv = [argv[1], "--help"];
  if (argv[0] === "onboard") return (await import("./onboard")).onboardCommand(argv.slice(1));
  if (argv[0] === "gateway") return (await import("./gateway")).gatewayCommand(argv.slice(1));
  if (argv[0] === "doctor") return (await import("./doctor")).doctorCommand(argv.slice(1));
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // Help and version asked for: 0. A wrong command line, or no command at all: 2.
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT.OK;
    return EXIT.USAGE;
  }
  return exitCode;
}

/** Runs one client command (one that talks to the gateway). */
async function runClient(invocation: Invocation): Promise<number> {
  const { name, args, flags } = invocation;
  const out = createOutput({ json: flags.json === true });
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
    settings,
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
