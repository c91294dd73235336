import { homedir } from "node:os";
import { join } from "node:path";

/** What a systemd user unit for the gateway is made of. */
/**
 * The open-files limit the systemd unit sets (`LimitNOFILE`): the gateway accepts about this many
 * WebSocket clients, less its descriptor reserve (2.5%).
 */
export const SERVICE_NOFILE = 65_536;

export interface ServiceUnitOptions {
  /** Absolute path of the Node binary (`process.execPath`). */
  nodePath: string;
  /** Absolute path of the gateway's service script (`@openclaw/gateway`'s `openclaw-gateway` bin). */
  scriptPath: string;
  /** The working directory of the service (absolute). */
  workingDirectory: string;
  /** `Environment=` lines, in order; tokens never belong here. */
  environment: ReadonlyArray<readonly [name: string, value: string]>;
  /** Read by systemd if it exists (`EnvironmentFile=-…`): where the tokens go. */
  environmentFile: string;
  /**
   * The unit's description.
   * @defaultValue `"OpenClaw Gateway"`
   */
  description?: string;
}

/** The defaults of {@link ServiceUnitOptions} and of where the unit is written. */
export const DEFAULT_SERVICE_OPTIONS = Object.freeze({
  description: "OpenClaw Gateway",
  /** The unit's file name. */
  unitName: "openclaw-gateway.service",
});

/** Variables that hold secrets: never written into a unit. */
export const SECRET_ENV = ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_ADMIN_TOKEN"] as const;

/**
 * Quotes a value for a unit file: `%` is doubled (systemd specifiers), and values with spaces,
 * quotes or backslashes are double-quoted with C-style escapes.
 *
 * @param value - The raw value.
 * @returns The value as systemd reads it back.
 */
export function quoteUnitValue(value: string): string {
  const escaped = value.replaceAll("%", "%%");
  if (!/[\s"'\\]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * Builds the text of a systemd user unit that runs the gateway in the foreground and restarts it
 * when it fails. SIGTERM (systemd's stop) makes the gateway drain and exit 0.
 *
 * @param options - Binary, script, directories and environment; see {@link ServiceUnitOptions}.
 * @returns The unit file's text.
 */
export function systemdUnit(options: ServiceUnitOptions): string {
  for (const [name] of options.environment)
    if ((SECRET_ENV as readonly string[]).includes(name))
      throw new TypeError(`${name} is a secret and must not be written into a unit; use the EnvironmentFile`);
  const lines = [
    "# Written by `openclaw gateway install`. Tokens are not in this file: put OPENCLAW_GATEWAY_TOKEN=…",
    `# (and OPENCLAW_ADMIN_TOKEN=…) in ${options.environmentFile} (chmod 600), or leave them out and the`,
    "# gateway uses the token it generated in its state dir.",
    "[Unit]",
    `Description=${options.description ?? DEFAULT_SERVICE_OPTIONS.description}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${quoteUnitValue(options.nodePath)} ${quoteUnitValue(options.scriptPath)}`,
    `WorkingDirectory=${quoteUnitValue(options.workingDirectory)}`,
    ...options.environment.map(([name, value]) => `Environment=${quoteUnitValue(`${name}=${value}`)}`),
    `EnvironmentFile=-${quoteUnitValue(options.environmentFile)}`,
    "Restart=on-failure",
    "RestartSec=5",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30",
    "UMask=0077",
    // Each client is a descriptor: the gateway's connection cap follows this limit.
    `LimitNOFILE=${SERVICE_NOFILE}`,
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ];
  return lines.join("\n");
}

/**
 * Where systemd looks for user units: `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
 *
 * @param env - The environment.
 * @returns The directory.
 */
export function userUnitDir(env: NodeJS.ProcessEnv): string {
  return join(configHome(env), "systemd", "user");
}

/**
 * The default environment file for the unit: `$XDG_CONFIG_HOME/openclaw/gateway.env`.
 *
 * @param env - The environment.
 * @returns The path.
 */
export function defaultEnvironmentFile(env: NodeJS.ProcessEnv): string {
  return join(configHome(env), "openclaw", "gateway.env");
}

function configHome(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  return xdg?.startsWith("/") ? xdg : join(env.HOME ?? homedir(), ".config");
}
