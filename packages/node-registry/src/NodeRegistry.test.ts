import type { AddressInfo } from "node:net";
import {
  encodeError,
  encodeEvent,
  encodeResult,
  ProtocolError,
  parseFrame,
  type RequestFrame,
} from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { NodeRegistry } from "./NodeRegistry";
import { NodeRegistryError } from "./NodeRegistryError";
import type { NodeSocket } from "./NodeSocket";

/** A transport that records what the registry sends (a stand-in for a connection, not for our code). */
class MemorySocket implements NodeSocket {
  readonly sent: RequestFrame[] = [];
  closed: { code?: number | undefined; reason?: string | undefined } | undefined;
  bufferedAmount = 0;
  failSends = false;
  send(data: string): void {
    if (this.failSends) throw new Error("socket is closed");
    const parsed = parseFrame(data);
    if (!parsed.ok || parsed.frame.type !== "req") throw new Error(`registry sent a bad frame: ${data}`);
    this.sent.push(parsed.frame);
  }
  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }
  get last(): RequestFrame {
    const frame = this.sent.at(-1);
    if (frame === undefined) throw new Error("nothing sent");
    return frame;
  }
}

const settle = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("NodeRegistry in memory", () => {
  let registry: NodeRegistry;
  let clock: number;
  beforeEach(() => {
    clock = 1_000;
    registry = new NodeRegistry({ now: () => clock++ });
  });
  afterEach(() => registry.close());

  it("invokes a node and resolves with its result", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, ["agent.run"]);
    const call = registry.invoke("phone", "agent.run", { input: "hi" });
    expect(socket.last).toMatchObject({ type: "req", method: "agent.run", data: { input: "hi" } });
    expect(registry.receive("phone", encodeResult(socket.last.id, { output: "hello" }))).toBe("settled");
    await expect(call).resolves.toEqual({ output: "hello" });
    expect(registry.pendingCount()).toBe(0);
  });

  it("rejects with the node's own typed error", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, ["camera.snap"]);
    const call = settle(registry.invoke("phone", "camera.snap"));
    registry.receive(
      "phone",
      encodeError(
        socket.last.id,
        new ProtocolError("FORBIDDEN", "camera permission denied", { details: { reason: "permission" } }),
      ),
    );
    const { error } = (await call) as { error: ProtocolError };
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({
      code: "FORBIDDEN",
      message: "camera permission denied",
      details: { reason: "permission" },
    });
  });

  it("accepts an already parsed response", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const call = registry.invoke("phone", "x");
    expect(registry.receive("phone", { type: "res", id: socket.last.id, data: 7, error: null })).toBe(
      "settled",
    );
    await expect(call).resolves.toBe(7);
  });

  it("fails with NODE_OFFLINE for a node that is not connected", async () => {
    const { error } = (await settle(registry.invoke("ghost", "agent.run"))) as { error: NodeRegistryError };
    expect(error).toBeInstanceOf(NodeRegistryError);
    expect(error).toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "not_connected", nodeId: "ghost" },
    });
    expect(error.details?.nextStep).toBeTruthy();
  });

  it("fails every pending call the moment the node disconnects, leaving nothing behind", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const calls = Array.from({ length: 5 }, (_, i) =>
      settle(registry.invoke("phone", "slow", { i }, { timeoutMs: 600_000 })),
    );
    expect(registry.pendingCount("phone")).toBe(5);
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    expect(registry.unregister("phone")).toBe(true);
    for (const outcome of await Promise.all(calls)) {
      expect((outcome as { error: unknown }).error).toMatchObject({
        code: "NODE_OFFLINE",
        details: { reason: "disconnected", nodeId: "phone" },
      });
    }
    expect(registry.pendingCount()).toBe(0);
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(before - 5);
    // A late answer from the gone node is harmless.
    expect(registry.receive("phone", encodeResult(socket.last.id, 1))).toBe("not-a-response");
  });

  it("times out, forgets the call, and recognises the late answer", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const { error } = (await settle(registry.invoke("phone", "slow", {}, { timeoutMs: 20 }))) as {
      error: NodeRegistryError;
    };
    expect(error).toMatchObject({
      code: "TIMEOUT",
      details: { reason: "node_timeout", method: "slow", timeoutMs: 20 },
    });
    expect(registry.pendingCount()).toBe(0);
    expect(registry.receive("phone", encodeResult(socket.last.id, "too late"))).toBe("late");
  });

  it("cancels through an AbortSignal", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const controller = new AbortController();
    const call = settle(registry.invoke("phone", "slow", {}, { signal: controller.signal }));
    controller.abort(new Error("caller went away"));
    expect(((await call) as { error: Error }).error.message).toBe("caller went away");
    expect(registry.pendingCount()).toBe(0);
    expect(registry.receive("phone", encodeResult(socket.last.id, 1))).toBe("late");
    await expect(
      registry.invoke("phone", "x", {}, { signal: AbortSignal.abort(new Error("already")) }),
    ).rejects.toThrow("already");
  });

  it("fails a call whose answer is malformed, and ignores junk without an id", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const call = settle(registry.invoke("phone", "x"));
    expect(registry.receive("phone", "not json at all")).toBe("malformed");
    expect(registry.receive("phone", new Uint8Array([0xff, 0xfe]))).toBe("malformed");
    expect(registry.pendingCount("phone")).toBe(1);
    expect(
      registry.receive("phone", JSON.stringify({ type: "res", id: socket.last.id, data: 1, error: "boom" })),
    ).toBe("malformed");
    const { error } = (await call) as { error: NodeRegistryError };
    expect(error).toMatchObject({
      code: "INVALID_FRAME",
      details: { reason: "malformed_response", nodeId: "phone" },
    });
    expect(error.cause).toBeInstanceOf(ProtocolError);
  });

  it("leaves events, requests and foreign ids to the caller", () => {
    registry.register("phone", new MemorySocket(), []);
    expect(registry.receive("phone", encodeEvent("agent.chunk", { runId: "r", index: 0, delta: "x" }))).toBe(
      "not-a-response",
    );
    expect(registry.receive("phone", JSON.stringify({ type: "req", id: "n-1", method: "ping" }))).toBe(
      "not-a-response",
    );
    expect(registry.receive("phone", encodeResult("someone-elses-id", 1))).toBe("not-a-response");
    expect(registry.receive("nobody", encodeResult("inv-1", 1))).toBe("not-a-response");
  });

  it("does not let one node answer another node's call", async () => {
    const a = new MemorySocket();
    registry.register("a", a, []);
    registry.register("b", new MemorySocket(), []);
    const call = registry.invoke("a", "x", {}, { timeoutMs: 30 });
    expect(registry.receive("b", encodeResult(a.last.id, "forged"))).toBe("not-a-response");
    await expect(call).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("replaces a re-registered node: old calls fail, the old socket is closed, the new one works", async () => {
    const events: string[] = [];
    registry.on("node.online", (node) => events.push(`online:${node.nodeId}`));
    registry.on("node.offline", ({ nodeId, reason }) => events.push(`offline:${nodeId}:${reason}`));
    const old = new MemorySocket();
    registry.register("phone", old, ["agent.run"]);
    const oldCall = settle(registry.invoke("phone", "agent.run"));
    const fresh = new MemorySocket();
    registry.register("phone", fresh, ["agent.run", "camera.snap"]);
    expect(((await oldCall) as { error: unknown }).error).toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "replaced" },
    });
    expect(old.closed?.reason).toBe("replaced by a newer connection");
    // The old connection's close handler must not remove the new registration.
    expect(registry.unregister("phone", "disconnected", old)).toBe(false);
    expect(registry.get("phone")?.capabilities).toEqual(["agent.run", "camera.snap"]);
    const call = registry.invoke("phone", "camera.snap");
    registry.receive("phone", encodeResult(fresh.last.id, "ok"));
    await expect(call).resolves.toBe("ok");
    expect(events).toEqual(["online:phone", "offline:phone:replaced", "online:phone"]);
  });

  it("refuses calls beyond maxPendingPerNode and while the node is not reading", async () => {
    const limited = new NodeRegistry({ maxPendingPerNode: 2, maxBufferedBytes: 100 });
    const socket = new MemorySocket();
    limited.register("phone", socket, []);
    const first = settle(limited.invoke("phone", "x"));
    const second = settle(limited.invoke("phone", "x"));
    await expect(limited.invoke("phone", "x")).rejects.toMatchObject({
      code: "RATE_LIMITED",
      details: { reason: "too_many_pending" },
    });
    socket.bufferedAmount = 1000;
    limited.unregister("phone");
    await Promise.all([first, second]);
    limited.register("phone", socket, []);
    await expect(limited.invoke("phone", "x")).rejects.toMatchObject({
      code: "RATE_LIMITED",
      details: { reason: "node_backpressure" },
    });
    limited.close();
  });

  it("validates its arguments with typed errors", async () => {
    const socket = new MemorySocket();
    expect(() => registry.register("", socket, [])).toThrow(
      expect.objectContaining({ code: "INVALID_PARAMS", details: { reason: "invalid_node_id" } }),
    );
    expect(() => registry.register("x".repeat(200), socket, [])).toThrow(NodeRegistryError);
    expect(() => registry.register("ok", socket, [42 as unknown as string])).toThrow(
      expect.objectContaining({ details: { reason: "invalid_capabilities" } }),
    );
    expect(() => registry.register("ok", socket, "agent.run" as unknown as string[])).toThrow(
      NodeRegistryError,
    );
    registry.register("ok", socket, []);
    await expect(registry.invoke("ok", "x", {}, { timeoutMs: -1 })).rejects.toMatchObject({
      code: "INVALID_PARAMS",
    });
    await expect(registry.invoke("ok", "x", {}, { timeoutMs: 10 ** 12 })).rejects.toMatchObject({
      code: "INVALID_PARAMS",
    });
    await expect(registry.invoke("ok", "x", { big: 10n })).rejects.toMatchObject({
      code: "INVALID_PARAMS",
      details: { reason: "unserialisable" },
    });
    const small = new NodeRegistry({ maxNodes: 1 });
    small.register("one", new MemorySocket(), []);
    expect(() => small.register("two", new MemorySocket(), [])).toThrow(
      expect.objectContaining({ code: "CONFLICT" }),
    );
    small.register("one", new MemorySocket(), []); // replacing does not count against the limit
  });

  it("fails the call when the socket refuses the send", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    socket.failSends = true;
    await expect(registry.invoke("phone", "x")).rejects.toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "send_failed" },
    });
    expect(registry.pendingCount()).toBe(0);
  });

  it("sends a call under the id it is given, and refuses an id already pending or out of bounds", async () => {
    const socket = new MemorySocket();
    registry.register("phone", socket, []);
    const call = registry.invoke("phone", "agent.run", { input: "hi" }, { id: "inv-from-a-7" });
    expect(socket.last.id).toBe("inv-from-a-7");
    await expect(registry.invoke("phone", "agent.run", {}, { id: "inv-from-a-7" })).rejects.toMatchObject({
      code: "INVALID_PARAMS",
      details: { reason: "invalid_call_id" },
    });
    for (const id of ["", "x".repeat(300)]) {
      await expect(registry.invoke("phone", "agent.run", {}, { id })).rejects.toMatchObject({
        details: { reason: "invalid_call_id" },
      });
    }
    expect(registry.receive("phone", encodeResult("inv-from-a-7", { output: "ok" }))).toBe("settled");
    await expect(call).resolves.toEqual({ output: "ok" });
    expect(registry.pendingCount()).toBe(0);
  });
});

