import { randomUUID } from "node:crypto";
import type { AgentConfig } from "@openclaw/config";
import type { NodeRegistry } from "@openclaw/node-registry";
import { ProtocolError } from "@openclaw/protocol";
import { requireNode } from "./nodes";

/** One chat message as the OpenAI API has it. */
export interface ChatTurn {
  role: string;
  content: string;
}

/** What an agent run needs besides the agent. */
export interface AgentRunContext {
  registry: NodeRegistry;
  /** Subscribes to a node's `agent.chunk` events for one run; returns the unsubscribe. */
  onChunks(runId: string, listener: (delta: string, done: boolean) => void): () => void;
  /** Aborted when the caller goes away: the upstream request is aborted too. */
  signal: AbortSignal;
}

/**
 * Runs an agent and yields its output as it is produced. One interface for every provider:
 * the built-in `echo` agent, an OpenAI-compatible upstream (streamed over SSE), and an agent hosted
 * on a node (its `agent.chunk` events, then its answer).
 *
 * @param agent - The agent's config.
 * @param name - The agent's name (for errors).
 * @param turns - The conversation; the last user turn is the input.
 * @param context - Registry, chunk subscription and abort signal.
 * @returns The text deltas, in order.
 */
export async function* streamAgent(
  agent: AgentConfig,
  name: string,
  turns: readonly ChatTurn[],
  context: AgentRunContext,
): AsyncGenerator<string> {
  const input = [...turns].reverse().find((turn) => turn.role === "user")?.content ?? "";
  if (agent.provider === "echo") {
    for (const piece of input.match(/\S+\s*|\s+/g) ?? []) yield piece;
    return;
  }
  if (agent.provider === "openai") {
    yield* streamUpstream(agent, name, turns, context.signal);
    return;
  }
  yield* streamFromNode(agent, input, context);
}

async function* streamUpstream(
  agent: Extract<AgentConfig, { provider: "openai" }>,
  name: string,
  turns: readonly ChatTurn[],
  signal: AbortSignal,
): AsyncGenerator<string> {
  const url = `${agent.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        ...(agent.apiKey === undefined ? {} : { authorization: `Bearer ${agent.apiKey}` }),
      },
      body: JSON.stringify({ model: agent.model, messages: turns, stream: true }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(agent.timeoutMs)]),
    });
  } catch (error) {
    if (signal.aborted) return;
    throw new ProtocolError(
      (error as Error).name === "TimeoutError" ? "TIMEOUT" : "CHANNEL_UNAVAILABLE",
      `agent ${name}: upstream unreachable`,
      { details: { reason: "upstream_unreachable" }, cause: error },
    );
  }
  if (!response.ok || response.body === null) {
    const detail = await response.text().catch(() => "");
    throw new ProtocolError(
      response.status === 429 ? "RATE_LIMITED" : "CHANNEL_UNAVAILABLE",
      `agent ${name}: upstream answered ${response.status}`,
      {
        details: { reason: "upstream_error", status: response.status, upstream: detail.slice(0, 500) },
      },
    );
  }
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        try {
          const delta = (JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> })
            .choices?.[0]?.delta?.content;
          if (typeof delta === "string" && delta !== "") yield delta;
        } catch {
          // a malformed line from the upstream: skip it
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function* streamFromNode(
  agent: Extract<AgentConfig, { provider: "node" }>,
  input: string,
  context: AgentRunContext,
): AsyncGenerator<string> {
  const node = requireNode(context.registry, agent.node, "agent.run");
  const runId = randomUUID();
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const unsubscribe = context.onChunks(runId, (delta, done) => {
    if (delta !== "") queue.push(delta);
    if (done) finished = true;
    wake?.();
  });
  let streamed = false;
  const call = context.registry
    .invoke(
      node.nodeId,
      "agent.run",
      { input, stream: true, runId },
      { timeoutMs: agent.timeoutMs, signal: context.signal },
    )
    .then(
      (result) => ({ ok: true as const, result: result as { output?: unknown } | null }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    .finally(() => {
      finished = true;
      wake?.();
    });
  try {
    for (;;) {
      while (queue.length > 0) {
        streamed = true;
        yield queue.shift()!;
      }
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    const outcome = await call;
    while (queue.length > 0) yield queue.shift()!;
    if (!outcome.ok) {
      if (context.signal.aborted) return;
      throw outcome.error;
    }
    // A node that does not stream answers with the whole output.
    if (!streamed && typeof outcome.result?.output === "string") yield outcome.result.output;
  } finally {
    unsubscribe();
  }
}
