import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { NO_REPLY, TestServer } from "../__fixtures__/TestServer";
import { ProtocolError } from "../errors";
import { GatewayClient, type GatewayClientOptions } from "./GatewayClient";

let server: TestServer;
const clients: GatewayClient[] = [];

const makeClient = (options: Partial<GatewayClientOptions> = {}) => {
  const client = new GatewayClient({
    url: server.url,
    token: "secret",
    WebSocket,
    client: { name: "test-cli", version: "1.0.0", platform: "test" },
    reconnect: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 },
    ...options,
  });
  clients.push(client);
  return client;
};

const until = (predicate: () => boolean, timeoutMs = 5000) =>
  vi.waitFor(
    () => {
      if (!predicate()) throw new Error("condition not met in time");
    },
    { timeout: timeoutMs, interval: 5 },
  );

/** Timers and sockets the process holds, by type. */
const resources = () => {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
};

beforeEach(async () => {
  server = await new TestServer().start();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await server.stop();
});

describe("GatewayClient handshake", () => {
  it("connects, sends connect first, and exposes the negotiated hello", async () => {
    const client = makeClient({ capabilities: ["agent.run"] });
    const hello = await client.connect();
    expect(hello.connectionId).toBe("c-1");
    expect(client.state).toBe("ready");
    expect(client.hello).toEqual(hello);
    expect(server.received[0]).toEqual({
      method: "connect",
      data: {
        role: "operator",
        client: { name: "test-cli", version: "1.0.0", platform: "test" },
        protocol: 1,
        token: "secret",
        capabilities: ["agent.run"],
      },
      target: undefined,
    });
  });

  it("rejects a wrong token with UNAUTHORIZED and does not retry", async () => {
    const client = makeClient({ token: "wrong" });
    const errors: ProtocolError[] = [];
    client.on("error", (error) => errors.push(error));
    const failure = await client.connect().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProtocolError);
    expect((failure as ProtocolError).code).toBe("UNAUTHORIZED");
    expect((failure as ProtocolError).details?.reason).toBe("token_mismatch");
    expect(client.state).toBe("closed");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.connects).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(["UNAUTHORIZED"]);
  });

  it("gives up after maxAttempts when nothing listens", async () => {
    const url = server.url;
    await server.stop();
    const client = makeClient({ url, reconnect: { initialDelayMs: 5, maxAttempts: 3, jitter: 0 } });
    const attempts: number[] = [];
    client.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    const failure = await client.connect().catch((error: unknown) => error);
    expect((failure as ProtocolError).code).toBe("CONNECTION_CLOSED");
    expect(attempts).toEqual([1, 2, 3]);
    expect(client.state).toBe("closed");
  });

  it("times out a handshake the server never answers", async () => {
    server.answerHandshake = false;
    const client = makeClient({ handshakeTimeoutMs: 100, reconnect: false });
    const started = Date.now();
    const failure = await client.connect().catch((error: unknown) => error);
    expect((failure as ProtocolError).code).toBe("CONNECTION_CLOSED");
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it("fails at once without a WebSocket implementation", async () => {
    // Node 22 and later have a global WebSocket, which the client would take: hide it here.
    vi.stubGlobal("WebSocket", undefined);
    try {
      const client = makeClient({ WebSocket: undefined as never });
      const failure = await client.connect().catch((error: unknown) => error);
      expect((failure as ProtocolError).details?.reason).toBe("no_websocket");
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe("GatewayClient requests", () => {
  it("resolves with the result and rejects with the typed error", async () => {
    server.handlers.set("node.list", () => ({ nodes: [] }));
    server.handlers.set("node.invoke", () => {
      throw new ProtocolError("NODE_OFFLINE", "node mobile-1 is offline", {
        details: { reason: "not_connected" },
      });
    });
    const client = makeClient();
    await client.connect();
    await expect(client.request("node.list")).resolves.toEqual({ nodes: [] });
    const failure = await client.request("node.invoke", { method: "x" }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProtocolError);
    expect(failure).toMatchObject({ code: "NODE_OFFLINE", details: { reason: "not_connected" } });
  });

  it("sends the frame-level target for forwarded calls", async () => {
    server.handlers.set("agent.run", () => ({ runId: "r-1", output: "done" }));
    const client = makeClient();
    await client.connect();
    await client.request("agent.run", { input: "hi" }, { target: "mobile-device-1" });
    expect(server.received.at(-1)).toEqual({
      method: "agent.run",
      data: { input: "hi" },
      target: "mobile-device-1",
    });
  });

  it("times out a request, forgets it, and ignores the late answer", async () => {
    let answerLate: (() => void) | undefined;
    server.handlers.set("node.list", (_data, socket) => {
      answerLate = () =>
        socket.send(
          JSON.stringify({ type: "res", id: server.lastRequestId, data: { nodes: [] }, error: null }),
        );
      return NO_REPLY;
    });
    const client = makeClient();
    await client.connect();
    const failure = await client.request("node.list", {}, { timeoutMs: 50 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "TIMEOUT", details: { reason: "request_timeout", timeoutMs: 50 } });
    expect(client.pendingCount).toBe(0);
    answerLate?.();
    await expect(client.request("ping")).resolves.toHaveProperty("ts");
  });

  it("validates results against the catalogue when asked", async () => {
    server.handlers.set("node.list", () => ({ nodes: "not an array" }));
    const client = makeClient({ validate: true });
    await client.connect();
    await expect(client.request("node.list")).rejects.toMatchObject({ code: "INVALID_FRAME" });
  });

  it("sends 1,000 concurrent requests and matches every response to its caller", async () => {
    server.handlers.set("ping", (data) => ({ ts: Date.now(), echo: (data as { ts: number }).ts }));
    const client = makeClient();
    await client.connect();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => client.request("ping", { ts: i })),
    );
    expect(results.map((r) => r.echo)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("queues requests made before connect and sends them after the handshake", async () => {
    const client = makeClient();
    const early = client.request("ping", { ts: 1 });
    await client.connect();
    await expect(early).resolves.toHaveProperty("ts");
    expect(server.received.map((r) => r.method)).toEqual(["connect", "ping"]);
  });

  it("refuses new requests beyond maxQueuedRequests while disconnected", async () => {
    const client = makeClient({ maxQueuedRequests: 2 });
    const queued = [client.request("ping"), client.request("ping")];
    await expect(client.request("ping")).rejects.toMatchObject({
      code: "CONNECTION_CLOSED",
      details: { reason: "queue_full" },
    });
    await client.connect();
    await Promise.all(queued);
  });

  it("reports a malformed server frame as an error event and keeps working", async () => {
    const client = makeClient();
    const errors: ProtocolError[] = [];
    client.on("error", (error) => errors.push(error));
    await client.connect();
    server.sendRaw("{not json");
    server.sendRaw(
      '{"type":"res","id":null,"data":null,"error":{"code":"INVALID_FRAME","message":"you sent junk"}}',
    );
    await until(() => errors.length === 2);
    expect(errors.map((e) => e.details?.reason ?? e.code)).toEqual(["invalid_json", "INVALID_FRAME"]);
    await expect(client.request("ping")).resolves.toHaveProperty("ts");
  });
});

describe("GatewayClient events", () => {
  it("delivers typed events to their listeners, and every event to 'event'", async () => {
    const client = makeClient();
    await client.connect();
    const received: string[] = [];
    const all: string[] = [];
    client.on("channel.message.received", ({ channel, message }) =>
      received.push(`${channel}:${message.text}`),
    );
    client.on("event", (frame) => all.push(frame.event));
    const off = client.on("tick", () => all.push("tick-listener"));
    off();
    server.broadcast("channel.message.received", { channel: "telegram", message: { text: "hi" } });
    server.broadcast("tick", { ts: 1 });
    server.broadcast("future.event", { x: 1 });
    await until(() => all.length === 3);
    expect(received).toEqual(["telegram:hi"]);
    expect(all).toEqual(["channel.message.received", "tick", "future.event"]);
  });

  it("drops events whose payload is invalid when validating", async () => {
    const client = makeClient({ validate: true });
    await client.connect();
    const ticks: unknown[] = [];
    const errors: ProtocolError[] = [];
    client.on("tick", (data) => ticks.push(data));
    client.on("error", (error) => errors.push(error));
    server.broadcast("tick", { ts: "yesterday" });
    server.broadcast("tick", { ts: 5 });
    await until(() => ticks.length === 1);
    expect(ticks).toEqual([{ ts: 5 }]);
    expect(errors[0]?.code).toBe("INVALID_FRAME");
  });
});

describe("GatewayClient as a node", () => {
  it("answers server requests with its handlers, and unknown ones with METHOD_NOT_FOUND", async () => {
    const client = makeClient({ role: "node" });
    client.handle("agent.run", (data) => ({
      runId: "r-1",
      output: `ran ${(data as { input: string }).input}`,
    }));
    client.handle("camera.snap", () => {
      throw new ProtocolError("FORBIDDEN", "camera permission denied");
    });
    await client.connect();
    server.requestClients("fwd-1", "agent.run", { input: "hello" });
    server.requestClients("fwd-2", "camera.snap", {});
    server.requestClients("fwd-3", "unknown.method", {});
    await until(() => server.responses.length === 3);
    const byId = Object.fromEntries((server.responses as Array<{ id: string }>).map((r) => [r.id, r]));
    expect(byId["fwd-1"]).toEqual({
      type: "res",
      id: "fwd-1",
      data: { runId: "r-1", output: "ran hello" },
      error: null,
    });
    expect(byId["fwd-2"]).toMatchObject({
      data: null,
      error: { code: "FORBIDDEN", message: "camera permission denied" },
    });
    expect(byId["fwd-3"]).toMatchObject({ error: { code: "METHOD_NOT_FOUND" } });
  });
});

describe("GatewayClient sendEvent", () => {
  it("sends event frames when connected, and reports false otherwise", async () => {
    const client = makeClient({ role: "node" });
    expect(client.sendEvent("agent.chunk", { runId: "r", index: 0, delta: "x" })).toBe(false);
    await client.connect();
    const received: unknown[] = [];
    for (const socket of server.sockets)
      socket.on("message", (data) => received.push(JSON.parse(String(data))));
    expect(client.sendEvent("agent.chunk", { runId: "r-1", index: 0, delta: "Hel" })).toBe(true);
    await until(() => received.length === 1);
    expect(received[0]).toEqual({
      type: "event",
      event: "agent.chunk",
      data: { runId: "r-1", index: 0, delta: "Hel" },
    });
  });
});

describe("GatewayClient reconnect", () => {
  it("reconnects after a server restart, re-handshakes, and sends what waited", async () => {
    const client = makeClient();
    const states: string[] = [];
    client.on("disconnected", ({ willReconnect }) => states.push(`disconnected:${willReconnect}`));
    client.on("reconnecting", ({ attempt }) => states.push(`reconnecting:${attempt}`));
    client.on("connected", (hello) => states.push(`connected:${hello.connectionId}`));
    await client.connect();

    server.handlers.set("node.list", () => NO_REPLY);
    const inFlight = client.request("node.list").catch((error: unknown) => error);
    await until(() => server.received.some((r) => r.method === "node.list"));
    await server.stop();
    // A request sent before the drop may have run: it fails and the caller decides.
    expect(await inFlight).toMatchObject({
      code: "CONNECTION_CLOSED",
      details: { reason: "connection_lost" },
    });
    // A request made while down waits for the new connection.
    const waiting = client.request("ping");
    await new Promise((resolve) => setTimeout(resolve, 60));
    await server.start();
    await expect(waiting).resolves.toHaveProperty("ts");
    expect(server.connects).toBe(2);
    expect(states[0]).toBe("connected:c-1");
    expect(states).toContain("disconnected:true");
    expect(states.at(-1)).toBe("connected:c-2");
    expect(client.state).toBe("ready");
  });

  it("treats a silent server as dead once heartbeats stop, and reconnects", async () => {
    server.heartbeatMs = 50;
    const client = makeClient();
    const disconnects: string[] = [];
    client.on("disconnected", ({ reason }) => disconnects.push(reason));
    await client.connect();
    await until(() => server.connects === 2, 3000);
    expect(disconnects[0]).toMatch(/no frame from the server/);
  });

  it("stays connected while the server sends ticks", async () => {
    // The client's heartbeat watch runs on fake time, advanced only once each tick has arrived, so
    // a busy machine that delays the sockets cannot make a tick look late.
    server.heartbeatMs = 40;
    const client = makeClient();
    await client.connect();
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    try {
      const ticks: number[] = [];
      client.on("tick", ({ ts }) => ticks.push(ts));
      for (let i = 0; i < 25; i++) {
        server.broadcast("tick", { ts: i });
        await vi.waitFor(() => expect(ticks).toContain(i), { timeout: 10_000, interval: 5 });
        vi.advanceTimersByTime(20); // half a heartbeat of silence between ticks: never too long
      }
      expect(server.connects).toBe(1);
      expect(client.state).toBe("ready");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("GatewayClient close", () => {
  it("rejects pending requests, refuses new ones, and leaves no timers or sockets behind", async () => {
    const before = resources();
    const client = makeClient({ requestTimeoutMs: 60_000 });
    server.heartbeatMs = 1000;
    await client.connect();
    server.handlers.set("node.list", () => NO_REPLY);
    const pending = client.request("node.list").catch((error: unknown) => error);
    await until(() => server.received.some((r) => r.method === "node.list"));
    await client.close();
    expect(await pending).toMatchObject({ code: "CONNECTION_CLOSED", details: { reason: "client_closed" } });
    await expect(client.request("ping")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    await expect(client.connect()).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(client.state).toBe("closed");
    expect(client.pendingCount).toBe(0);
    await until(() => server.sockets.size === 0);
    const after = resources();
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
    expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(before.TCPSocketWrap ?? 0);
  });

  it("stops a pending reconnect", async () => {
    const client = makeClient({ reconnect: { initialDelayMs: 10_000 } });
    await client.connect();
    const reconnecting = new Promise((resolve) => client.once("reconnecting", resolve));
    for (const socket of server.sockets) socket.terminate();
    await reconnecting;
    const before = resources().Timeout ?? 0;
    await client.close();
    expect(resources().Timeout ?? 0).toBeLessThan(before);
    expect(client.state).toBe("closed");
  });

  it("is safe to call twice and before connecting", async () => {
    const client = makeClient();
    await client.close();
    await client.close();
    expect(client.state).toBe("closed");
  });
});
