import type { IncomingMessage, ServerResponse } from "node:http";
import type { ResponseStore } from "@openclaw/backend";
import type { Config } from "@openclaw/config";
import type { Context } from "hono";
import { type AgentRunContext, type ChatAgent, chatAgent } from "../agents";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import { OpenAiError } from "./errors";
import type { AbortWatch } from "./upstream";

/** What the `/v1` routes need from the gateway: a narrow view, not the whole server. */
export interface OpenAiHost {
  /** The current config (agents, `gateway.maxBodyBytes`, `openai`). */
  config(): Config;
  readonly logger: Logger;
  /** When the gateway started (the models' `created`). */
  readonly startedAt: number;
  /** The registry, `agent.chunk` subscription and abort signal an agent run needs. */
  agentContext(signal: AbortSignal): AgentRunContext;
  /** Where `/v1/responses` are stored (shared by a cluster). @defaultValue one in memory */
  readonly responseStore?: ResponseStore;
  /** Where agent runs are counted (`undefined` when `metrics.enabled` is off). */
  readonly metrics?: Pick<Metrics, "agentRunEnded"> | undefined;
}

/** The agent names clients may ask for, once each: `echo` (always there) and `agents.list`. */
export function agentNames(config: Config): string[] {
  return [...new Set(["echo", ...Object.keys(config.agents.list)])];
}

/**
 * The agent a request's `model` names.
 *
 * @throws {@link OpenAiError} 404 `model_not_found` (param `model`) listing the agents.
 */
export function resolveAgent(config: Config, model: string): ChatAgent {
  const agent = Object.hasOwn(config.agents.list, model)
    ? config.agents.list[model]
    : model === "echo"
      ? ECHO
      : undefined;
  if (agent === undefined)
    throw new OpenAiError(
      "not_found_error",
      `The model '${model}' does not exist (models are the gateway's agents)`,
      {
        param: "model",
        code: "model_not_found",
        details: { models: agentNames(config) },
      },
    );
  // One ChatAgent per config entry and name, made once: a config reload makes new entries.
  let byName = resolved.get(agent);
  if (byName === undefined) {
    byName = new Map();
    resolved.set(agent, byName);
  }
  let chat = byName.get(model);
  if (chat === undefined) {
    chat = chatAgent(agent, model);
    byName.set(model, chat);
  }
  return chat;
}

const ECHO = Object.freeze({ provider: "echo" } as const);
const resolved = new WeakMap<object, Map<string, ChatAgent>>();

/** The Node request and response behind a request: `getRequestListener` puts them in `c.env`. */
export function nodeOf(c: Context): { incoming: IncomingMessage; outgoing: ServerResponse } {
  return c.env as { incoming: IncomingMessage; outgoing: ServerResponse };
}

/**
 * Notices a client that goes away before its response is finished: one `close` listener, and no
 * `AbortController` until something asks for {@link ClientGone.signal} (Node 20 builds an
 * `EventTarget` per signal, a few µs a request). An upstream agent watches it through
 * {@link AbortWatch} and never makes the signal.
 */
export class ClientGone implements AbortWatch {
  #aborted = false;
  #controller: AbortController | undefined;
  #listeners: Array<() => void> | undefined;

  /** @param outgoing - The response whose early `close` means the client went away. */
  constructor(outgoing: ServerResponse) {
    outgoing.once("close", () => {
      if (!outgoing.writableFinished) this.#abort();
    });
  }

  /** Whether the client went away. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** An abort signal that fires when the client goes away (made on first use). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  /**
   * Calls `listener` once when the client goes away.
   *
   * @param _type - `"abort"`, as on an `AbortSignal`.
   * @param listener - Called at most once.
   */
  addEventListener(_type: "abort", listener: () => void): void {
    if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
  }

  /**
   * Forgets a listener.
   *
   * @param _type - `"abort"`.
   * @param listener - As given to {@link ClientGone.addEventListener}.
   */
  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const at = listeners.indexOf(listener);
    if (at !== -1) listeners.splice(at, 1);
  }

  #abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}

/**
 * An agent run's context for a `/v1` request: its `signal` (and the registry, for node agents)
 * made only when an agent uses them; {@link AgentRunContext.abortWatch} is the client's
 * {@link ClientGone}.
 *
 * @param host - The gateway.
 * @param gone - The request's client watch.
 * @returns The context.
 */
export function runContext(host: OpenAiHost, gone: ClientGone): AgentRunContext {
  return new LazyRunContext(host, gone);
}

/** {@link runContext}'s context: a class, so that its getters are not made per request. */
class LazyRunContext implements AgentRunContext {
  #base: AgentRunContext | undefined;

  constructor(
    private readonly host: OpenAiHost,
    readonly abortWatch: ClientGone,
  ) {}

  get registry(): AgentRunContext["registry"] {
    return this.#full().registry;
  }

  get signal(): AbortSignal {
    return this.abortWatch.signal;
  }

  onChunks(runId: string, listener: (delta: string, done: boolean) => void): () => void {
    return this.#full().onChunks(runId, listener);
  }

  #full(): AgentRunContext {
    this.#base ??= this.host.agentContext(this.abortWatch.signal);
    return this.#base;
  }
}
