import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, ConfigManager } from "@openclaw/config";
import type { RunGatewayOptions } from "@openclaw/gateway";
import { EXIT } from "./commands";
import { claimHome, enterHome, openclawHome } from "./home";
import {
  DEFAULT_SERVICE_OPTIONS,
  defaultEnvironmentFile,
  SECRET_ENV,
  systemdUnit,
  userUnitDir,
} from "./service";

const INSTALL_USAGE = `Usage: openclaw gateway install [--print] [--config <file>] [--port <port>] [--bind <address>]
                                [--env-file <file>] [--unit-dir <dir>]

Writes a systemd user unit (${DEFAULT_SERVICE_OPTIONS.unitName}) that runs this gateway in its home
(OPENCLAW_HOME, default ~/.openclaw) with its config file and state dir (absolute paths), or prints
it with --print.

  --print              print the unit instead of writing it
  --config <file>      config file (default: $OPENCLAW_CONFIG, else the home's openclaw.json if present)
  --port, --bind       written as OPENCLAW_PORT / OPENCLAW_BIND (also taken from the environment)
  --env-file <file>    EnvironmentFile for the tokens (default ~/.config/openclaw/gateway.env)
  --unit-dir <dir>     where to write the unit (default ~/.config/systemd/user)
`;

/**
 * `openclaw gateway …`: runs the gateway in the foreground (the same flags and environment as
 * `openclaw-gateway`), or `openclaw gateway install` writes its systemd user unit.
 *
 * @param argv - The arguments after `gateway`.
 * @returns The exit code, once the gateway has stopped.
 */
export async function gatewayCommand(argv: readonly string[]): Promise<number> {
  if (argv[0] === "install") return install(argv.slice(1));
  // Loaded only here: the client commands start without the gateway's code.
  const { runGateway } = await import("@openclaw/gateway");
  const options: RunGatewayOptions = {
    programName: "openclaw gateway",
    // Redis is loaded only when the config asks for cluster mode.
    cluster: async (config, context) => (await import("@openclaw/redis")).createCluster(config, context),
  };

  if (argv.some((arg) => arg === "--help" || arg === "-h" || arg === "--version"))
    return runGateway(argv, options);
  const home = openclawHome(process.env);
  const args = await enterHome(argv, home, "openclaw gateway");
  const { claim, holder } = await claimHome(home);
  if (claim === undefined) {
    process.stderr.write(
      `openclaw gateway: a gateway already runs with this home (${home}): process ${holder.pid}${holder.url === undefined ? "" : ` at ${holder.url}`}; stop it first, or give this one its own home with OPENCLAW_HOME=<dir>\n`,
    );
    return EXIT.ERROR;
  }
  try {
    return await runGateway(args, { ...options, onListening: (info) => claim.update(info) });
  } finally {
    await claim.release();
  }
}

async function install(argv: readonly string[]): Promise<number> {
  let values: {
    print?: boolean | undefined;
    config?: string | undefined;
    port?: string | undefined;
    bind?: string | undefined;
    "env-file"?: string | undefined;
    "unit-dir"?: string | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        print: { type: "boolean" },
        config: { type: "string" },
        port: { type: "string" },
        bind: { type: "string" },
        "env-file": { type: "string" },
        "unit-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${INSTALL_USAGE}`);
    return EXIT.USAGE;
  }
  if (values.help === true) {
    process.stdout.write(INSTALL_USAGE);
    return EXIT.OK;
  }
  const env = { ...process.env };
  if (values.port !== undefined) env.OPENCLAW_PORT = values.port;
  if (values.bind !== undefined) env.OPENCLAW_BIND = values.bind;
  // The unit runs in the home, wherever this was run from.
  const home = openclawHome(env);
  const configPath = values.config === undefined ? undefined : resolve(values.config);
  await enterHome([], home, "openclaw gateway install");
  for (const name of ["OPENCLAW_CONFIG", "OPENCLAW_STATE_DIR"] as const)
    if (process.env[name] !== undefined) env[name] = process.env[name];
  const config = new ConfigManager(configPath === undefined ? { env } : { env, path: configPath });
  try {
    await config.load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(
      `error: the config is invalid, fix it before installing the service (run openclaw doctor):\n${formatIssues(error)}\n`,
    );
    return EXIT.ERROR;
  } finally {
    await config.close();
  }

  const environment: Array<[string, string]> = [];
  if (config.source !== null) environment.push(["OPENCLAW_CONFIG", resolve(config.source)]);
  environment.push(["OPENCLAW_STATE_DIR", resolve(config.get().state.dir)]);
  for (const name of ["OPENCLAW_PORT", "OPENCLAW_BIND"] as const) {
    const value = env[name];
    if (value !== undefined && value !== "") environment.push([name, value]);
  }
  const environmentFile = resolve(values["env-file"] ?? defaultEnvironmentFile(env));
  const unit = systemdUnit({
    nodePath: process.execPath,
    scriptPath: gatewayScript(),
    workingDirectory: home,
    environment,
    environmentFile,
  });
  if (values.print === true) {
    process.stdout.write(unit);
    return EXIT.OK;
  }
  const dir = resolve(values["unit-dir"] ?? userUnitDir(env));
  const path = join(dir, DEFAULT_SERVICE_OPTIONS.unitName);
  await mkdir(dir, { recursive: true });
  await writeFile(path, unit, { mode: 0o644 });
  const secrets = SECRET_ENV.filter((name) => (env[name] ?? "") !== "");
  const unitName = DEFAULT_SERVICE_OPTIONS.unitName;
  process.stdout.write(
    [
      `wrote ${path}`,
      secrets.length === 0
        ? `tokens: none in the unit; the gateway uses the token in ${join(resolve(config.get().state.dir), "gateway-token")} (or put OPENCLAW_GATEWAY_TOKEN=… in ${environmentFile}, chmod 600)`
        : `tokens: ${secrets.join(" and ")} ${secrets.length === 1 ? "is" : "are"} set here but not written into the unit: put ${secrets.map((name) => `${name}=…`).join(" and ")} in ${environmentFile} (chmod 600)`,
      "next:",
      "  systemctl --user daemon-reload",
      `  systemctl --user enable --now ${unitName}`,
      `  journalctl --user -u ${unitName} -f        # its logs`,
      "  loginctl enable-linger $USER              # keep it running after you log out",
      "",
    ].join("\n"),
  );
  return EXIT.OK;
}

/** The absolute path of `@openclaw/gateway`'s `openclaw-gateway` script. */
function gatewayScript(): string {
  const manifest = createRequire(import.meta.url).resolve("@openclaw/gateway/package.json");
  const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin?: Record<string, string> };
  const script = resolve(dirname(manifest), bin?.["openclaw-gateway"] ?? "dist/main.js");
  if (!existsSync(script))
    process.stderr.write(`warning: ${script} does not exist yet (build @openclaw/gateway first)\n`);
  return script;
}

/**
 * Formats a config error's issues, one per line, with file, line and path.
 *
 * @param error - The error from `ConfigManager.load()`.
 * @returns The lines.
 */
export function formatIssues(error: ConfigError): string {
  return error.issues
    .map(
      (issue) =>
        `  ${issue.file ?? ""}${issue.line === undefined ? "" : `:${issue.line}:${issue.column ?? 0}`} ${issue.path || "(file)"}: ${issue.message}`,
    )
    .join("\n");
}
