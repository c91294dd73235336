import type { Context } from "hono";
import { OpenAiError } from "./errors";
import { agentNames, type OpenAiHost } from "./host";

/** One agent as an OpenAI model object. */
function model(id: string, host: OpenAiHost) {
  return { id, object: "model" as const, created: Math.floor(host.startedAt / 1000), owned_by: "openclaw" };
}

/**
 * `GET /v1/models`: the agents, once each.
 *
 * @param c - The request context.
 * @param host - The gateway.
 * @returns The list.
 */
export function listModels(c: Context, host: OpenAiHost): Response {
  return c.json({ object: "list", data: agentNames(host.config()).map((id) => model(id, host)) });
}

/**
 * `GET /v1/models/{id}`: one agent.
 *
 * @param c - The request context.
 * @param host - The gateway.
 * @returns The model object.
 * @throws {@link OpenAiError} 404 `model_not_found`.
 */
export function getModel(c: Context, host: OpenAiHost): Response {
  const id = c.req.param("id") ?? "";
  if (!agentNames(host.config()).includes(id))
    throw new OpenAiError("not_found_error", `The model '${id}' does not exist`, {
      param: "model",
      code: "model_not_found",
    });
  return c.json(model(id, host));
}
