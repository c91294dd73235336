import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { ERROR_CODE_INFO, type ErrorCode, toProtocolError } from "@openclaw/protocol";
import { type Context, Hono } from "hono";
import type { GatewayCore } from "./Gateway";
import { readUiFile } from "./ui";

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

interface ChatMessage {
  role: string;
  content: string | Array<{ type: string; text?: string }> | null;
}

/**
 * The gateway's HTTP surface: `GET /health`, `GET /ready`, the control UI at `/ui/`,
 * `POST <webhooks.basePath>/<channel>`, and,
 * behind a Bearer token, the OpenAI-compatible `GET /v1/models` and `POST /v1/chat/completions`.
 *
 * @param core - The gateway.
 * @returns A Node request listener.
 */
export function createHttpApp(core: GatewayCore): (req: IncomingMessage, res: ServerResponse) => void {
  const app = new Hono();

  app.onError((error, c) => {
    core.logger.error({ err: error, path: c.req.path }, "http handler failed");
    return fail(c, "INTERNAL", "internal error");
  });

  app.get("/health", (c) => c.json({ status: "ok", uptimeMs: Date.now() - core.startedAt }));

  app.get("/ready", (c) => {
    const channels = core.channels
      .statuses()
      .map(({ name, state, lastError }) =>
        lastError === undefined ? { name, state } : { name, state, lastError },
      );
    const ready = core.channels.allReady();
    return c.json({ status: ready ? "ready" : "not_ready", channels }, ready ? 200 : 503);
  });

  // The control UI: public static files (the token is entered in the app, never in a URL).
  app.get("/ui", (c) => c.redirect("/ui/", 301));
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

  // Webhooks: the base path is hot-reloadable, so it is matched per request.
  app.all("*", async (c, next) => {
    const { basePath, maxBodyBytes } = core.config.get().webhooks;
    const path = c.req.path;
    if (!path.startsWith(`${basePath}/`)) return next();
    const [channel = "", ...rest] = path.slice(basePath.length + 1).split("/");
    const plugin = core.channels.get(channel);
    if (plugin === undefined || plugin.handleWebhook === undefined)
      return fail(c, "NOT_FOUND", `no channel ${channel} receives webhooks here`, {
        reason: "unknown_channel",
      });
    if (c.req.method !== "POST" && c.req.method !== "GET")
      return fail(
        c,
        "INVALID_PARAMS",
        "webhooks are POST (or GET for verification handshakes)",
        { reason: "method_not_allowed" },
        405,
      );
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxBodyBytes)
      return fail(c, "PAYLOAD_TOO_LARGE", `webhook bodies are limited to ${maxBodyBytes} bytes`, {
        reason: "too_large",
      });
    // From the Node request: building a web Request and its stream costs more than the rest of a
    // webhook.
    const { incoming } = node(c);
    const body = await readNodeBody(incoming, maxBodyBytes);
    if (body === undefined)
      return fail(c, "PAYLOAD_TOO_LARGE", `webhook bodies are limited to ${maxBodyBytes} bytes`, {
        reason: "too_large",
      });
    if (body === null)
      return fail(c, "INVALID_PARAMS", "the request body was cut short", { reason: "incomplete_body" });
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(incoming.headers))
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(", ") : value;
    const response = await plugin.handleWebhook({
      method: c.req.method,
      path: `/${rest.join("/")}`,
      headers,
      query: c.req.query(),
      body,
    });
    const outHeaders = response.headers ?? {};
    if (response.body === undefined) return c.body(null, response.status as 200, outHeaders);
    if (typeof response.body === "string") return c.text(response.body, response.status as 200, outHeaders);
    return c.json(response.body as object, response.status as 200, outHeaders);
  });

  // Everything below needs the gateway (or admin) token.
  app.use("*", async (c, next) => {
    const header = c.req.header("authorization");
    const token = header?.startsWith("Bearer ") === true ? header.slice(7).trim() : undefined;
    if (core.isOperatorToken(token) === undefined) {
      return fail(c, "UNAUTHORIZED", token === undefined ? "a Bearer token is required" : "token rejected", {
        reason: token === undefined ? "token_missing" : "token_mismatch",
        nextStep: "send Authorization: Bearer <gateway token>",
      });
    }
    return next();
  });

  app.get("/v1/models", (c) => {
    const agents = core.config.get().agents;
    const names = new Set(["echo", ...Object.keys(agents.list)]);
    return c.json({
      object: "list",
      data: [...names].map((id) => ({
        id,
        object: "model",
        created: Math.floor(core.startedAt / 1000),
        owned_by: "openclaw",
      })),
    });
  });

  app.post("/v1/chat/completions", async (c) => {
    let body: { model?: unknown; messages?: unknown; stream?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return fail(c, "INVALID_PARAMS", "the body must be JSON", { reason: "invalid_json" });
    }
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return fail(c, "INVALID_PARAMS", "the body must be a JSON object", { reason: "invalid_body" });
    if (typeof body.model !== "string" || body.model === "")
      return fail(c, "INVALID_PARAMS", "model is required (it names an agent)", { reason: "missing_model" });
    if (!Array.isArray(body.messages) || body.messages.length === 0)
      return fail(c, "INVALID_PARAMS", "messages must be a non-empty array", { reason: "missing_messages" });
    const messages = body.messages as ChatMessage[];
    const last = [...messages].reverse().find((m) => m?.role === "user");
    if (textOf(last?.content ?? null) === "") {
      return fail(c, "INVALID_PARAMS", "the last user message has no text", { reason: "empty_input" });
    }
    const agents = core.config.get().agents;
    if (body.model !== "echo" && !Object.hasOwn(agents.list, body.model)) {
      return fail(c, "NOT_FOUND", `no agent named ${body.model}`, {
        reason: "unknown_model",
        models: ["echo", ...Object.keys(agents.list)],
      });
    }
    const model = body.model;
    const turns = messages.map((m) => ({
      role: String(m?.role ?? "user"),
      content: textOf(m?.content ?? null),
    }));
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    // Aborted when the client goes away: the agent (and its upstream request) stops too.
    const controller = new AbortController();
    const { outgoing } = node(c);
    outgoing.once("close", () => {
      if (!outgoing.writableFinished) controller.abort();
    });
    const deltas = core.streamAgent(model, turns, controller.signal);
    // Start the agent before answering, so that an immediate failure is a plain JSON error.
    let first: IteratorResult<string>;
    try {
      first = await deltas.next();
    } catch (error) {
      return agentFailure(c, error);
    }
    if (body.stream === true) {
      const chunk = (delta: Record<string, unknown>, finish: string | null) =>
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
      // Straight to the socket, coalescing what the agent yields within one event-loop turn into
      // one write: hono's web-stream SSE helper costs a write (and a syscall) per chunk.
      const sse = new SseWriter(outgoing);
      try {
        await sse.send(chunk({ role: "assistant", content: "" }, null));
        try {
          for (let step = first; !step.done; step = await deltas.next()) {
            if (sse.closed) return RESPONSE_ALREADY_SENT;
            await sse.send(chunk({ content: step.value }, null));
          }
        } catch (error) {
          const failure = toProtocolError(error, "INTERNAL");
          await sse.send(JSON.stringify({ error: { code: failure.code, message: failure.message } }));
        }
        await sse.send(chunk({}, "stop"));
        await sse.send("[DONE]");
      } finally {
        sse.end();
      }
      return RESPONSE_ALREADY_SENT;
    }
    let output = "";
    try {
      for (let step = first; !step.done; step = await deltas.next()) output += step.value;
    } catch (error) {
      return agentFailure(c, error);
    }
    const promptWords = countWords(turns.at(-1)?.content ?? "");
    return c.json({
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: output }, finish_reason: "stop" }],
      usage: {
        prompt_tokens: promptWords,
        completion_tokens: countWords(output),
        total_tokens: promptWords + countWords(output),
      },
    });
  });

  app.notFound((c) =>
    fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`, { reason: "no_route" }),
  );

  return getRequestListener(app.fetch);
}

/** An agent's failure as a JSON error; an upstream that failed is a 502. */
function agentFailure(c: Context, error: unknown) {
  const failure = toProtocolError(error, "INTERNAL");
  return fail(
    c,
    failure.code,
    failure.message,
    failure.details,
    failure.code === "CHANNEL_UNAVAILABLE" ? 502 : undefined,
  );
}

/** The Node request and response behind a request: `getRequestListener` puts them in `c.env`. */
function node(c: Context): { incoming: IncomingMessage; outgoing: ServerResponse } {
  return c.env as { incoming: IncomingMessage; outgoing: ServerResponse };
}

/**
 * Reads a Node request's body, chunked or not: `undefined` as soon as it exceeds `maxBytes` (the
 * rest is drained unread), `null` when the client went away before the end.
 */
function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      incoming.off("data", onData);
      incoming.resume();
      resolve(undefined);
    };
    incoming.on("data", onData);
    incoming.once("end", () => resolve(Buffer.concat(chunks, Math.min(size, maxBytes))));
    incoming.once("error", () => resolve(null));
    incoming.once("close", () => {
      if (!incoming.complete) resolve(null);
    });
  });
}

function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((part) => (part?.type === "text" && typeof part.text === "string" ? part.text : ""))
      .join("");
  return "";
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/**
 * Server-sent events written straight to a Node response. Events sent within one event-loop turn
 * are joined and leave in one write (one HTTP chunk); a full socket buffer makes `send` wait for
 * drain.
 */
class SseWriter {
  #pending = "";
  #scheduled = false;
  #full = false;

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
  }

  /** Whether the client went away. */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Sends one `data:` event; resolves at once unless the socket's buffer is full. */
  async send(data: string): Promise<void> {
    if (this.closed) return;
    this.#pending += `data: ${data}\n\n`;
    if (this.#pending.length >= SSE_FLUSH_CHARS) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    if (this.#full) {
      this.#full = false;
      await Promise.race([once(this.res, "drain"), once(this.res, "close")]);
    }
  }

  /** Writes what is pending and ends the response (once). */
  end(): void {
    this.#flush();
    if (!this.closed) this.res.end();
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending === "" || this.closed) return;
    const text = this.#pending;
    this.#pending = "";
    if (!this.res.write(text)) this.#full = true;
  }
}

/** Pending SSE text beyond this many characters is written at once, not at the end of the turn. */
const SSE_FLUSH_CHARS = 64 * 1024;
