import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN, type Harness, RawSocket, startGateway, TOKEN, until } from "./harness";

let h: Harness;
beforeEach(async () => {
  h = await startGateway();
});
afterEach(async () => {
  await h.stop();
});

describe("handshake and auth (SPEC.md section 2)", () => {
  it("answers connect with the negotiated protocol, server, connection id, role, scopes, methods, events and heartbeat", async () => {
    const socket = await h.raw();
    const res = await socket.connect();
    expect(res.error).toBeNull();
    expect(res.data).toMatchObject({
      protocol: 1,
      server: { name: "openclaw-gateway" },
      role: "operator",
      scopes: ["operator.read", "operator.write"],
      heartbeatMs: 60_000,
      limits: { maxFrameBytes: 1_048_576 },
    });
    const hello = res.data as { methods: string[]; events: string[]; connectionId: string };
    expect(hello.methods).toContain("message.send");
    expect(hello.methods).not.toContain("config.apply");
    expect(hello.events).toContain("channel.message.received");
    expect(hello.connectionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("grants the admin scope to the admin token only", async () => {
    const admin = await h.client({ token: ADMIN });
    expect(admin.hello?.scopes).toEqual(["operator.read", "operator.write", "operator.admin"]);
  });

  it("accepts the token as Authorization: Bearer on the upgrade", async () => {
    const socket = await h.raw({ authorization: `Bearer ${TOKEN}` });
    const res = await socket.connect({});
    expect(res.error).toBeNull();
  });

  it("refuses a wrong or missing token with UNAUTHORIZED, a reason and a next step, and closes with 1008", async () => {
    for (const data of [{ token: "wrong-token-0123456789" }, {}]) {
      const socket = await h.raw();
      const res = await socket.connect(data);
      expect(res.data).toBeNull();
      expect(res.error).toMatchObject({
        code: "UNAUTHORIZED",
        details: { reason: "token" in data ? "token_mismatch" : "token_missing" },
      });
      expect((res.error as { details: { nextStep: string } }).details.nextStep).toContain(
        "OPENCLAW_GATEWAY_TOKEN",
      );
      expect((await socket.waitClosed()).code).toBe(1008);
    }
  });

  it("refuses any other frame before connect and closes with 1008", async () => {
    const socket = await h.raw();
    const res = await socket.request("r1", "system.status");
    expect(res.error).toMatchObject({ code: "UNAUTHORIZED", details: { reason: "connect_first" } });
    expect((await socket.waitClosed()).code).toBe(1008);
  });

  it("closes a connection that never sends connect", async () => {
    await h.stop();
    h = await startGateway({ config: { gateway: { handshakeTimeoutMs: 150 } } });
    const socket = await h.raw();
    const closed = await socket.waitClosed();
    expect(closed.code).toBe(1008);
    expect(socket.frames[0]).toMatchObject({
      type: "res",
      id: null,
      error: { code: "UNAUTHORIZED", details: { reason: "handshake_timeout" } },
    });
  });

  it("refuses an unsupported protocol and invalid connect params", async () => {
    const socket = await h.raw();
    const res = await socket.connect({ token: TOKEN, protocol: 0 });
    expect(res.error).toMatchObject({
      code: "UNSUPPORTED_PROTOCOL",
      details: { reason: "protocol_too_old" },
    });
    const closed = await socket.waitClosed();
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe("unsupported protocol");
    const other = await h.raw();
    const invalid = await other.connect({ token: TOKEN, role: "king" });
    expect(invalid.error).toMatchObject({ code: "INVALID_PARAMS" });
    expect((await other.waitClosed()).code).toBe(1008);
  });

  it("refuses browser origins that are not allowed", async () => {
    await expect(RawSocket.open(h.url, { origin: "https://evil.example" })).rejects.toThrow(/403/);
  });
});

describe("typed errors for bad input, never a crash", () => {
  it("answers malformed frames after connect and keeps the connection", async () => {
    const socket = await h.raw();
    await socket.connect();
    socket.send("{not json");
    socket.send('{"type":"req","method":"ping"}');
    socket.send('{"type":"bogus","id":"x1"}');
    await until(() => socket.frames.length >= 4);
    const errors = socket.frames
      .slice(1)
      .map((frame) => (frame.error as { code: string; details: { reason: string } }).details.reason);
    expect(errors).toEqual(["invalid_json", "missing_id", "unknown_type"]);
    expect((socket.frames[3] as { id: unknown }).id).toBe("x1");
    expect(await socket.request("p", "ping")).toMatchObject({ error: null });
  });

  it("answers an unknown method, invalid params and a misplaced target with typed errors", async () => {
    const socket = await h.raw();
    await socket.connect();
    expect(await socket.request("a", "message.sned", {})).toMatchObject({
      data: null,
      error: { code: "METHOD_NOT_FOUND" },
    });
    expect(await socket.request("b", "message.send", { recipient: "" })).toMatchObject({
      error: { code: "INVALID_PARAMS" },
    });
    expect(await socket.request("c", "ping", {}, { target: "node-1" })).toMatchObject({
      error: { code: "INVALID_PARAMS", details: { reason: "target_not_allowed" } },
    });
    expect(await socket.request("d", "connect", {})).toMatchObject({ error: { code: "CONFLICT" } });
  });

  it("refuses binary frames", async () => {
    const socket = await h.raw();
    await socket.connect();
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await until(() => socket.frames.length === 2);
    expect(socket.frames[1]).toMatchObject({
      id: null,
      error: { code: "INVALID_FRAME", details: { reason: "binary_frame" } },
    });
  });

  it("closes the socket with 1009 for a frame over the size limit", async () => {
    const socket = await h.raw();
    await socket.connect();
    socket.send({ type: "req", id: "big", method: "ping", data: { pad: "x".repeat(2 * 1024 * 1024) } });
    expect((await socket.waitClosed()).code).toBe(1009);
  });

  it("refuses methods outside the connection's scopes with FORBIDDEN and a next step", async () => {
    const operator = await h.raw();
    await operator.connect();
    const res = await operator.request("x", "config.apply", { config: {} });
    expect(res.error).toMatchObject({
      code: "FORBIDDEN",
      details: { reason: "missing_scope", required: ["operator.admin"] },
    });
    expect((res.error as { details: { nextStep: string } }).details.nextStep).toContain(
      "OPENCLAW_ADMIN_TOKEN",
    );
    for (const method of ["binding.add", "binding.list", "pairing.approve", "device.revoke"]) {
      expect((await operator.request(method, method, {})).error).toMatchObject({
        code: expect.stringMatching(/FORBIDDEN|INVALID_PARAMS/),
      });
    }
  });

  it("rate-limits a flooding connection with RATE_LIMITED and retryAfterMs", async () => {
    await h.stop();
    h = await startGateway({ config: { security: { rateLimit: { requestsPerSecond: 5, burst: 5 } } } });
    const socket = await h.raw();
    await socket.connect();
    for (let i = 0; i < 20; i++) socket.send({ type: "req", id: `f${i}`, method: "ping" });
    await until(() => socket.frames.filter((f) => f.type === "res").length === 21);
    const limited = socket.frames.filter(
      (f) => (f.error as { code?: string } | null)?.code === "RATE_LIMITED",
    );
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect((limited[0]!.error as { details: { retryAfterMs: number } }).details.retryAfterMs).toBeGreaterThan(
      0,
    );
  });
});

describe("lifecycle", () => {
  it("sends tick heartbeats at the configured interval", async () => {
    await h.stop();
    h = await startGateway({ config: { heartbeat: { intervalMs: 1000 } } });
    const socket = await h.raw();
    await socket.connect();
    await until(() => socket.events("tick").length >= 1, 3000);
  });

  it("closes every socket with 1001 on shutdown", async () => {
    const socket = await h.raw();
    await socket.connect();
    await h.gateway.stop();
    expect((await socket.waitClosed()).code).toBe(1001);
  });

  it("serves /health and a /ready that reflects the channels", async () => {
    expect(await (await fetch(`${h.http}/health`)).json()).toMatchObject({ status: "ok" });
    const ready = await fetch(`${h.http}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      channels: [
        { name: "test", state: "ready" },
        { name: "webchat", state: "ready" },
      ],
    });
    await h.platform.close();
    const notFound = await fetch(`${h.http}/nope`);
    expect(notFound.status).toBe(401);
    expect(await notFound.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
  });
});