describe("NodeRegistry with a reconnect grace period", () => {
  let registry: NodeRegistry;
  beforeEach(() => {
    registry = new NodeRegistry({ reconnectGraceMs: 200 });
  });
  afterEach(() => registry.close());

  it("re-delivers pending calls with the same ids to a node that comes back in time", async () => {
    const first = new MemorySocket();
    registry.register("phone", first, ["*"]);
    const a = registry.invoke("phone", "agent.run", { input: "a" });
    const b = registry.invoke("phone", "agent.run", { input: "b" });
    const ids = first.sent.map((f) => f.id);
    registry.unregister("phone", "disconnected", first);
    expect(registry.get("phone")).toBeUndefined();
    const second = new MemorySocket();
    registry.register("phone", second, ["*"]);
    expect(second.sent.map((f) => f.id)).toEqual(ids);
    expect(second.sent.map((f) => f.data)).toEqual([{ input: "a" }, { input: "b" }]);
    registry.receive("phone", encodeResult(ids[0]!, "A"));
    registry.receive("phone", encodeResult(ids[1]!, "B"));
    await expect(Promise.all([a, b])).resolves.toEqual(["A", "B"]);
    expect(registry.pendingCount()).toBe(0);
  });

  it("moves pending calls to a newer connection that replaces the old one", async () => {
    const first = new MemorySocket();
    registry.register("phone", first, ["*"]);
    const call = registry.invoke("phone", "agent.run", {});
    const second = new MemorySocket();
    registry.register("phone", second, ["*"]);
    expect(second.last.id).toBe(first.last.id);
    registry.receive("phone", encodeResult(second.last.id, "ok"));
    await expect(call).resolves.toBe("ok");
  });

  it("fails them with NODE_OFFLINE once the grace period is over, and keeps the call timeout", async () => {
    const first = new MemorySocket();
    registry.register("phone", first, ["*"]);
    const late = settle(registry.invoke("phone", "agent.run", {}));
    const quick = settle(registry.invoke("phone", "agent.run", {}, { timeoutMs: 50 }));
    registry.unregister("phone", "disconnected", first);
    expect(await quick).toMatchObject({ error: { code: "TIMEOUT" } });
    expect(await late).toMatchObject({
      error: {
        code: "NODE_OFFLINE",
        details: { reason: "disconnected", reconnectGraceMs: 200 },
      },
    });
    const again = new MemorySocket();
    registry.register("phone", again, ["*"]);
    expect(again.sent).toEqual([]);
  });

  it("uses request ids no other registry uses, so a node's dedupe by id survives a gateway restart", () => {
    const other = new NodeRegistry();
    const one = new MemorySocket();
    const two = new MemorySocket();
    registry.register("phone", one, ["*"]);
    other.register("phone", two, ["*"]);
    void settle(registry.invoke("phone", "x", {}));
    void settle(other.invoke("phone", "x", {}));
    expect(one.last.id).not.toBe(two.last.id);
    other.close();
  });
});

