import type { ConfigIssue } from "@openclaw/protocol";

/** Environment variables that override config values, and where they go. */
export const ENV_OVERRIDES = Object.freeze({
  OPENCLAW_GATEWAY_TOKEN: "security.token",
  OPENCLAW_ADMIN_TOKEN: "security.adminToken",
  OPENCLAW_PORT: "gateway.port",
  OPENCLAW_BIND: "gateway.host",
  OPENCLAW_STATE_DIR: "state.dir",
  OPENCLAW_REDIS_URL: "cluster.redisUrl",
} as const);

/** The variable naming the config file. */
export const CONFIG_PATH_ENV = "OPENCLAW_CONFIG";

/** An environment: variable name → value. */
export type Env = Readonly<Record<string, string | undefined>>;

const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${NAME}` in every string of `value` with the environment variable's value. `$${NAME}`
 * stands for a literal `${NAME}`. A variable that is not set is an issue naming its path.
 *
 * @param value - Parsed config (not modified).
 * @param env - The environment.
 * @returns The substituted copy and any issues.
 */
export function substituteEnv(value: unknown, env: Env): { value: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === "string") {
      if (!node.includes("${")) return node;
      return node.replace(PLACEHOLDER, (match, name: string | undefined) => {
        if (name === undefined) return "${"; // "$${" escape
        const resolved = env[name];
        if (resolved === undefined) {
          issues.push({ path, message: `environment variable ${name} is not set` });
          return match;
        }
        return resolved;
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, join(path, String(index))));
    if (typeof node === "object" && node !== null) {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(item, join(path, key))]),
      );
    }
    return node;
  };
  return { value: walk(value, ""), issues };
}

/**
 * Applies {@link ENV_OVERRIDES}: a set variable wins over the file.
 *
 * @param value - Substituted config (not modified).
 * @param env - The environment.
 * @returns The overridden copy, the paths overridden, and issues (e.g. a non-numeric `OPENCLAW_PORT`).
 */
export function applyEnvOverrides(
  value: Record<string, unknown>,
  env: Env,
): { value: Record<string, unknown>; overridden: string[]; issues: ConfigIssue[] } {
  const out = structuredClone(value);
  const overridden: string[] = [];
  const issues: ConfigIssue[] = [];
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    let parsed: unknown = raw;
    if (path === "gateway.port") {
      parsed = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isNaN(parsed)) {
        issues.push({ path, message: `${name} must be a port number` });
        continue;
      }
    }
    const [section, key] = path.split(".") as [string, string];
    const target = out[section];
    out[section] = { ...(typeof target === "object" && target !== null ? target : {}), [key]: parsed };
    overridden.push(path);
  }
  return { value: out, overridden, issues };
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
