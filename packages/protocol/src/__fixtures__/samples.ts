import type { EventData, EventName } from "../events";
import type { MethodName, MethodParamsInput, MethodResult } from "../methods";

const now = 1_764_000_000_000;
const client = { name: "openclaw-cli", version: "1.2.3", platform: "linux" };
const content = { text: "hello *world*", format: "markdown" as const };
const binding = {
  id: "b-1",
  level: "account" as const,
  match: { userId: "alice" },
  target: { channel: "telegram", address: "12345" },
  priority: 0,
  createdAt: now,
};
const conversation = {
  conversationId: "12345",
  channel: "telegram",
  peerId: "12345",
  messageCount: 3,
  lastSeq: 3,
  lastMessageAt: now,
};
const delivery = {
  id: "d-1",
  channel: "telegram",
  address: "12345",
  content: { text: "hello" },
  status: "dead" as const,
  attempts: 10,
  createdAt: now,
  lastError: { code: "RATE_LIMITED", message: "Too Many Requests", at: now },
};
const inbound = {
  id: "tg-99",
  channel: "telegram",
  conversationId: "12345",
  peerId: "12345",
  sender: { id: "12345", name: "Alice" },
  text: "hi there",
  timestamp: now,
  raw: { update_id: 1 },
};
const taskEvent = { taskId: "t-1", type: "message.send", attempt: 1 };
const pairingRequest = {
  code: "4821",
  nodeId: "mobile-device-1",
  publicKeyFingerprint: "ab".repeat(32),
  client: { name: "openclaw-ios", version: "1.0.0", platform: "ios" },
  requestedAt: now,
  expiresAt: now + 300_000,
};
const channelStatus = {
  name: "telegram",
  plugin: "telegram",
  state: "ready" as const,
  since: now,
  capabilities: ["text" as const, "markdown" as const],
};

/** One valid params and result per method: every method in the catalogue must have one. */
export const METHOD_SAMPLES: {
  [M in MethodName]: { params: MethodParamsInput<M>; result: MethodResult<M> };
} = {
  connect: {
    params: { role: "operator", client, protocol: 1, token: "secret-token" },
    result: {
      protocol: 1,
      server: { name: "openclaw-gateway", version: "0.1.0" },
      connectionId: "c-1",
      role: "operator",
      scopes: ["operator.read", "operator.write"],
      methods: ["ping"],
      events: ["tick"],
      heartbeatMs: 15_000,
      limits: { maxFrameBytes: 1_048_576 },
    },
  },
  ping: { params: { ts: now }, result: { ts: now, echo: now } },
  "system.status": {
    params: {},
    result: {
      server: { name: "openclaw-gateway", version: "0.1.0" },
      protocol: 1,
      startedAt: now,
      uptimeMs: 1000,
      connections: { total: 2, operators: 1, nodes: 1 },
      channels: [{ name: "telegram", state: "ready" }],
      nodes: 1,
      tasks: { scheduled: 0, running: 0 },
    },
  },
  "system.metrics": {
    params: {},
    result: {
      ts: now,
      connections: { operator: 2, node: 1 },
      frames: { in: 120, out: 140 },
      messages: { in: 10, out: 9, failed: 1 },
      requests: { bounds: [0.001, 0.01], counts: [80, 99, 100], count: 100, sum: 0.5 },
      agentRuns: { bounds: [0.001, 0.01], counts: [0, 0, 0], count: 0, sum: 0 },
      delivery: { depth: 0, oldestAgeSeconds: 0, deadLetters: 0 },
    },
  },
  "message.send": {
    params: { recipient: "alice", text: "hello" },
    result: {
      status: "sent",
      messageId: "m-1",
      deliveryId: "d-1",
      channel: "telegram",
      address: "12345",
      route: { level: "account", bindingId: "b-1" },
    },
  },
  "message.broadcast": {
    params: { recipients: ["alice", "bob"], content },
    result: {
      results: [
        { recipient: "alice", ok: true, channel: "telegram", messageId: "m-1" },
        { recipient: "bob", ok: false, error: { code: "NO_ROUTE", message: "no binding for bob" } },
      ],
    },
  },
  "delivery.list": {
    params: { status: "dead", limit: 10 },
    result: { deliveries: [delivery], counts: { pending: 0, dead: 1 } },
  },
  "delivery.retry": {
    params: { id: "d-1" },
    result: { delivery: { ...delivery, status: "pending", nextAttemptAt: now } },
  },
  "delivery.drop": { params: { id: "d-1" }, result: { dropped: true } },
  "channel.list": {
    params: {},
    result: { channels: [{ name: "telegram", plugin: "telegram", state: "ready", capabilities: ["text"] }] },
  },
  "channel.status": { params: { channel: "telegram" }, result: { channels: [channelStatus] } },
  "agent.run": {
    params: { input: "summarise my inbox", stream: true, idempotencyKey: "run-1" },
    result: { runId: "r-1", output: "You have 3 unread messages.", nodeId: "mobile-device-1", tokens: 42 },
  },
  "chat.send": {
    params: { conversationId: "web-1", text: "hello", agent: "echo", idempotencyKey: "send-1" },
    result: { conversationId: "web-1", messageId: "m-1", seq: 1, runId: "r-1", agent: "echo" },
  },
  "chat.abort": {
    params: { conversationId: "web-1", runId: "r-1" },
    result: { aborted: true, runId: "r-1" },
  },
  "chat.subscribe": {
    params: { conversationId: "web-1" },
    result: { conversationId: "web-1", running: { runId: "r-1", agent: "echo", text: "hel", nextIndex: 1 } },
  },
  "chat.unsubscribe": { params: { conversationId: "web-1" }, result: { unsubscribed: true } },
  "node.list": {
    params: {},
    result: { nodes: [{ nodeId: "mobile-device-1", capabilities: ["agent.run"], client, connectedAt: now }] },
  },
  "node.invoke": {
    params: { node: "mobile-device-1", method: "camera.snap", data: { quality: 0.8 }, timeoutMs: 5000 },
    result: { nodeId: "mobile-device-1", result: { ok: true } },
  },
  "pairing.start": {
    params: {
      code: "4821",
      publicKey: "MCowBQYDK2VwAyEAexamplepublickeybase64==",
      displayName: "Ana's phone",
    },
    result: {
      status: "pending",
      expiresAt: now + 300_000,
      nextStep: "approve code 4821 with `openclaw pair approve 4821`",
    },
  },
  "pairing.approve": { params: { code: "4821" }, result: { nodeId: "mobile-device-1", approvedAt: now } },
  "pairing.reject": { params: { code: "4821", reason: "not mine" }, result: { rejected: true } },
  "pairing.list": { params: {}, result: { requests: [pairingRequest] } },
  "device.list": {
    params: {},
    result: {
      devices: [{ nodeId: "mobile-device-1", publicKeyFingerprint: "ab", pairedAt: now, online: true }],
    },
  },
  "device.revoke": { params: { nodeId: "mobile-device-1" }, result: { revoked: true } },
  "task.schedule": {
    params: {
      type: "message.send",
      payload: { recipient: "alice", text: "standup" },
      cron: "0 9 * * 1-5",
      timezone: "Europe/Berlin",
    },
    result: { taskId: "t-1", nextRunAt: now + 60_000 },
  },
  "task.execute": {
    params: { type: "noop" },
    result: { taskId: "t-2", status: "completed", result: null, attempts: 1, durationMs: 3 },
  },
  "task.cancel": { params: { taskId: "t-1" }, result: { cancelled: true } },
  "task.list": {
    params: { status: "scheduled", limit: 10 },
    result: {
      tasks: [
        {
          taskId: "t-1",
          type: "message.send",
          status: "scheduled",
          nextRunAt: now,
          attempts: 0,
          createdAt: now,
        },
      ],
    },
  },
  "binding.add": {
    params: {
      level: "account",
      match: { userId: "alice" },
      target: { channel: "telegram", address: "12345" },
    },
    result: { binding },
  },
  "binding.remove": { params: { id: "b-1" }, result: { removed: true } },
  "binding.list": { params: { userId: "alice" }, result: { bindings: [binding] } },
  "route.resolve": {
    params: { recipient: "alice", context: { channel: "discord", guildId: "g-1" } },
    result: {
      channel: "telegram",
      address: "12345",
      level: "account",
      bindingId: "b-1",
      reason: "alice prefers telegram",
    },
  },
  "config.get": {
    params: {},
    result: { config: { gateway: { port: 18789 } }, hash: "abc", source: null, loadedAt: now },
  },
  "config.validate": {
    params: { config: { gateway: { port: "x" } } },
    result: { valid: false, issues: [{ path: "gateway.port", message: "expected number" }] },
  },
  "config.apply": {
    params: { config: { heartbeat: { intervalMs: 10_000 } }, mode: "merge", baseHash: "abc" },
    result: { hash: "def", applied: ["heartbeat"], restartRequired: [] },
  },
  "conversation.list": {
    params: { channel: "telegram", limit: 20 },
    result: { conversations: [conversation], nextCursor: null },
  },
  "conversation.history": {
    params: { channel: "telegram", conversationId: "12345", since: 1, limit: 50 },
    result: {
      channel: "telegram",
      conversationId: "12345",
      messages: [
        { seq: 2, direction: "in", messageId: "tg-99", content: { text: "hi there" }, timestamp: now },
      ],
      cursor: 2,
      hasMore: false,
    },
  },
};

