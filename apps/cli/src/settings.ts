import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_GATEWAY_HOST, DEFAULT_GATEWAY_PORT } from "@openclaw/protocol";
import { openclawHome, readRuntime } from "./home";

/** Where the CLI connects, and with what. */
export interface Settings {
  url: string;
  token: string | undefined;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

/** The default gateway URL: the gateway's embedded defaults. */
export const DEFAULT_URL = `ws://${DEFAULT_GATEWAY_HOST}:${DEFAULT_GATEWAY_PORT}`;

/**
 * Resolves URL and token, first match wins: flags; `OPENCLAW_URL` and `OPENCLAW_GATEWAY_TOKEN`;
 * the CLI config file (`OPENCLAW_CLI_CONFIG`, default `~/.openclaw/cli.json`, `{ "url", "token" }`);
 * the gateway running in the home (`OPENCLAW_HOME`, default `~/.openclaw`: its `gateway.json` says
 * where it listens and its state dir), so client commands find it from any directory; and for the
 * token, the token file a gateway generates: in `$OPENCLAW_STATE_DIR`, the home's running gateway's
 * state dir, `./.openclaw-state`, then the home's `.openclaw-state`.
 */
export function resolveSettings(flags: { url?: string; token?: string }, env: NodeJS.ProcessEnv): Settings {
  const file = readConfigFile(env.OPENCLAW_CLI_CONFIG ?? join(homedir(), ".openclaw", "cli.json"));
  const home = openclawHome(env);
  const running = readRuntime(home);
  const url = flags.url ?? env.OPENCLAW_URL ?? file.url ?? running?.url ?? DEFAULT_URL;
  if (flags.token !== undefined) return { url, token: flags.token, tokenSource: "--token" };
  if (env.OPENCLAW_GATEWAY_TOKEN !== undefined && env.OPENCLAW_GATEWAY_TOKEN !== "")
    return { url, token: env.OPENCLAW_GATEWAY_TOKEN, tokenSource: "OPENCLAW_GATEWAY_TOKEN" };
  if (file.token !== undefined) return { url, token: file.token, tokenSource: "the CLI config file" };
  const stateDirs = [
    ...(env.OPENCLAW_STATE_DIR === undefined || env.OPENCLAW_STATE_DIR === ""
      ? []
      : [env.OPENCLAW_STATE_DIR]),
    ...(running?.stateDir === undefined ? [] : [running.stateDir]),
    ".openclaw-state",
    join(home, ".openclaw-state"),
  ];
  for (const dir of stateDirs) {
    const tokenFile = resolve(dir, "gateway-token");
    try {
      const token = readFileSync(tokenFile, "utf8").trim();
      if (token !== "") return { url, token, tokenSource: tokenFile };
    } catch {
      // no gateway state here
    }
  }
  return { url, token: undefined, tokenSource: "none" };
}

function readConfigFile(path: string): { url?: string; token?: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as { url?: unknown; token?: unknown };
    const out: { url?: string; token?: string } = {};
    if (typeof parsed.url === "string") out.url = parsed.url;
    if (typeof parsed.token === "string") out.token = parsed.token;
    return out;
  } catch {
    throw new Error(`${path} is not valid JSON; expected {"url": "...", "token": "..."}`);
  }
}
