import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChannelError, defineChannel, v } from "@openclaw/channel-sdk";
import { ConfigManager } from "@openclaw/config";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { createLogger, Gateway } from "../src/index";
import { ADMIN, type Harness, pairNode, RawSocket, startGateway, TOKEN } from "./harness";

// Hostile peers and faults (the hardening issue): each test reproduces one way an outsider could
// crash, lock out or exhaust the gateway, against a real gateway on real sockets.

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** A raw WebSocket from a chosen loopback address (127.x.y.z all reach the gateway on 127.0.0.1). */
async function rawFrom(url: string, localAddress: string, headers: Record<string, string> = {}) {
  return RawSocket.open(url, headers, { localAddress });
}

/** An upgrade the gateway refuses: its HTTP status, headers and JSON body. */
function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
  localAddress = "127.0.0.1",
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, localAddress });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
      );
    });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("error", () => {});
  });
}

/** An HTTP GET with a chosen Host header (fetch does not let a caller set it). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const pairingConnect = { role: "node" } as const;

describe("unauthenticated sockets cannot exhaust the gateway", () => {
  it("limits pairing sockets per address, keeps operators' slots, and closes them when their code would expire", async () => {
    h = await startGateway({
      config: { security: { pairing: { codeTtlMs: 1500, maxConnectionsPerSource: 4, maxConnections: 6 } } },
    });
    const held: RawSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = await rawFrom(h.url, "127.0.0.2");
      expect(await socket.connect(pairingConnect)).toMatchObject({ data: { scopes: ["pairing"] } });
      held.push(socket);
    }
    const fifth = await rawFrom(h.url, "127.0.0.2");
    const refused = await fifth.connect(pairingConnect);
    expect(refused.error).toMatchObject({
      code: "OVERLOADED",
      details: { reason: "too_many_pairing_connections_from_source" },
    });
    expect((await fifth.waitClosed()).code).toBe(1013);
    // Another address fills the total.
    for (const address of ["127.0.0.3", "127.0.0.3"]) {
      const socket = await rawFrom(h.url, address);
      expect(await socket.connect(pairingConnect)).toMatchObject({ data: { scopes: ["pairing"] } });
      held.push(socket);
    }
    // At the total, a new address takes the oldest slot of the busiest one (slots are shared fairly)…
    const newcomer = await rawFrom(h.url, "127.0.0.4");
    expect(await newcomer.connect(pairingConnect)).toMatchObject({ data: { scopes: ["pairing"] } });
    expect(await held.shift()!.waitClosed()).toEqual({ code: 1013, reason: "pairing slot reclaimed" });
    // …and an address holding about as many as the busiest is refused.
    const overTotal = await rawFrom(h.url, "127.0.0.3");
    expect((await overTotal.connect(pairingConnect)).error).toMatchObject({
      code: "OVERLOADED",
      details: { reason: "too_many_pairing_connections" },
    });
    // Operators are not affected by any of it.
    const operator = await h.client();
    await expect(operator.request("ping")).resolves.toMatchObject({ ts: expect.any(Number) });
    // A pairing socket lives as long as its code would.
    const closed = await vi.waitFor(
      () => {
        if (held[0]!.closed === undefined) throw new Error("still open");
        return held[0]!.closed;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(closed).toEqual({ code: 1008, reason: "pairing window expired" });
    expect(held[0]!.frames.at(-1)).toMatchObject({ error: { details: { reason: "pairing_expired" } } });
    // Their slots are free again.
    const again = await rawFrom(h.url, "127.0.0.2");
    expect(await again.connect(pairingConnect)).toMatchObject({ data: { scopes: ["pairing"] } });
  });

  it("refuses handshakes beyond the per-address limit and connections beyond the total with OVERLOADED, not SHUTTING_DOWN", async () => {
    h = await startGateway({ config: { gateway: { maxHandshakesPerSource: 3, maxConnections: 8 } } });
    for (let i = 0; i < 3; i++) await rawFrom(h.url, "127.0.0.5");
    const perSource = await refusedUpgrade(h.url, {}, "127.0.0.5");
    expect(perSource.status).toBe(503);
    expect(perSource.headers["retry-after"]).toBe("1");
    expect(perSource.body).toMatchObject({
      error: { code: "OVERLOADED", details: { reason: "too_many_handshakes_from_source" } },
    });
    // Another address still gets in, until the total is reached.
    const others: RawSocket[] = [];
    for (let i = 0; i < 5; i++) others.push(await rawFrom(h.url, `127.0.1.${i + 1}`));
    await others[0]!.connect();
    const total = await refusedUpgrade(h.url, {}, "127.0.0.7");
    expect(total.status).toBe(503);
    expect(total.headers["retry-after"]).toBe("5");
    expect(total.body).toMatchObject({
      error: { code: "OVERLOADED", details: { reason: "too_many_connections" } },
    });
    // Operators see the cap and the refusals at it.
    await refusedUpgrade(h.url, {}, "127.0.0.8");
    const status = await others[0]!.request("st", "system.status");
    expect(status).toMatchObject({ error: null, data: { connections: { max: 8, refusedAtCap: 2 } } });
  });
});

describe("peers that reset their connection", () => {
  /**
   * Sends a WebSocket upgrade on a raw TCP socket, waits for the gateway's refusal, then resets the
   * connection (RST, no FIN) while the gateway's end of it is still open.
   */
  function upgradeThenReset(
    url: string,
    headers: Record<string, string>,
    localAddress = "127.0.0.1",
  ): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: hostname, port: Number(port), localAddress }, () => {
        const lines = [
          "GET / HTTP/1.1",
          ...Object.entries({
            host: `127.0.0.1:${port}`,
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            ...headers,
          }).map(([name, value]) => `${name}: ${value}`),
        ];
        socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      });
      let answer = "";
      socket.on("data", (chunk: Buffer) => {
        answer += chunk.toString();
        if (!answer.includes("\r\n\r\n")) return;
        socket.resetAndDestroy();
        resolve(answer.slice(0, answer.indexOf("\r\n")));
      });
      socket.on("error", reject);
    });
  }

  it("a refused upgrade reset by the client never takes the gateway down", async () => {
    h = await startGateway({ config: { gateway: { maxHandshakesPerSource: 1 } } });
    const port = new URL(h.http).port;
    const held = await rawFrom(h.url, "127.0.0.9");
    const foreign = { origin: `http://evil.example:${port}`, host: `evil.example:${port}` };
    for (let i = 0; i < 10; i++) {
      // A foreign origin, then the per-source limit (the answer a reconnect storm gets).
      expect(await upgradeThenReset(h.url, foreign)).toBe("HTTP/1.1 403 Forbidden");
      expect(await upgradeThenReset(h.url, {}, "127.0.0.9")).toBe("HTTP/1.1 503 Service Unavailable");
    }
    const client = await h.client();
    await expect(client.request("ping")).resolves.toMatchObject({ ts: expect.any(Number) });
    expect((await fetch(`${h.http}/health`)).status).toBe(200);
    held.ws.terminate();
  });
});

