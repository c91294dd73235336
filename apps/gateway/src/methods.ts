import { redact } from "@openclaw/config";
import {
  type MethodName,
  type MethodParams,
  type MethodResult,
  PROTOCOL_VERSION,
  ProtocolError,
  type RequestFrame,
  type TaskInfo,
} from "@openclaw/protocol";
import type { TaskFilters, TaskRecord } from "@openclaw/task-queue";
import type { Connection } from "./Connection";
import type { GatewayCore } from "./Gateway";
import { requireNode } from "./nodes";
import { cursorAfter, offsetOf } from "./paging";
import { GATEWAY_NAME, GATEWAY_VERSION } from "./version";

/** What a handler knows about the request besides its params. */
export interface HandlerContext {
  connection: Connection;
  frame: RequestFrame;
}

/** A handler per method (all but `connect`, which the gateway handles itself). */
export type MethodHandlers = {
  [M in Exclude<MethodName, "connect">]: (
    params: MethodParams<M>,
    context: HandlerContext,
  ) => Promise<MethodResult<M>> | MethodResult<M>;
};

/**
 * The gateway's methods, implemented through its packages.
 *
 * @param core - The gateway's state.
 * @returns The handler table.
 */
export function createMethodHandlers(core: GatewayCore): MethodHandlers {
  return {
    ping: (params) => (params.ts === undefined ? { ts: Date.now() } : { ts: Date.now(), echo: params.ts }),

    "system.status": () => {
      let operators = 0;
      let nodes = 0;
      let total = 0;
      for (const connection of core.connections()) {
        if (connection.state !== "ready") continue;
        total += 1;
        if (connection.role === "node") nodes += 1;
        else operators += 1;
      }
      return {
        server: { name: GATEWAY_NAME, version: GATEWAY_VERSION },
        protocol: PROTOCOL_VERSION,
        startedAt: core.startedAt,
        uptimeMs: Date.now() - core.startedAt,
        connections: { total, operators, nodes },
        channels: core.channels.statuses().map(({ name, state }) => ({ name, state })),
        nodes: core.registry.size,
        tasks: {
          scheduled: core.tasks.list({ status: "scheduled" }).length,
          running: core.tasks.runningCount,
        },
      };
    },

    "message.send": (params, { connection }) => core.sendMessage(params, connection),

    "message.broadcast": async (params, { connection }) => {
      const results: MethodResult<"message.broadcast">["results"] = [];
      for (const recipient of params.recipients) {
        const single: MethodParams<"message.send"> = { recipient };
        if (params.channel !== undefined) single.channel = params.channel;
        if (params.text !== undefined) single.text = params.text;
        if (params.content !== undefined) single.content = params.content;
        try {
          const sent = await core.sendMessage(single, connection);
          const entry: MethodResult<"message.broadcast">["results"][number] = {
            recipient,
            ok: true,
            channel: sent.channel,
            status: sent.status,
          };
          if (sent.messageId !== undefined) entry.messageId = sent.messageId;
          if (sent.deliveryId !== undefined) entry.deliveryId = sent.deliveryId;
          results.push(entry);
        } catch (error) {
          const failure =
            error instanceof ProtocolError ? error : new ProtocolError("INTERNAL", "send failed");
          results.push({ recipient, ok: false, error: { code: failure.code, message: failure.message } });
        }
      }
      return { results };
    },

    "delivery.list": (params) => ({
      deliveries: core.deliveries.list(params),
      counts: core.deliveries.counts(),
    }),

    "delivery.retry": async (params) => {
      const delivery = await core.deliveries.retry(params.id);
      if (delivery === undefined)
        throw new ProtocolError("NOT_FOUND", `no queued or dead-lettered message ${params.id}`, {
          details: { reason: "unknown_delivery", nextStep: "list them with delivery.list" },
        });
      return { delivery };
    },

    "delivery.drop": async (params) => ({ dropped: await core.deliveries.drop(params.id) }),

    "channel.list": () => ({
      channels: core.channels
        .statuses()
        .map(({ name, plugin, state, capabilities }) => ({ name, plugin, state, capabilities })),
    }),

    "channel.status": (params) => {
      const statuses = core.channels.statuses();
      if (params.channel === undefined) return { channels: statuses };
      const one = statuses.filter((status) => status.name === params.channel);
      if (one.length === 0)
        throw new ProtocolError("NOT_FOUND", `channel ${params.channel} is not configured`, {
          details: { reason: "unknown_channel" },
        });
      return { channels: one };
    },

    "agent.run": (params, { frame }) => core.runAgent(params, frame.target),

    "node.list": () => ({ nodes: core.registry.list() }),

    "node.invoke": async (params) => {
      const node = requireNode(core.registry, params.node, params.method);
      const options = params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs };
      const result = await core.registry.invoke(node.nodeId, params.method, params.data, options);
      return { nodeId: node.nodeId, result };
    },

    "pairing.start": (params, { connection }) => {
      if (connection.role !== "node")
        throw new ProtocolError("FORBIDDEN", "only nodes pair", { details: { reason: "not_a_node" } });
      const wait = connection.pairingLimiter?.take() ?? 0;
      if (wait > 0)
        throw new ProtocolError("RATE_LIMITED", "too many pairing requests on this connection", {
          details: { reason: "pairing_rate_limit", retryAfterMs: wait },
        });
      const request = core.pairing.start(params, connection.client!, {
        connectionId: connection.id,
        source: connection.remoteAddress,
      });
      core.broadcast("pairing.requested", request);
      return {
        status: "pending",
        expiresAt: request.expiresAt,
        nextStep: `approve code ${request.code} with \`openclaw pair approve ${request.code}\``,
      };
    },

    "pairing.approve": async (params, { connection }) => {
      const { request, deviceToken, connectionId } = await core.pairing.approve(
        params.code,
        principalOf(connection),
      );
      const device = core.connection(connectionId);
      if (device !== undefined)
        core.sendTo(device, "pairing.approved", { code: request.code, nodeId: request.nodeId, deviceToken });
      // Other devices waiting to pair hear nothing of this one; operators hear it without the token.
      core.broadcast(
        "pairing.approved",
        { code: request.code, nodeId: request.nodeId },
        { ...(device === undefined ? {} : { except: device }), scopes: ["operator.read"] },
      );
      return { nodeId: request.nodeId, approvedAt: Date.now() };
    },

    "pairing.reject": (params, { connection }) => {
      const { request, connectionId } = core.pairing.reject(params.code, principalOf(connection));
      const event =
        params.reason === undefined
          ? { code: request.code, nodeId: request.nodeId }
          : { code: request.code, nodeId: request.nodeId, reason: params.reason };
      const device = core.connection(connectionId);
      if (device !== undefined) core.sendTo(device, "pairing.rejected", event);
      core.broadcast("pairing.rejected", event, {
        ...(device === undefined ? {} : { except: device }),
        scopes: ["operator.read"],
      });
      return { rejected: true };
    },

    "pairing.list": () => ({ requests: core.pairing.list() }),

    "device.list": () => ({
      devices: core.pairing.devices((nodeId) => core.registry.get(nodeId) !== undefined),
    }),

    "device.revoke": async (params) => {
      const revoked = await core.pairing.revoke(params.nodeId);
      if (revoked) {
        for (const connection of core.connections()) {
          if (connection.nodeId === params.nodeId) {
            core.registry.unregister(params.nodeId, "revoked", connection.socket);
            connection.close(1008, "device revoked");
          }
        }
      }
      return { revoked };
    },

    "task.schedule": async (params) => {
      const { type, payload, name, timeoutMs, maxAttempts, idempotencyKey, ...when } = params;
      const task = {
        type,
        payload,
        ...(name === undefined ? {} : { name }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(maxAttempts === undefined ? {} : { maxAttempts }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      };
      const schedule = Object.fromEntries(Object.entries(when).filter(([, value]) => value !== undefined));
      const taskId = await core.tasks.schedule(task, schedule);
      return { taskId, nextRunAt: core.tasks.get(taskId)?.nextRunAt ?? null };
    },

    "task.execute": async (params) => {
      const outcome = await core.tasks.execute({
        type: params.type,
        payload: params.payload,
        ...(params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs }),
      });
      return outcome;
    },

    "task.cancel": async (params) => ({ cancelled: await core.tasks.cancel(params.taskId) }),

    "task.list": (params) => {
      const offset = offsetOf(params.cursor);
      const limit = params.limit ?? 100;
      const filters: TaskFilters = { offset, limit: limit + 1 };
      if (params.status !== undefined) filters.status = params.status;
      if (params.type !== undefined) filters.type = params.type;
      const page = core.tasks.list(filters);
      return {
        tasks: page.slice(0, limit).map(toTaskInfo),
        nextCursor: cursorAfter(offset, limit, page.length > limit),
      };
    },

    "binding.add": async (params) => {
      const id = core.router.bind(params);
      try {
        await core.saveBindings();
      } catch (error) {
        core.router.unbind(id); // not saved: not made
        throw error;
      }
      return { binding: core.router.get(id)! };
    },

    "binding.remove": async (params) => {
      const binding = core.router.get(params.id);
      const removed = core.router.unbind(params.id);
      if (removed) {
        try {
          await core.saveBindings();
        } catch (error) {
          if (binding !== undefined) core.router.bind(binding); // not saved: still bound
          throw error;
        }
      }
      return { removed };
    },

    "binding.list": (params) => ({
      bindings: params.userId === undefined ? core.router.list() : core.router.getBindings(params.userId),
    }),

    "route.resolve": (params) => core.router.resolve(params.recipient, params.context ?? {}),

    "config.get": (params) => {
      let config: unknown = redact(core.config.get());
      if (params.path !== undefined && params.path !== "") {
        for (const key of params.path.split(".")) {
          if (typeof config !== "object" || config === null || !Object.hasOwn(config, key)) {
            throw new ProtocolError("NOT_FOUND", `no config at ${params.path}`, {
              details: { reason: "unknown_path" },
            });
          }
          config = (config as Record<string, unknown>)[key];
        }
      }
      return { config, hash: core.config.hash, source: core.config.source, loadedAt: core.config.loadedAt };
    },

    "config.validate": (params) => {
      const result = core.config.validate(params.config);
      return result.valid ? { valid: true, issues: [] } : { valid: false, issues: result.issues };
    },

    "config.apply": async (params) => {
      const options =
        params.baseHash === undefined
          ? { mode: params.mode }
          : { mode: params.mode, baseHash: params.baseHash };
      const result = await core.config.apply(params.config, options);
      return { hash: result.hash, applied: result.applied, restartRequired: result.restartRequired };
    },

    "conversation.list": (params) => core.conversations.list(params),

    "conversation.history": (params) => {
      const history = core.conversations.history(
        params.channel,
        params.conversationId,
        params.since,
        params.limit,
      );
      if (history === undefined)
        throw new ProtocolError(
          "NOT_FOUND",
          `no conversation ${params.conversationId} on ${params.channel}`,
          { details: { reason: "unknown_conversation" } },
        );
      return { channel: params.channel, conversationId: params.conversationId, ...history };
    },
  };
}

function toTaskInfo(record: TaskRecord): TaskInfo {
  const info: TaskInfo = {
    taskId: record.id,
    type: record.type,
    status: record.status,
    nextRunAt: record.nextRunAt,
    attempts: record.attempts,
    createdAt: record.createdAt,
    schedule:
      record.schedule.kind === "cron"
        ? { kind: "cron", expression: `${record.schedule.expression} (${record.schedule.timezone})` }
        : record.schedule.kind === "every"
          ? { kind: "every", expression: `${record.schedule.intervalMs} ms` }
          : { kind: "once" },
  };
  if (record.name !== undefined) info.name = record.name;
  if (record.lastRunAt !== undefined) info.lastRunAt = record.lastRunAt;
  return info;
}

/** Who makes a pairing decision, for counting failures: the token level and the address. */
function principalOf(connection: Connection): string {
  return `${connection.grant ?? "unknown"}@${connection.remoteAddress}`;
}
