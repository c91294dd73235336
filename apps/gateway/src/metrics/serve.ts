import type { IncomingMessage, ServerResponse } from "node:http";
import { ERROR_CODE_INFO, type ErrorCode } from "@openclaw/protocol";
import { refusal } from "../http";
import type { HttpContext } from "../httpContext";
import { writeJson } from "../openai/chat";

/** The path scrapers read. */
export const METRICS_PATH = "/metrics";

/**
 * Whether a request's URL is `/metrics` (with or without a query).
 *
 * @param url - The request's URL (`req.url`).
 */
export function isMetricsPath(url: string | undefined): boolean {
  return url === METRICS_PATH || url?.startsWith(`${METRICS_PATH}?`) === true;
}

/**
 * Answers `GET /metrics` in the Prometheus text format: 404 while metrics are off (or served on a
 * port of their own, asked on the gateway's), 405 for another method, and with `metrics.auth`
 * `token` the gateway's token check (401 without a valid gateway or admin token, 429 for a source
 * blocked after failed logins).
 *
 * @param core - The gateway.
 * @param req - The request.
 * @param res - Where the answer is written.
 * @param here - Whether this listener serves the metrics (the gateway's port does unless `metrics.port` is set).
 */
export async function serveMetrics(
  core: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  here: boolean,
): Promise<void> {
  const settings = core.config.get().metrics;
  const metrics = core.metrics;
  if (metrics === undefined || !settings.enabled || !here)
    return fail(res, "NOT_FOUND", "metrics are not served here", {
      reason: metrics === undefined || !settings.enabled ? "metrics_disabled" : "metrics_on_own_port",
      nextStep: "set metrics.enabled (and scrape metrics.port when it is set)",
    });
  if (req.method !== "GET" && req.method !== "HEAD")
    return fail(res, "INVALID_PARAMS", "metrics are read with GET", { reason: "method_not_allowed" }, 405);
  if (settings.auth === "token") {
    const refused = refusal(core, req);
    if (refused !== undefined)
      return fail(
        res,
        refused.code,
        refused.message,
        refused.details,
        undefined,
        refused.retryAfterMs === undefined
          ? {}
          : { "retry-after": String(Math.ceil(refused.retryAfterMs / 1000)) },
      );
  }
  try {
    const text = await metrics.text();
    if (res.destroyed) return;
    res.writeHead(200, {
      "content-type": metrics.registry.contentType,
      "content-length": Buffer.byteLength(text),
      "cache-control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : text);
  } catch (error) {
    core.logger.error({ err: error }, "metrics collection failed");
    fail(res, "INTERNAL", "internal error");
  }
}

/**
 * The request listener of `metrics.port`'s own server: `/metrics`, and 404 for anything else.
 *
 * @param core - The gateway.
 * @returns A Node request listener.
 */
export function metricsListener(core: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (isMetricsPath(req.url)) return void serveMetrics(core, req, res, true);
    fail(res, "NOT_FOUND", `only ${METRICS_PATH} is served on this port`, { reason: "no_route" });
  };
}

/** A JSON error in the protocol's shape. */
function fail(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  status?: number,
  headers?: Record<string, string>,
): void {
  writeJson(
    res,
    status ?? ERROR_CODE_INFO[code].httpStatus,
    { error: details === undefined ? { code, message } : { code, message, details } },
    headers,
  );
}
