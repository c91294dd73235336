import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { ERROR_CODE_INFO, type ErrorCode } from "@openclaw/protocol";
import { type Context, Hono } from "hono";
import { bearerToken, isAllowedHost } from "./auth/guards";
import type { HttpContext } from "./httpContext";
import { isMetricsPath, serveMetrics } from "./metrics/serve";
import { createOpenAiApp, openAiErrorShape } from "./openai/app";
import { serveChatCompletions, writeJson } from "./openai/chat";
import { fromGatewayError } from "./openai/errors";
import type { OpenAiHost } from "./openai/host";
import { requestSource } from "./server/sources";
import { readUiFile } from "./ui";
import { serveWebhook, webhookPath } from "./webhooks";

/** A JSON error body in the protocol's shape, with the protocol's HTTP status for its code. */
function fail(
  c: Context,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  status?: number,
) {
  return c.json(
    { error: details === undefined ? { code, message } : { code, message, details } },
    (status ?? ERROR_CODE_INFO[code].httpStatus) as 400,
  );
}

/**
 * The gateway's HTTP surface: `GET /health`, `GET /ready`, the control UI at `/ui/` (a browser
 * opening `/` is sent there),
 * `POST <webhooks.basePath>/<channel>`, and,
 * behind a Bearer token, the OpenAI-compatible `GET /v1/models` and `POST /v1/chat/completions`.
 *
 * @param core - The gateway.
 * @returns A Node request listener.
 */
