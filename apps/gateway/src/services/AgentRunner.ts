import { randomUUID } from "node:crypto";
import { LocalNodes, type RemoteNodes } from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import type { NodeRegistry } from "@openclaw/node-registry";
import {
  type EventFrame,
  type MethodParams,
  type MethodResult,
  ProtocolError,
  parseEventData,
} from "@openclaw/protocol";
import { type AgentRunContext, type ChatTurn, streamAgent } from "../agents";
import type { EventSink } from "../broadcast/Broadcaster";
import type { Metrics } from "../metrics/Metrics";
import { callNode, requireNode } from "../nodes";
import { inSpan, tracingActive } from "../telemetry/tracing";

/**
 * How long an agent run may take when the request sets no `timeoutMs`.
 * @defaultValue 120000
 */
export const DEFAULT_AGENT_TIMEOUT_MS = 120_000;

/** What the agent runner needs. */
export interface AgentRunnerContext {
  /** The config in force (`agents`). */
  config(): Config;
  /** Nodes, for forwarded runs and node-backed agents. */
  readonly registry: NodeRegistry;
  /**
   * The other instances' nodes, for runs forwarded to a node another instance holds.
   * @defaultValue none (a started `LocalNodes`: this instance's nodes only)
   */
  readonly remoteNodes?: RemoteNodes | undefined;
  /** Where nodes' `agent.chunk` events are relayed. */
  readonly events: EventSink;
  /** Counts runs, their latency and tokens. @defaultValue none */
  readonly metrics?: Metrics | undefined;
}

/** Runs agents: on a node (`target`), or by name (echo, an OpenAI-compatible upstream, a node). */
export class AgentRunner {
  readonly #context: AgentRunnerContext;
  readonly #remoteNodes: RemoteNodes;
  readonly #runListeners = new Map<string, (delta: string, done: boolean) => void>();

  constructor(context: AgentRunnerContext) {
    this.#context = context;
    this.#remoteNodes =
      context.remoteNodes ?? new LocalNodes({ registry: context.registry, reconnectGraceMs: () => 0 });
  }

  /**
   * Runs an agent to the end and answers its whole output.
   *
   * @param params - The `agent.run` params.
   * @param target - The node to forward the run to, if any.
   */
  runAgent(
    params: MethodParams<"agent.run">,
    target: string | undefined,
  ): Promise<MethodResult<"agent.run">> {
    if (!tracingActive()) return this.#runAgent(params, target);
    const agent = params.agent ?? this.#context.config().agents.default;
    const attributes =
      target === undefined
        ? { "openclaw.agent": agent }
        : { "openclaw.agent": agent, "openclaw.node.target": target };
    return inSpan(`agent.run ${agent}`, attributes, async (span) => {
      const result = await this.#runAgent(params, target);
      span?.setAttribute("openclaw.outcome", "OK");
      span?.setAttribute("openclaw.agent.output_chars", result.output.length);
      return result;
    });
  }

  async #runAgent(
    params: MethodParams<"agent.run">,
    target: string | undefined,
  ): Promise<MethodResult<"agent.run">> {
    if (target !== undefined) {
      const remoteNodes = this.#remoteNodes;
      const node = requireNode({ registry: this.#context.registry, remoteNodes }, target, "agent.run");
      const result = (await callNode(remoteNodes, node, "agent.run", params, {
        timeoutMs: params.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
      })) as Record<string, unknown> | null;
      const output = typeof result?.output === "string" ? result.output : JSON.stringify(result ?? null);
      return {
        ...(result ?? {}),
        runId: typeof result?.runId === "string" ? result.runId : randomUUID(),
        output,
        nodeId: node.nodeId,
      };
    }
    const name = params.agent ?? this.#context.config().agents.default;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new ProtocolError("TIMEOUT", `agent ${name} ran past its time limit`)),
      params.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
    );
    try {
      let output = "";
      for await (const delta of this.streamAgent(
        name,
        [{ role: "user", content: params.input }],
        controller.signal,
      )) {
        output += delta;
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      return { runId: randomUUID(), output };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the named agent and yields its output as it comes: echo, OpenAI-compatible upstream or node.
   *
   * @throws `NOT_FOUND` for an unknown agent; the provider's typed errors otherwise.
   */
  streamAgent(name: string, turns: readonly ChatTurn[], signal: AbortSignal): AsyncGenerator<string> {
    const agents = this.#context.config().agents;
    const agent = agents.list[name] ?? (name === "echo" ? { provider: "echo" as const } : undefined);
    if (agent === undefined) {
      throw new ProtocolError("NOT_FOUND", `no agent named ${name}`, {
        details: { reason: "unknown_agent", agents: [...new Set(["echo", ...Object.keys(agents.list)])] },
      });
    }
    const run = streamAgent(agent, name, turns, this.agentContext(signal));
    return this.#context.metrics?.agentRun(name, turns, run) ?? run;
  }

  /** The registry, `agent.chunk` subscription and abort signal an agent run needs. */
  agentContext(signal: AbortSignal): AgentRunContext {
    return {
      registry: this.#context.registry,
      signal,
      onChunks: (runId, listener) => {
        this.#runListeners.set(runId, listener);
        return () => this.#runListeners.delete(runId);
      },
    };
  }

  /**
   * A node's event: its `agent.chunk`s, validated, go to the gateway's run waiting for them (a
   * node-hosted agent answering a chat, a channel or `/v1`, which passes them on to its own
   * audience only); the chunks of a run the gateway does not consume (`agent.run` with a `target`)
   * go to every operator.
   */
  receiveNodeEvent(frame: EventFrame): void {
    if (frame.event !== "agent.chunk") return;
    const chunk = parseEventData("agent.chunk", frame.data);
    if (!chunk.ok) return;
    const listener = this.#runListeners.get(chunk.value.runId);
    if (listener !== undefined) listener(chunk.value.delta, chunk.value.done === true);
    else this.#context.events.broadcast("agent.chunk", chunk.value);
  }
}