describe("NodeRegistry.resolve", () => {
  let registry: NodeRegistry;
  let clock: number;
  beforeEach(() => {
    clock = 1_000;
    registry = new NodeRegistry({ now: () => clock++ });
    registry.register("phone-1", new MemorySocket(), ["agent.run", "camera.snap"], {
      displayName: "Ana's Phone",
    });
    registry.register("laptop", new MemorySocket(), ["agent.run", "shell.exec"], {
      displayName: "Work laptop",
    });
    registry.register("tablet", new MemorySocket(), ["*"]);
  });
  afterEach(() => registry.close());

  it("finds a node by exact id or by display name, case-insensitively", () => {
    expect(registry.resolve("phone-1", "camera.snap")?.nodeId).toBe("phone-1");
    expect(registry.resolve("ana's phone", "camera.snap")?.nodeId).toBe("phone-1");
    expect(registry.resolve("WORK LAPTOP")?.nodeId).toBe("laptop");
  });

  it("requires the node to advertise the command (or *)", () => {
    expect(registry.resolve("laptop", "camera.snap")).toBeNull();
    expect(registry.resolve("tablet", "anything.at.all")?.nodeId).toBe("tablet");
    expect(registry.resolve("nobody", "agent.run")).toBeNull();
    expect(registry.resolve(undefined, undefined)).toBeNull();
  });

  it("without a target, picks the least busy capable node, then the newest, then the smallest id", async () => {
    // tablet is newest and handles everything
    expect(registry.resolve(undefined, "shell.exec")?.nodeId).toBe("tablet");
    const busy = settle(registry.invoke("tablet", "x", {}, { timeoutMs: 60_000 }));
    expect(registry.resolve(undefined, "agent.run")?.nodeId).toBe("laptop");
    expect(registry.resolve(undefined, "camera.snap")?.nodeId).toBe("phone-1");
    // Busy or not, tablet is the only node that handles everything.
    expect(registry.resolve(undefined, "unknown.cmd")?.nodeId).toBe("tablet");
    registry.unregister("tablet");
    await busy;
    expect(registry.resolve(undefined, "unknown.cmd")).toBeNull();
  });

  it("lists nodes newest first, as copies", () => {
    const nodes = registry.list();
    expect(nodes.map((n) => n.nodeId)).toEqual(["tablet", "laptop", "phone-1"]);
    nodes[0]!.capabilities.push("hacked");
    expect(registry.get("tablet")?.capabilities).toEqual(["*"]);
    expect(registry.get("phone-1")).toMatchObject({
      displayName: "Ana's Phone",
      client: { name: "unknown" },
    });
  });
});

