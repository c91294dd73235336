import type { IncomingMessage, ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import type { ChatChunk } from "../agents";
import { readJsonBody } from "./body";
import { ChunkEncoder } from "./ChunkEncoder";
import { toOpenAiError } from "./errors";
import { ClientGone, nodeOf, type OpenAiHost, resolveAgent, runContext } from "./host";
import { meteredAgent } from "./metered";
import { parseChatRequest } from "./params";
import { SseWriter } from "./sse";

/**
 * `POST /v1/chat/completions` as a hono route: {@link serveChatCompletions} on the Node request
 * and response behind the context.
 *
 * @param c - The request context.
 * @param host - The gateway.
 * @returns {@link RESPONSE_ALREADY_SENT}: the answer (or its error) is written to the Node response.
 */
export async function chatCompletions(c: Context, host: OpenAiHost): Promise<Response> {
  const { incoming, outgoing } = nodeOf(c);
  await serveChatCompletions(incoming, outgoing, host);
  return RESPONSE_ALREADY_SENT;
}

/**
 * `POST /v1/chat/completions` on the Node request and response, without hono (the gateway's HTTP
 * listener calls it first for this route, after the token check: the router, the context and the
 * web `Request`/`Response` cost more than the rest of the request). Checks the request, runs the
 * agent its `model` names, and answers with a completion or, with `stream: true`, server-sent
 * chunks ending with `data: [DONE]`. A stream that fails after it started ends with an error event
 * and no `[DONE]`; a failure before it started is answered as OpenAI's JSON error. Never rejects.
 *
 * @param incoming - The Node request.
 * @param outgoing - Its response.
 * @param host - The gateway.
 */
export async function serveChatCompletions(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  host: OpenAiHost,
): Promise<void> {
  try {
    await complete(incoming, outgoing, host);
  } catch (error) {
    const failure = toOpenAiError(error);
    if (failure.status >= 500 && failure.code !== "upstream_error")
      host.logger.error({ err: error, path: incoming.url }, "an OpenAI-compatible request failed");
    if (outgoing.headersSent) outgoing.destroy();
    else writeJson(outgoing, failure.status, failure.toJSON(), failure.headers);
  }
}

/**
 * Writes a JSON answer (one write: head and body).
 *
 * @param res - The Node response.
 * @param status - The HTTP status.
 * @param body - The value to answer.
 * @param headers - More headers, e.g. `retry-after`.
 */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function complete(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  host: OpenAiHost,
): Promise<void> {
  const config = host.config();
  const request = parseChatRequest(await readJsonBody(incoming, outgoing, config.gateway.maxBodyBytes));
  const agent = meteredAgent(resolveAgent(config, request.model), host.metrics);
  agent.check(request);
  // Aborted when the client goes away: the agent (and its upstream request) stops too.
  const gone = new ClientGone(outgoing);
  const context = runContext(host, gone);
  if (request.stream !== true) {
    writeJson(outgoing, 200, await agent.complete(request, context));
    return;
  }
  const chunks: AsyncGenerator<string[] | Buffer | string> =
    agent.streamEvents?.(request, context) ??
    agent.streamText?.(request, context) ??
    encode(agent.stream(request, context));
  // Start the agent before answering, so that an immediate failure is a plain JSON error.
  const first = await chunks.next();
  const sse = new SseWriter(outgoing);
  try {
    for (let step = first; !step.done; step = await chunks.next()) {
      if (sse.closed) {
        await chunks.return(undefined);
        return;
      }
      const batch = step.value;
      await (Array.isArray(batch) ? sse.sendAll(batch) : sse.sendEvents(batch));
    }
    await sse.send("[DONE]");
  } catch (error) {
    if (!gone.aborted) {
      const failure = toOpenAiError(error);
      host.logger.warn({ err: error, model: request.model }, "a streamed completion failed");
      await sse.send(JSON.stringify(failure.toJSON()));
    }
  } finally {
    sse.end();
  }
}

/**
 * The built-in agents' chunks as JSON texts, one batch each, without a generator of its own (an
 * iterator that maps each step).
 */
function encode(chunks: AsyncGenerator<ChatChunk>): AsyncGenerator<string[]> {
  const encoder = new ChunkEncoder();
  const map = (step: IteratorResult<ChatChunk>): IteratorResult<string[]> =>
    step.done ? { done: true, value: undefined } : { done: false, value: [encoder.text(step.value)] };
  const iterator: AsyncGenerator<string[]> = {
    next: () => chunks.next().then(map),
    return: (value) => chunks.return(undefined).then(() => ({ done: true as const, value })),
    throw: (error) => chunks.throw(error).then(map),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