describe("pairing limits are per source", () => {
  it("one flooding socket holds one request, one address a few; a real device elsewhere still pairs", async () => {
    h = await startGateway({
      config: { security: { pairing: { maxPendingPerSource: 2, startsPerMinute: 10 } } },
    });
    const admin = await h.client({ token: ADMIN });
    const requested: unknown[] = [];
    admin.on("pairing.requested", (event) => requested.push(event));
    const attacker = await rawFrom(h.url, "127.0.0.8");
    await attacker.connect(pairingConnect);
    for (let i = 0; i < 100; i++) {
      attacker.send({
        type: "req",
        id: `s${i}`,
        method: "pairing.start",
        data: { code: String(100_000 + i), publicKey: "attacker-key-0123456789" },
      });
    }
    await attacker.response("s99");
    // A pairing socket's pairing.start calls are rate limited: the flood is refused after ten.
    const answers = attacker.frames.filter((frame) => frame.type === "res" && frame.id !== "hello");
    expect(answers.filter((frame) => frame.error === null)).toHaveLength(10);
    expect(answers.at(-1)).toMatchObject({ error: { code: "RATE_LIMITED" } });
    // Each new request of a connection replaces its earlier one.
    expect((await admin.request("pairing.list")).requests).toHaveLength(1);
    const second = await rawFrom(h.url, "127.0.0.8");
    await second.connect(pairingConnect);
    expect(
      await second.request("a", "pairing.start", { code: "200001", publicKey: "attacker-key-0123456789" }),
    ).toMatchObject({ error: null });
    const third = await rawFrom(h.url, "127.0.0.8");
    await third.connect(pairingConnect);
    expect(
      await third.request("b", "pairing.start", { code: "200002", publicKey: "attacker-key-0123456789" }),
    ).toMatchObject({ error: { code: "RATE_LIMITED", details: { reason: "too_many_pending_from_source" } } });
    // The real device, from its own address, is not affected.
    const device = await rawFrom(h.url, "127.0.0.9");
    await device.connect(pairingConnect);
    expect(
      await device.request("d", "pairing.start", { code: "777777", publicKey: "device-key-0123456789" }),
    ).toMatchObject({ error: null, data: { status: "pending" } });
    await vi.waitFor(() => expect(requested.length).toBe(12));
    expect((await admin.request("pairing.list")).requests.map((r) => r.code).sort()).toEqual([
      "100009",
      "200001",
      "777777",
    ]);
  });

  it("an operator's wrong rejections never lock out the admin", async () => {
    h = await startGateway({ config: { security: { pairing: { maxFailedAttemptsPerMinute: 5 } } } });
    const operator = await h.client();
    for (let i = 0; i < 5; i++)
      await expect(operator.request("pairing.reject", { code: `99999${i}` })).rejects.toMatchObject({
        code: "NOT_FOUND",
      });
    await expect(operator.request("pairing.reject", { code: "999999" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
    });
    const { node } = await pairNode(h, "phone-1", () => ({ output: "ok" }));
    await node.close();
  });

  it("refuses to pair a node id that is paired already", async () => {
    h = await startGateway();
    const { node, admin } = await pairNode(h, "phone-1", () => ({ output: "ok" }));
    const impostor = new GatewayClient({
      url: h.url,
      role: "node",
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    await impostor.connect();
    await expect(
      impostor.request("pairing.start", {
        code: "5555",
        publicKey: "other-key-0123456789",
        nodeId: "phone-1",
      }),
    ).rejects.toMatchObject({ code: "CONFLICT", details: { reason: "node_already_paired" } });
    expect((await admin.request("pairing.list")).requests).toEqual([]);
    expect((await admin.request("node.list")).nodes.map((n) => n.nodeId)).toEqual(["phone-1"]);
    await impostor.close();
    await node.close();
  });
});

describe("origins and hosts (DNS rebinding)", () => {
  it("refuses an upgrade whose Origin and Host are both a foreign name, and serves /ui/ only under trusted hosts", async () => {
    const uiDir = await mkdtemp(join(tmpdir(), "openclaw-ui-"));
    await writeFile(join(uiDir, "index.html"), "<!doctype html><title>ui</title>");
    h = await startGateway({ uiDir, config: { security: { allowedHosts: ["gateway.example"] } } });
    const port = new URL(h.http).port;
    const rebound = await refusedUpgrade(h.url, {
      origin: `http://evil.example:${port}`,
      host: `evil.example:${port}`,
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatchObject({
      error: { code: "FORBIDDEN", details: { reason: "origin_not_allowed" } },
    });
    // Same origin under a trusted host is fine.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `gateway.example:${port}`]) {
      const socket = await RawSocket.open(h.url, { origin: `http://${host}`, host });
      expect(await socket.connect()).toMatchObject({ error: null });
    }
    expect((await getWithHost(`${h.http}/ui/`, `evil.example:${port}`)).status).toBe(403);
    expect(JSON.parse((await getWithHost(`${h.http}/ui/`, `evil.example:${port}`)).body)).toMatchObject({
      error: { code: "FORBIDDEN", details: { reason: "host_not_allowed" } },
    });
    expect((await getWithHost(`${h.http}/ui/`, `localhost:${port}`)).status).toBe(200);
    expect((await getWithHost(`${h.http}/ui/`, `gateway.example:${port}`)).status).toBe(200);
  });
});

describe("failed logins", () => {
  it("are logged without the token and refuse a source after repeated failures, not the others", async () => {
    const logs: string[] = [];
    h = await startGateway({
      logs,
      config: { security: { authFailures: { maxPerMinute: 10, blockMs: 60_000 } } },
    });
    for (let i = 0; i < 10; i++) {
      const socket = await rawFrom(h.url, "127.0.0.10");
      expect((await socket.connect({ token: "wrong-token-0123456789" })).error).toMatchObject({
        code: "UNAUTHORIZED",
      });
    }
    const blocked = await refusedUpgrade(h.url, {}, "127.0.0.10");
    expect(blocked.status).toBe(429);
    expect(blocked.body).toMatchObject({
      error: { code: "RATE_LIMITED", details: { reason: "too_many_failed_logins" } },
    });
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    // HTTP from that address is refused too; other addresses are not affected.
    const other = await rawFrom(h.url, "127.0.0.11");
    expect(await other.connect()).toMatchObject({ error: null });
    const refusals = logs.map((line) => JSON.parse(line)).filter((line) => /login refused/.test(line.msg));
    expect(refusals.length).toBeGreaterThanOrEqual(2);
    expect(refusals[0]).toMatchObject({ address: "127.0.0.10", reason: "token_mismatch" });
    expect(refusals.at(-1)).toMatchObject({ address: "127.0.0.10", blocked: true });
    expect(logs.join("\n")).not.toContain("wrong-token-0123456789");
  });

  it("accepts the Authorization scheme in any case, on HTTP and on the upgrade", async () => {
    h = await startGateway();
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const res = await fetch(`${h.http}/v1/models`, { headers: { authorization: `${scheme} ${TOKEN}` } });
      expect(res.status).toBe(200);
      const socket = await RawSocket.open(h.url, { authorization: `${scheme} ${TOKEN}` });
      expect(await socket.connect({})).toMatchObject({ error: null });
    }
  });
});

describe("sessions end when their token is rotated", () => {
  it("closes sessions of a rotated admin or operator token with token_rotated, and keeps the others", async () => {
    h = await startGateway({
      config: { security: { token: TOKEN, adminToken: ADMIN } },
      env: { OPENCLAW_GATEWAY_TOKEN: "", OPENCLAW_ADMIN_TOKEN: "" }, // the file decides
    });
    const admin = await RawSocket.open(h.url);
    await admin.connect({ token: ADMIN });
    const operator = await RawSocket.open(h.url);
    await operator.connect({ token: TOKEN });
    const file = join(h.stateDir, "openclaw.json");
    const current = JSON.parse(await (await import("node:fs/promises")).readFile(file, "utf8"));
    current.security = { token: TOKEN }; // adminToken removed
    await writeFile(file, JSON.stringify(current));
    const closed = await vi.waitFor(
      () => {
        if (admin.closed === undefined) throw new Error("still open");
        return admin.closed;
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(closed).toEqual({ code: 1008, reason: "token rotated" });
    expect(admin.frames.at(-1)).toMatchObject({
      error: { code: "UNAUTHORIZED", details: { reason: "token_rotated" } },
    });
    expect(await operator.request("p", "ping")).toMatchObject({ error: null });
    // The admin token no longer works for new sessions either.
    const again = await RawSocket.open(h.url);
    expect((await again.connect({ token: ADMIN })).error).toMatchObject({ code: "UNAUTHORIZED" });
    // Rotating the operator token ends the operator's session.
    current.security = { token: "new-operator-token-0123456789" };
    await writeFile(file, JSON.stringify(current));
    await vi.waitFor(
      () => {
        if (operator.closed === undefined) throw new Error("still open");
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(operator.closed).toEqual({ code: 1008, reason: "token rotated" });
  });
});

describe("operator-only methods", () => {
  it("refuses system.status to nodes, as the README's scope table says", async () => {
    h = await startGateway();
    const { node } = await pairNode(h, "phone-1", () => ({ output: "ok" }));
    await expect(node.request("system.status")).rejects.toMatchObject({ code: "FORBIDDEN" });
    await node.close();
  });
});

describe("start-up", () => {
  it("completes at once with the service's defaults while a channel's platform never answers", async () => {
    let started = 0;
    const silent = defineChannel({
      name: "silent",
      capabilities: ["text"],
      config: v.object({}),
      create: () => ({
        // A platform that accepts the connection and never answers: start() never settles.
        start: (ctx) =>
          new Promise<void>((_resolve, reject) => {
            started += 1;
            ctx.signal.addEventListener("abort", () => reject(new ChannelError("NOT_READY", "stopped")));
          }),
        send: () => ({ messageId: "never" }),
        stop() {},
      }),
    });
    // The gateway as the service builds it (no channelStartWaitMs): start() must not wait for the
    // channel. Were it to wait (it used to, 15 s), this test would hit its 5 s limit.
    const dir = await mkdtemp(join(tmpdir(), "openclaw-start-"));
    await writeFile(join(dir, "openclaw.json"), JSON.stringify({ channels: { silent: {} } }));
    const config = new ConfigManager({
      path: join(dir, "openclaw.json"),
      env: { OPENCLAW_PORT: "0", OPENCLAW_STATE_DIR: join(dir, "state"), OPENCLAW_GATEWAY_TOKEN: TOKEN },
    });
    await config.load();
    const gateway = new Gateway({ config, channels: [silent], logger: createLogger("silent") });
    const { url } = await gateway.start();
    try {
      expect(started).toBe(1);
      const ready = await fetch(`${url.replace(/^ws/, "http")}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        channels: expect.arrayContaining([expect.objectContaining({ name: "silent", state: "connecting" })]),
      });
    } finally {
      await gateway.stop({ drainTimeoutMs: 100 });
      await config.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 5000);
});
