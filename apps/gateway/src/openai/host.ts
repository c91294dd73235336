import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "@openclaw/config";
import type { Context } from "hono";
import { type AgentRunContext, type ChatAgent, chatAgent } from "../agents";
import type { Logger } from "../logging";
import { OpenAiError } from "./errors";

/** What the `/v1` routes need from the gateway: a narrow view, not the whole server. */
export interface OpenAiHost {
  /** The current config (agents, `gateway.maxBodyBytes`, `openai`). */
  config(): Config;
  readonly logger: Logger;
  /** When the gateway started (the models' `created`). */
  readonly startedAt: number;
  /** The registry, `agent.chunk` subscription and abort signal an agent run needs. */
  agentContext(signal: AbortSignal): AgentRunContext;
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

/** An abort signal that fires when the client goes away before the response is finished. */
export function clientGone(outgoing: ServerResponse): AbortSignal {
  const controller = new AbortController();
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  return controller.signal;
}