export function createHttpApp(core: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  const app = new Hono();

  app.onError((error, c) => {
    core.logger.error({ err: error, path: c.req.path }, "http handler failed");
    return fail(c, "INTERNAL", "internal error");
  });

  // /v1 answers every error in OpenAI's shape, the auth middleware's below included.
  app.use("/v1/*", openAiErrorShape());

  app.get("/health", (c) => c.json({ status: "ok", uptimeMs: Date.now() - core.startedAt }));

  app.get("/ready", (c) => {
    // In a cluster, `instance` says where a leased channel runs (state `standby`: on another one).
    const channels = core.channels.statuses().map(({ name, state, instance, lastError }) => ({
      name,
      state,
      ...(instance === undefined ? {} : { instance }),
      ...(lastError === undefined ? {} : { lastError }),
    }));
    const cluster = core.cluster?.health();
    if (cluster?.state === "degraded") return c.json({ status: "degraded", channels, cluster }, 503);
    const ready = core.channels.allReady();
    const body = { status: ready ? "ready" : "not_ready", channels };
    return c.json(cluster === undefined ? body : { ...body, cluster }, ready ? 200 : 503);
  });

  // The control UI: public static files (the token is entered in the app, never in a URL).
  // Served only under a trusted Host (an IP address, a loopback name or security.allowedHosts):
  // a page from a DNS-rebound name must not be same-origin with the gateway.
  app.use("/ui/*", async (c, next) => {
    if (!isAllowedHost(c.req.header("host"), core.config.get().security.allowedHosts))
      return fail(c, "FORBIDDEN", "this host name is not allowed to reach the control UI", {
        reason: "host_not_allowed",
        nextStep: "open the UI by IP address or localhost, or add the host name to security.allowedHosts",
      });
    return next();
  });
  app.get("/ui", (c) => c.redirect("/ui/", 301));
  // A browser opening the gateway's address lands on the control UI; an API client (no text/html
  // in Accept) still gets the JSON 401 of the token check below.
  app.get("/", async (c, next) => {
    if ((c.req.header("accept") ?? "").includes("text/html")) return c.redirect("/ui/", 302);
    return next();
  });
  app.get("/ui/*", async (c) => {
    const dir = core.uiDir;
    if (dir === undefined)
      return fail(c, "NOT_FOUND", "the control UI is not installed (build it: npx -y pnpm@10.34.8 build)", {
        reason: "ui_not_built",
      });
    const file = await readUiFile(dir, c.req.path.slice("/ui/".length));
    if (file === undefined) return fail(c, "NOT_FOUND", `no file ${c.req.path}`, { reason: "not_found" });
    return c.body(new Uint8Array(file.body), 200, {
      "content-type": file.type,
      "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy":
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    });
  });

  // Webhooks (`<webhooks.basePath>/<channel>`) are served before hono: see the listener below.

  // Everything below needs the gateway (or admin) token.
  app.use("*", async (c, next) => {
    const refused = refusal(core, node(c).incoming);
    if (refused === undefined) return next();
    if (refused.retryAfterMs !== undefined)
      c.header("retry-after", String(Math.ceil(refused.retryAfterMs / 1000)));
    return fail(c, refused.code, refused.message, refused.details);
  });

  // The OpenAI-compatible API (apps/gateway/src/openai/).
  const openAiHost: OpenAiHost = {
    config: () => core.config.get(),
    get logger() {
      return core.logger;
    },
    startedAt: core.startedAt,
    agentContext: (signal) => core.agentContext(signal),
    responseStore: core.responseStore,
    metrics: core.metrics,
  };
  app.route("/v1", createOpenAiApp(openAiHost));

  app.notFound((c) =>
    fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`, { reason: "no_route" }),
  );

  const listener = getRequestListener(app.fetch);
  return (req, res) => {
    if (isMetricsPath(req.url)) return void serveMetrics(core, req, res, core.metricsOnGatewayPort);
    // Webhooks skip hono (webhooks.ts), before the token check: the platform signs them instead.
    const webhook = webhookPath(core.config.get().webhooks.basePath, req.url ?? "/");
    if (webhook !== undefined) {
      void serveWebhook(core, req, res, webhook.path, webhook.query);
      return;
    }
    // The hottest route skips hono (its router, context and web Request/Response cost more than
    // the rest of a streamed completion): the same token check, then the same handler.
    if (req.method === "POST" && req.url === "/v1/chat/completions") {
      const refused = refusal(core, req);
      if (refused === undefined) void serveChatCompletions(req, res, openAiHost);
      else {
        const failure = fromGatewayError(refused.code, refused.message, refused.details);
        writeJson(res, failure.status, failure.toJSON(), failure.headers);
      }
      return;
    }
    listener(req, res);
  };
}

/** Why a request that needs the gateway (or admin) token is refused, if it is. */
export interface Refusal {
  code: "RATE_LIMITED" | "UNAUTHORIZED";
  message: string;
  details: Record<string, unknown>;
  retryAfterMs?: number;
}

/**
 * The token check of every route behind it: a source blocked after too many failed logins is
 * refused (429), and a missing or wrong Bearer token is refused (401) and counted against it. The
 * source is the client's, as a trusted proxy names it (`gateway.trustedProxies`).
 *
 * @returns The refusal, or `undefined` when the token grants access.
 */
export function refusal(core: HttpContext, incoming: IncomingMessage): Refusal | undefined {
  const header = incoming.headers.authorization;
  const token = bearerToken(header);
  const address = requestSource(incoming, core.config.get().gateway.trustedProxies);
  const blockedFor = core.authFailures.blockedFor(address);
  if (blockedFor > 0)
    return {
      code: "RATE_LIMITED",
      message: "too many failed logins from this address",
      details: { reason: "too_many_failed_logins", retryAfterMs: blockedFor },
      retryAfterMs: blockedFor,
    };
  if (core.isOperatorToken(token) !== undefined) return undefined;
  core.authFailures.refuse(address, token === undefined ? "token_missing" : "token_mismatch", "http");
  return {
    code: "UNAUTHORIZED",
    message: token === undefined ? "a Bearer token is required" : "token rejected",
    details: {
      reason: token === undefined ? "token_missing" : "token_mismatch",
      nextStep: "send Authorization: Bearer <gateway token>",
    },
  };
}

/** The Node request and response behind a request: `getRequestListener` puts them in `c.env`. */
function node(c: Context): { incoming: IncomingMessage; outgoing: ServerResponse } {
  return c.env as { incoming: IncomingMessage; outgoing: ServerResponse };
}
