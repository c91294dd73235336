import type { IncomingMessage, ServerResponse } from "node:http";
import { ERROR_CODE_INFO, type ErrorCode } from "@openclaw/protocol";
import type { HttpContext } from "./httpContext";
import { exceedsJsonDepth } from "./jsonDepth";
import { writeJson } from "./openai/chat";
import { readNodeBody, stopReading } from "./readBody";
import { contextOf, inSpan, SpanKind, SpanStatusCode, tracingActive } from "./telemetry/tracing";

/**
 * Serves `<webhooks.basePath>/<channel>[/<rest>]` on the Node request and response, without hono:
 * a webhook is the gateway's busiest HTTP route, and hono's context, router and web Response cost
 * more than the rest of the route. The channel's plugin gets the method, the path after the
 * channel, the headers, the query (the first value of each name) and the raw body.
 *
 * @param core - The gateway.
 * @param req - The request; its path is under the base path ({@link webhookPath}).
 * @param res - Where the plugin's answer, or a JSON error in the protocol's shape, is written.
 * @param path - The request's path (decoded as hono decodes it), without the query.
 * @param query - The query string, without the `?`.
 */
export function serveWebhook(
  core: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string,
): Promise<void> {
  if (!tracingActive()) return serve(core, req, res, path, query);
  const named = path.slice(core.config.get().webhooks.basePath.length + 1).split("/")[0] ?? "";
  const channel = core.channels.has(named) ? named : "unknown";
  const header = req.headers.traceparent;
  // The inbound pipeline's span (and the agent's run and reply under it) are children of this one.
  return inSpan(
    `webhook ${channel}`,
    { "openclaw.channel": channel, "http.request.method": req.method ?? "GET" },
    async (span) => {
      await serve(core, req, res, path, query);
      span?.setAttribute("http.response.status_code", res.statusCode);
      if (res.statusCode >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
    },
    { kind: SpanKind.SERVER, parent: contextOf(typeof header === "string" ? header : undefined) },
  );
}

async function serve(
  core: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string,
): Promise<void> {
  try {
    const { basePath, maxBodyBytes } = core.config.get().webhooks;
    const [channel = "", ...rest] = path.slice(basePath.length + 1).split("/");
    core.metrics?.webhook(res, core.channels.has(channel) ? channel : "unknown");
    const plugin = core.channels.get(channel);
    if (plugin === undefined && core.channels.has(channel)) {
      // A leased channel standing by here: its platform connection, and its webhooks, are served
      // by the instance holding the lease. Platforms retry a 503.
      return fail(res, "UNAVAILABLE", `channel ${channel} runs on another instance of this cluster`, {
        details: { reason: "channel_standby", retryable: true },
        headers: { "retry-after": "1" },
      });
    }
    if (plugin === undefined || plugin.handleWebhook === undefined)
      return fail(res, "NOT_FOUND", `no channel ${channel} receives webhooks here`, {
        details: { reason: "unknown_channel" },
      });
    const method = req.method ?? "GET";
    if (method !== "POST" && method !== "GET")
      return fail(res, "INVALID_PARAMS", "webhooks are POST (or GET for verification handshakes)", {
        details: { reason: "method_not_allowed" },
        status: 405,
      });
    const tooLarge = () => {
      // The rest of the body is not read: the connection is closed after the 413 (see stopReading).
      stopReading(req);
      fail(res, "PAYLOAD_TOO_LARGE", `webhook bodies are limited to ${maxBodyBytes} bytes`, {
        details: { reason: "too_large" },
      });
    };
    if (Number(req.headers["content-length"] ?? "0") > maxBodyBytes) return tooLarge();
    const body = await readNodeBody(req, maxBodyBytes);
    if (body === "too_large") return tooLarge();
    if (body === "incomplete")
      return fail(res, "INVALID_PARAMS", "the request body was cut short", {
        details: { reason: "incomplete_body" },
      });
    const { maxJsonDepth } = core.config.get().webhooks;
    if (exceedsJsonDepth(body, req.headers["content-type"], maxJsonDepth))
      return fail(res, "INVALID_PARAMS", `webhook bodies may nest JSON at most ${maxJsonDepth} levels deep`, {
        details: { reason: "too_deep", maxJsonDepth },
      });
    const headers = copyHeaders(req);
    const response = await plugin.handleWebhook({
      method,
      path: `/${rest.join("/")}`,
      headers,
      query: queryParams(query),
      body,
    });
    const own = lowerCased(response.headers);
    if (response.body === undefined) return write(res, response.status, own);
    if (typeof response.body === "string")
      return write(res, response.status, own, response.body, "text/plain; charset=UTF-8");
    return write(res, response.status, own, JSON.stringify(response.body), "application/json");
  } catch (error) {
    core.logger.error({ err: error, path }, "http handler failed");
    fail(res, "INTERNAL", "internal error");
  }
}

/**
 * Where a request goes if it is a webhook: its path and query when the path is under
 * `webhooks.basePath` and no route served before webhooks takes it (`/health`, `/ready`, `/ui`).
 *
 * @param basePath - `webhooks.basePath` (hot-reloadable, so read per request).
 * @param url - The request's URL (`req.url`).
 * @returns The decoded path and the raw query, or `undefined` when it is not a webhook.
 */
export function webhookPath(basePath: string, url: string): { path: string; query: string } | undefined {
  const mark = url.indexOf("?");
  const raw = mark === -1 ? url : url.slice(0, mark);
  const path = raw.includes("%") ? decodePath(raw) : raw;
  if (!path.startsWith(`${basePath}/`)) return undefined;
  if (path === "/health" || path === "/ready" || path === "/ui" || path.startsWith("/ui/")) return undefined;
  return { path, query: mark === -1 ? "" : url.slice(mark + 1) };
}

/** A path decoded as hono decodes it (`decodeURI`, with `%25` kept), or as it is when malformed. */
function decodePath(raw: string): string {
  try {
    return decodeURI(raw.includes("%25") ? raw.replace(/%25/g, "%2525") : raw);
  } catch {
    return raw;
  }
}

/** The query's parameters, the first value of each name (`+` is a space), as hono's `query()`. */
function queryParams(query: string): Record<string, string> {
  // No prototype: a name such as `toString` or `__proto__` is a parameter like any other.
  const out: Record<string, string> = Object.create(null);
  if (query === "") return out;
  for (const [name, value] of new URLSearchParams(query))
    if (name !== "" && out[name] === undefined) out[name] = value;
  return out;
}

/**
 * The request's headers for the plugin: lower-case names, repeated values joined as Node joins them.
 * No prototype, so that a header named `__proto__` or `constructor` is a header like any other;
 * Node's own `req.headers` drops `__proto__`, which is taken from `rawHeaders`.
 */
const PROTO = "__proto__";
function copyHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(req.headers))
    if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(", ") : value;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === PROTO.length && raw[i]!.toLowerCase() === PROTO) {
      const value = raw[i + 1] ?? "";
      const before = headers[PROTO];
      headers[PROTO] = before === undefined ? value : `${before}, ${value}`;
    }
  return headers;
}

/** Header names lower-cased, so that a plugin's `Content-Type` replaces the default one. */
function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers !== undefined)
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** Writes a response; `contentType` is the default when the headers have none. */
function write(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  text?: string,
  contentType?: string,
): void {
  if (res.destroyed) return;
  if (text === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  res
    .writeHead(status, {
      ...(contentType === undefined ? {} : { "content-type": contentType }),
      ...headers,
      "content-length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

/** A JSON error in the protocol's shape, with the protocol's HTTP status for its code. */
function fail(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  options: { details?: Record<string, unknown>; status?: number; headers?: Record<string, string> } = {},
): void {
  const { details, status = ERROR_CODE_INFO[code].httpStatus, headers } = options;
  writeJson(
    res,
    status,
    { error: details === undefined ? { code, message } : { code, message, details } },
    headers,
  );
}