/** One valid payload per event: every event in the catalogue must have one. */
export const EVENT_SAMPLES: { [E in EventName]: EventData<E> } = {
  tick: { ts: now },
  "channel.message.received": { channel: "telegram", message: inbound },
  "channel.message.sent": {
    channel: "telegram",
    messageId: "m-1",
    address: "12345",
    content,
    timestamp: now,
  },
  "channel.status": channelStatus,
  "delivery.failed": { delivery },
  "node.online": { nodeId: "mobile-device-1", capabilities: ["agent.run"], client, connectedAt: now },
  "node.offline": { nodeId: "mobile-device-1", reason: "disconnected" },
  "chat.chunk": { conversationId: "web-1", runId: "r-1", index: 0, delta: "hel" },
  "chat.run": { conversationId: "web-1", runId: "r-1", agent: "echo", status: "completed", messageId: "m-2" },
  "agent.chunk": { runId: "r-1", index: 0, delta: "You have", done: false },
  "task.started": taskEvent,
  "task.completed": { ...taskEvent, result: { ok: true } },
  "task.failed": { ...taskEvent, error: { code: "TIMEOUT", message: "took too long" }, willRetry: true },
  "task.cancelled": taskEvent,
  "config.reloaded": { hash: "def", applied: ["channels.telegram"], restartRequired: ["gateway.port"] },
  "config.invalid": {
    file: "/etc/openclaw/openclaw.json",
    issues: [{ path: "", message: "unexpected }", line: 3, column: 5 }],
  },
  "pairing.requested": pairingRequest,
  "pairing.approved": { code: "4821", nodeId: "mobile-device-1" },
  "pairing.rejected": { code: "4821", nodeId: "mobile-device-1", reason: "not mine" },
  "conversation.updated": {
    conversation,
    message: { seq: 3, direction: "out", messageId: "m-1", content: { text: "ok" }, timestamp: now },
  },
};
