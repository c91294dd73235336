import { ERROR_CODE_INFO, type ErrorCode } from "@openclaw/protocol";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { chatCompletions } from "./chat";
import { fromGatewayError, OpenAiError, toOpenAiError } from "./errors";
import type { OpenAiHost } from "./host";
import { getModel, listModels } from "./models";
import { createResponses } from "./responses";

/**
 * The OpenAI-compatible API, to mount at `/v1` behind the gateway's Bearer-token check:
 * `GET /models`, `GET /models/{id}`, `POST /chat/completions`, `POST /responses` and
 * `GET /responses/{id}`. Every error is OpenAI's `{error: {message, type, param, code}}`; unknown
 * paths are 404 and other methods on known paths 405, in that shape too.
 *
 * @param host - The gateway.
 * @returns The sub-app.
 */
export function createOpenAiApp(host: OpenAiHost): Hono {
  const app = new Hono();
  app.onError((error, c) => {
    const failure = toOpenAiError(error);
    if (failure.status >= 500 && failure.code !== "upstream_error")
      host.logger.error({ err: error, path: c.req.path }, "an OpenAI-compatible request failed");
    return c.json(failure.toJSON(), failure.status as 400, failure.headers);
  });
  const responses = createResponses(host);
  const routes: Array<
    [path: string, method: "GET" | "POST", handler: (c: Context) => Response | Promise<Response>]
  > = [
    ["/models", "GET", (c) => listModels(c, host)],
    ["/models/:id{.+}", "GET", (c) => getModel(c, host)],
    ["/chat/completions", "POST", (c) => chatCompletions(c, host)],
    ["/responses", "POST", (c) => responses.create(c)],
    ["/responses/:id", "GET", (c) => responses.get(c)],
  ];
  for (const [path, method, handler] of routes) {
    app.on([method], [path], handler);
    app.all(path, () => {
      throw new OpenAiError("invalid_request_error", `${path} takes ${method} only`, {
        status: 405,
        code: "method_not_allowed",
      });
    });
  }
  app.all("*", (c) => {
    throw new OpenAiError("not_found_error", `no route for ${c.req.method} ${c.req.path}`, {
      code: "unknown_url",
    });
  });
  return app;
}

/**
 * Middleware for `/v1/*` placed before the gateway's own (auth) middleware: a JSON error they
 * answer in the gateway's shape (`{error: {code: "UNAUTHORIZED", message, details}}`) is rewritten
 * into OpenAI's (`{error: {message, type: "authentication_error", param, code}}`), so OpenAI
 * clients read every `/v1` error the same way.
 *
 * @returns The middleware.
 */
export function openAiErrorShape(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    if (res.status < 400 || !res.headers.get("content-type")?.includes("application/json")) return;
    const body = (await res
      .clone()
      .json()
      .catch(() => undefined)) as
      | { error?: { code?: unknown; type?: unknown; message?: unknown; details?: unknown } }
      | undefined;
    const error = body?.error;
    if (
      error === undefined ||
      error.type !== undefined ||
      typeof error.code !== "string" ||
      !Object.hasOwn(ERROR_CODE_INFO, error.code)
    )
      return;
    const failure = fromGatewayError(
      error.code as ErrorCode,
      typeof error.message === "string" ? error.message : "error",
      error.details as Record<string, unknown> | undefined,
      res.status,
    );
    const headers = new Headers(res.headers);
    headers.delete("content-length");
    // Hono's setter merges the old response's headers into the new one, unless it is cleared first.
    c.res = undefined;
    c.res = new Response(JSON.stringify(failure.toJSON()), { status: res.status, headers });
  };
}