describe("NodeRegistry over real ws on loopback", () => {
  let server: WebSocketServer;
  let registry: NodeRegistry;
  const nodes: WebSocket[] = [];

  /** Starts a node process stand-in: a ws client that answers requests with `answer`. */
  const connectNode = async (nodeId: string, answer: (frame: RequestFrame, ws: WebSocket) => void) => {
    const registered = new Promise<void>((resolve) => {
      const onOnline = (info: { nodeId: string }) => {
        if (info.nodeId === nodeId) {
          registry.off("node.online", onOnline);
          resolve();
        }
      };
      registry.on("node.online", onOnline);
    });
    const { port } = server.address() as AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?node=${nodeId}`);
    nodes.push(ws);
    ws.on("error", () => {});
    ws.on("message", (data) => {
      const parsed = parseFrame(data as Buffer);
      if (parsed.ok && parsed.frame.type === "req") answer(parsed.frame, ws);
    });
    await registered;
    return ws;
  };

  beforeEach(async () => {
    registry = new NodeRegistry();
    server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => server.once("listening", resolve));
    server.on("connection", (ws, request) => {
      const nodeId = new URL(request.url ?? "/", "http://x").searchParams.get("node") ?? "anonymous";
      registry.register(nodeId, ws, ["agent.run"]);
      ws.on("message", (data) => registry.receive(nodeId, data as Buffer));
      ws.on("close", () => registry.unregister(nodeId, "disconnected", ws));
    });
  });

  afterEach(async () => {
    for (const ws of nodes.splice(0)) ws.terminate();
    registry.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it("round-trips 1,000 concurrent invokes, each answered once and matched to its caller", async () => {
    await connectNode("echo", (frame, ws) => ws.send(encodeResult(frame.id, { echo: frame.data })));
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => registry.invoke("echo", "agent.run", { i })),
    );
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => ({ echo: { i } })));
    expect(registry.pendingCount()).toBe(0);
  });

  it("fails pending calls with NODE_OFFLINE when the node's connection drops mid-call", async () => {
    const ws = await connectNode("flaky", () => {});
    const call = settle(registry.invoke("flaky", "agent.run", {}, { timeoutMs: 600_000 }));
    await tick();
    ws.terminate();
    const { error } = (await call) as { error: unknown };
    expect(error).toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "disconnected", nodeId: "flaky" },
    });
    expect(registry.get("flaky")).toBeUndefined();
  });

  it("times out a node that never answers and ignores its late answer", async () => {
    let late: (() => void) | undefined;
    await connectNode("slow", (frame, ws) => {
      if (late === undefined) late = () => ws.send(encodeResult(frame.id, "late"));
      else ws.send(encodeResult(frame.id, "prompt"));
    });
    await expect(registry.invoke("slow", "agent.run", {}, { timeoutMs: 50 })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    late?.();
    // The next call's answer comes after the late one on the same socket: it has been handled by then.
    await expect(registry.invoke("slow", "agent.run", {}, { timeoutMs: 5000 })).resolves.toBe("prompt");
    expect(registry.pendingCount()).toBe(0);
  });

  it("fails the call of a node that answers with a malformed frame, and stays usable", async () => {
    let calls = 0;
    await connectNode("broken", (frame, ws) => {
      calls += 1;
      if (calls === 1) ws.send(`{"type":"res","id":"${frame.id}","data":1,"error":{"code":5}}`);
      else if (calls === 2) ws.send("}}garbage{{");
      else ws.send(encodeResult(frame.id, "fine"));
    });
    await expect(registry.invoke("broken", "agent.run")).rejects.toMatchObject({
      code: "INVALID_FRAME",
      details: { reason: "malformed_response" },
    });
    await expect(registry.invoke("broken", "agent.run", {}, { timeoutMs: 100 })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    await expect(registry.invoke("broken", "agent.run")).resolves.toBe("fine");
  });

  it("re-registration over a second connection replaces the first", async () => {
    const first = await connectNode("phone", () => {});
    const pending = settle(registry.invoke("phone", "agent.run", {}, { timeoutMs: 600_000 }));
    await tick();
    const closed = new Promise((resolve) => first.once("close", resolve));
    await connectNode("phone", (frame, ws) => ws.send(encodeResult(frame.id, "from the new one")));
    expect(((await pending) as { error: unknown }).error).toMatchObject({
      code: "NODE_OFFLINE",
      details: { reason: "replaced" },
    });
    await closed;
    await tick();
    expect(registry.size).toBe(1);
    await expect(registry.invoke("phone", "agent.run")).resolves.toBe("from the new one");
  });
});
