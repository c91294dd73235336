import { performance } from "node:perf_hooks";
import type { ChatAgent, ChatChunk } from "../agents";
import type { Metrics } from "../metrics/Metrics";
import { toOpenAiError } from "./errors";

/** What a metered run reports. */
type Report = Pick<Metrics, "agentRunEnded">;

/** Tokens of an OpenAI `usage` object, when it has them. */
type Usage = { prompt: number; completion: number };

function usageOf(value: { usage?: { prompt_tokens?: number; completion_tokens?: number } | null }) {
  const usage = value.usage;
  return usage == null
    ? undefined
    : { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0 };
}

/** The outcome label of a failed run: its OpenAI error code (`upstream_error`, …) or protocol code. */
function failed(error: unknown): string {
  const code = toOpenAiError(error).code;
  return typeof code === "string" && code !== "" ? code : "error";
}

/**
 * Wraps a streamed run so that it reports once it ends: `ok` when it ran to its end, `cancelled`
 * when its reader stopped early (the client went away), the error's code when it threw.
 */
async function* meteredStream<T>(
  run: AsyncGenerator<T>,
  report: (outcome: string, firstOutputSeconds: number | undefined, usage: Usage | undefined) => void,
  usage?: (item: T) => Usage | undefined,
): AsyncGenerator<T> {
  const startedAt = performance.now();
  let first: number | undefined;
  let outcome = "cancelled";
  let seen: Usage | undefined;
  try {
    for await (const item of run) {
      first ??= (performance.now() - startedAt) / 1000;
      if (usage !== undefined) seen = usage(item) ?? seen;
      yield item;
    }
    outcome = "ok";
  } catch (error) {
    outcome = failed(error);
    throw error;
  } finally {
    report(outcome, first, seen);
  }
}

/**
 * The agent of a `/v1` request, counted in the agent-run metrics (`openclaw_agent_run_duration_seconds`,
 * `openclaw_agent_first_token_seconds`, `openclaw_agent_tokens_total`) as the gateway's own runs are:
 * outcome and duration always, the first output's latency for streams, tokens when a `usage` object
 * is reported (a completion's, or the last chunk's of a parsed stream; a stream passed on as text or
 * as an upstream's own event bytes is not parsed for it). A request refused before it runs is no
 * run. Without metrics, the agent itself.
 *
 * @param agent - The agent the request's `model` names.
 * @param metrics - The gateway's metrics, if on.
 * @returns The agent, metered.
 */
export function meteredAgent(agent: ChatAgent, metrics: Report | undefined): ChatAgent {
  if (metrics === undefined) return agent;
  const seconds = (startedAt: number) => (performance.now() - startedAt) / 1000;
  const reporter =
    (startedAt: number) => (outcome: string, first: number | undefined, usage: Usage | undefined) =>
      metrics.agentRunEnded(agent.name, outcome, seconds(startedAt), first, usage);
  const metered: ChatAgent = {
    name: agent.name,
    check: (request) => agent.check(request),
    stream: (request, context) =>
      meteredStream(agent.stream(request, context), reporter(performance.now()), (chunk: ChatChunk) =>
        usageOf(chunk),
      ),
    complete: async (request, context) => {
      const startedAt = performance.now();
      try {
        const result = await agent.complete(request, context);
        metrics.agentRunEnded(agent.name, "ok", seconds(startedAt), undefined, usageOf(result));
        return result;
      } catch (error) {
        metrics.agentRunEnded(agent.name, failed(error), seconds(startedAt));
        throw error;
      }
    },
  };
  if (agent.streamText !== undefined)
    metered.streamText = (request, context) =>
      meteredStream(agent.streamText!(request, context), reporter(performance.now()));
  if (agent.streamEvents !== undefined)
    metered.streamEvents = (request, context) =>
      meteredStream(agent.streamEvents!(request, context), reporter(performance.now()));
  return metered;
}
