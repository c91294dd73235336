import * as v from "valibot";
import {
  ClientInfoSchema,
  DurationMsSchema,
  IdempotencyKeySchema,
  IdSchema,
  TimestampSchema,
} from "./common";

const CommandSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(128));

/** A connected node as the registry sees it. */
export const NodeInfoSchema = v.object({
  nodeId: IdSchema,
  displayName: v.optional(v.string()),
  capabilities: v.array(v.string()),
  client: ClientInfoSchema,
  connectedAt: TimestampSchema,
});

/** `node.list` result. */
export const NodeListResultSchema = v.object({ nodes: v.array(NodeInfoSchema) });

/** `node.invoke` params: call `method` on a node and wait for its answer. */
export const NodeInvokeParamsSchema = v.object({
  /** Node id or display name; omitted → any node advertising `method`. */
  node: v.optional(IdSchema),
  method: CommandSchema,
  data: v.optional(v.unknown()),
  timeoutMs: v.optional(v.pipe(DurationMsSchema, v.minValue(1))),
  idempotencyKey: v.optional(IdempotencyKeySchema),
});

/** `node.invoke` result: the node's answer, untouched. */
export const NodeInvokeResultSchema = v.object({
  nodeId: IdSchema,
  result: v.unknown(),
});

/**
 * `agent.run` params. With the frame's `target` set, the run is forwarded to that node;
 * without it, the gateway runs the named agent itself.
 */
export const AgentRunParamsSchema = v.object({
  /** The agent to run; the gateway's default agent when omitted. */
  agent: v.optional(IdSchema),
  input: v.pipe(v.string(), v.minLength(1), v.maxLength(100_000)),
  /** Conversation or session the run belongs to. */
  sessionId: v.optional(IdSchema),
  /** Ask the agent to stream `agent.chunk` events while it runs. */
  stream: v.optional(v.boolean()),
  timeoutMs: v.optional(v.pipe(DurationMsSchema, v.minValue(1))),
  idempotencyKey: v.optional(IdempotencyKeySchema),
  /**
   * The whole conversation in OpenAI's chat format (`role`, text `content`, an assistant's
   * `tool_calls`, a tool result's `tool_call_id`), when the run comes from `/v1/chat/completions`
   * or `/v1/responses`; `input` is then its last user text.
   */
  messages: v.optional(v.pipe(v.array(v.looseObject({ role: v.string() })), v.maxLength(10_000))),
  /** Functions the agent may call, in OpenAI's `tools` format (`{type: "function", function: {name, parameters}}`). */
  tools: v.optional(v.pipe(v.array(v.looseObject({ type: v.string() })), v.maxLength(128))),
  /** OpenAI's `tool_choice`: `"none"`, `"auto"`, `"required"` or `{type: "function", function: {name}}`. */
  toolChoice: v.optional(v.unknown()),
});

/** A function call an agent asks for instead of (or after) answering: `arguments` is JSON text. */
export const AgentToolCallSchema = v.object({
  /** The call's id; the gateway makes one up when omitted. */
  id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(256))),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  arguments: v.optional(v.union([v.string(), v.record(v.string(), v.unknown())])),
});

/** `agent.run` result. Agents may add fields of their own, which pass through. */
export const AgentRunResultSchema = v.looseObject({
  runId: IdSchema,
  output: v.string(),
  /** The node that ran it, for forwarded runs. */
  nodeId: v.optional(IdSchema),
  /** Functions the agent asks the caller to run (the answer's `finish_reason` is then `tool_calls`). */
  toolCalls: v.optional(v.pipe(v.array(AgentToolCallSchema), v.maxLength(128))),
  /** Why the output ended, in OpenAI's terms. */
  finishReason: v.optional(v.picklist(["stop", "length", "tool_calls", "content_filter"])),
  /** Tokens the agent counted; the gateway counts words otherwise. */
  usage: v.optional(
    v.object({
      promptTokens: v.pipe(v.number(), v.integer(), v.minValue(0)),
      completionTokens: v.pipe(v.number(), v.integer(), v.minValue(0)),
    }),
  ),
});

/** `agent.chunk` event: one piece of a streamed agent run. */
export const AgentChunkEventSchema = v.object({
  runId: IdSchema,
  index: v.pipe(v.number(), v.integer(), v.minValue(0)),
  delta: v.string(),
  done: v.optional(v.boolean()),
});

/** `node.online` event payload. */
export const NodeOnlineEventSchema = NodeInfoSchema;

/** `node.offline` event payload. */
export const NodeOfflineEventSchema = v.object({
  nodeId: IdSchema,
  reason: v.optional(v.picklist(["disconnected", "replaced", "revoked", "timeout", "shutdown"])),
});

/** A connected node. */
export type NodeInfo = v.InferOutput<typeof NodeInfoSchema>;
/** `agent.run` params. */
export type AgentRunParams = v.InferOutput<typeof AgentRunParamsSchema>;
/** `agent.run` result. */
export type AgentRunResult = v.InferOutput<typeof AgentRunResultSchema>;
/** A function call in an `agent.run` result. */
export type AgentToolCall = v.InferOutput<typeof AgentToolCallSchema>;
