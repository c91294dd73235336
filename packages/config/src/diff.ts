import type { Config } from "./schema";

/** Config paths whose change takes effect only after a restart. Everything else is applied live. */
export const RESTART_REQUIRED_PATHS: readonly string[] = Object.freeze([
  "gateway.host",
  "gateway.port",
  "gateway.nodeReconnectGraceMs",
  "gateway.listenBacklog",
  "gateway.headersTimeoutMs",
  "gateway.requestTimeoutMs",
  "state.dir",
  "cluster",
  "metrics.enabled",
  "metrics.port",
  "metrics.bind",
  "telemetry",
]);

/**
 * How changes are reported: sections broken down to these units. `channels` per channel (only that
 * channel restarts); `gateway` and `state` per key (some need a restart); other sections whole.
 */
const PER_KEY_SECTIONS = new Set(["channels", "gateway", "state", "metrics"]);

/** What changed between two configs, and how it takes effect. */
export interface ConfigDiff {
  /** Every changed unit, e.g. `["channels.telegram", "gateway.port", "security"]`. */
  changed: string[];
  /** The changed units that take effect live. */
  applied: string[];
  /** The changed units that take effect after a restart. */
  restartRequired: string[];
}

/**
 * Compares two configs section by section.
 *
 * @param previous - The active config.
 * @param next - The new one.
 * @returns The changed units, split into live and restart-only.
 */
export function diffConfig(previous: Config, next: Config): ConfigDiff {
  const changed: string[] = [];
  const sections = new Set([...Object.keys(previous), ...Object.keys(next)]);
  sections.delete("$schema");
  for (const section of [...sections].sort()) {
    const a = (previous as Record<string, unknown>)[section];
    const b = (next as Record<string, unknown>)[section];
    if (PER_KEY_SECTIONS.has(section) && isRecord(a) && isRecord(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (stableStringify(a[key]) !== stableStringify(b[key])) changed.push(`${section}.${key}`);
      }
    } else if (stableStringify(a) !== stableStringify(b)) {
      changed.push(section);
    }
  }
  const restartRequired = changed.filter((unit) => RESTART_REQUIRED_PATHS.includes(unit));
  return { changed, applied: changed.filter((unit) => !restartRequired.includes(unit)), restartRequired };
}

/**
 * JSON with object keys sorted, so equal values give equal text.
 *
 * @param value - Any JSON value.
 * @returns Canonical JSON.
 */
export function stableStringify(value: unknown): string {
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
