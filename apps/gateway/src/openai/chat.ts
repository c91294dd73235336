import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import type { ChatChunk } from "../agents";
import { readJsonBody } from "./body";
import { ChunkEncoder } from "./ChunkEncoder";
import { toOpenAiError } from "./errors";
import { clientGone, nodeOf, type OpenAiHost, resolveAgent } from "./host";
import { parseChatRequest } from "./params";
import { SseWriter } from "./sse";

/**
 * `POST /v1/chat/completions`: checks the request, runs the agent its `model` names, and answers
 * with a completion or, with `stream: true`, server-sent chunks ending with `data: [DONE]`. A
 * stream that fails after it started ends with an error event and no `[DONE]`.
 *
 * @param c - The request context.
 * @param host - The gateway.
 * @returns The response.
 */
export async function chatCompletions(c: Context, host: OpenAiHost): Promise<Response> {
  const config = host.config();
  const { incoming, outgoing } = nodeOf(c);
  const request = parseChatRequest(await readJsonBody(incoming, outgoing, config.gateway.maxBodyBytes));
  const agent = resolveAgent(config, request.model);
  agent.check(request);
  // Aborted when the client goes away: the agent (and its upstream request) stops too.
  const context = host.agentContext(clientGone(outgoing));
  if (request.stream !== true) return c.json(await agent.complete(request, context));
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
        return RESPONSE_ALREADY_SENT;
      }
      const batch = step.value;
      await (Array.isArray(batch) ? sse.sendAll(batch) : sse.sendEvents(batch));
    }
    await sse.send("[DONE]");
  } catch (error) {
    if (!context.signal.aborted) {
      const failure = toOpenAiError(error);
      host.logger.warn({ err: error, model: request.model }, "a streamed completion failed");
      await sse.send(JSON.stringify(failure.toJSON()));
    }
  } finally {
    sse.end();
  }
  return RESPONSE_ALREADY_SENT;
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
