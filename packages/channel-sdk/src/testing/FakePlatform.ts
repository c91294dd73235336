import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhookRequest } from "../types";

/** One request a fake platform received. */
export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The raw body as text. */
  body: string;
  /** The body parsed as JSON, when it is JSON; `undefined` otherwise. */
  json: unknown;
}

/** What a route answers. A plain object or array is sent as JSON with status 200. */
export type FakeReply = { status?: number; headers?: Record<string, string>; body?: unknown } | undefined;

/** Answers one request to a fake platform. */
export type FakeRoute = (request: RecordedRequest, raw: IncomingMessage) => FakeReply | Promise<FakeReply>;

/**
 * A loopback HTTP server standing in for a platform's API: routes by `METHOD /path` (a trailing
 * `*` matches a prefix), records every request, and can be told to fail the next requests.
 *
 * @example
 * ```ts
 * const platform = await FakePlatform.start({
 *   "POST /bot*": (req) => ({ body: { ok: true, result: { message_id: 1 } } }),
 * });
 * // point the plugin at platform.url, then:
 * expect(platform.requests.at(-1)?.json).toMatchObject({ text: "hi" });
 * await platform.close();
 * ```
 */
export class FakePlatform {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly #routes: Array<[method: string, path: string, route: FakeRoute]> = [];
  readonly #failures: FakeReply[] = [];
  readonly #server: Server;
  readonly #held = new Set<ServerResponse>();
  #url = "";

  private constructor() {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 1000;
  }

  /**
   * Starts a fake platform on 127.0.0.1 and an ephemeral port.
   *
   * @param routes - `"METHOD /path"` → handler.
   * @returns The running fake.
   */
  static async start(routes: Record<string, FakeRoute> = {}): Promise<FakePlatform> {
    const platform = new FakePlatform();
    for (const [key, route] of Object.entries(routes)) platform.route(key, route);
    await new Promise<void>((resolve, reject) => {
      platform.#server.once("error", reject);
      platform.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = platform.#server.address() as AddressInfo;
    platform.#url = `http://127.0.0.1:${port}`;
    return platform;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    return this.#url;
  }

  /**
   * Adds (or replaces) a route.
   *
   * @param key - `"METHOD /path"`; a path ending in `*` matches every path with that prefix.
   * @param route - The handler.
   */
  route(key: string, route: FakeRoute): void {
    const [method, path] = key.split(" ") as [string, string];
    const index = this.#routes.findIndex(([m, p]) => m === method && p === path);
    if (index !== -1) this.#routes.splice(index, 1);
    this.#routes.push([method.toUpperCase(), path, route]);
  }

  /**
   * Makes the next requests fail with these replies (in order), whatever their route.
   *
   * @param replies - E.g. `{ status: 429, headers: { "retry-after": "2" }, body: {...} }`.
   */
  failNext(...replies: FakeReply[]): void {
    this.#failures.push(...replies);
  }

  /**
   * Resolves once a request matching `predicate` has been received.
   *
   * @param predicate - Tests a request.
   * @param timeoutMs - Gives up after this long.
   * @returns The first matching request.
   */
  async waitFor(
    predicate: (request: RecordedRequest) => boolean,
    timeoutMs = 5000,
  ): Promise<RecordedRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.requests.find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching request within ${timeoutMs} ms (got ${this.requests.map((r) => `${r.method} ${r.path}`).join(", ") || "none"})`,
        );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Stops the server and drops held connections. */
  async close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.#held.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://fake");
    let json: unknown;
    try {
      json = body === "" ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, value]) => [
          k,
          Array.isArray(value) ? value.join(", ") : (value ?? ""),
        ]),
      ),
      body,
      json,
    };
    this.requests.push(recorded);
    this.#held.add(res);
    res.once("close", () => this.#held.delete(res));
    let reply: FakeReply;
    if (this.#failures.length > 0) reply = this.#failures.shift();
    else {
      const route = this.#routes.find(
        ([method, path]) =>
          method === recorded.method &&
          (path.endsWith("*") ? recorded.path.startsWith(path.slice(0, -1)) : recorded.path === path),
      );
      reply =
        route === undefined
          ? { status: 404, body: { error: `no fake route for ${recorded.method} ${recorded.path}` } }
          : await route[2](recorded, req);
    }
    if (res.destroyed) return;
    const status = reply?.status ?? 200;
    const payload = reply?.body;
    const text = payload === undefined ? "" : typeof payload === "string" ? payload : JSON.stringify(payload);
    res.writeHead(status, {
      "content-type": typeof payload === "string" ? "text/plain" : "application/json",
      ...reply?.headers,
    });
    res.end(text);
  }
}

/**
 * Builds a {@link WebhookRequest} as the gateway would hand it to a plugin.
 *
 * @param options - Body (object → JSON), headers, method, path, query.
 * @returns The request.
 */
export function webhookRequest(options: {
  body: unknown;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  query?: Record<string, string>;
}): WebhookRequest {
  const text = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  return {
    method: options.method ?? "POST",
    path: options.path ?? "/",
    headers: Object.fromEntries(
      Object.entries({ "content-type": "application/json", ...options.headers }).map(([k, value]) => [
        k.toLowerCase(),
        value,
      ]),
    ),
    query: options.query ?? {},
    body: new TextEncoder().encode(text),
  };
}
