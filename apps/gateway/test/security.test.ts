import { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ADMIN, collect, type Harness, pairNode, startGateway, TOKEN, until } from "./harness";

let h: Harness;
beforeEach(async () => {
  h = await startGateway();
});
afterEach(async () => {
  await h.stop();
});

describe("security rules hold against attempts to get around them", () => {
  it("an unauthenticated node can only ping and pair", async () => {
    const socket = await h.raw();
    const hello = await socket.connect({ role: "node", token: undefined });
    expect((hello.data as { scopes: string[]; methods: string[] }).scopes).toEqual(["pairing"]);
    expect((hello.data as { methods: string[] }).methods.sort()).toEqual([
      "connect",
      "pairing.start",
      "ping",
    ]);
    for (const [i, method] of [
      "system.status",
      "message.send",
      "node.list",
      "pairing.approve",
      "config.get",
      "agent.run",
    ].entries()) {
      expect((await socket.request(`m${i}`, method, {})).error).toMatchObject({
        code: expect.stringMatching(/FORBIDDEN|INVALID_PARAMS/),
      });
    }
    expect((await socket.request("s", "system.status")).error).toMatchObject({ code: "FORBIDDEN" });
  });

  it("a paired node cannot use operator methods or claim another node's id", async () => {
    const { deviceToken } = await pairNode(h, "phone-1", () => ({ runId: "r", output: "ok" }));
    const socket = await h.raw();
    const hello = await socket.connect({ role: "node", deviceToken });
    expect(hello.data).toMatchObject({ scopes: ["node"], nodeId: "phone-1" });
    expect((await socket.request("a", "message.send", { recipient: "x", text: "y" })).error).toMatchObject({
      code: "FORBIDDEN",
    });
    expect((await socket.request("b", "device.revoke", { nodeId: "phone-1" })).error).toMatchObject({
      code: "FORBIDDEN",
    });
    const impostor = await h.raw();
    const refused = await impostor.connect({ role: "node", deviceToken, nodeId: "someone-else" });
    expect(refused.error).toMatchObject({
      code: "UNAUTHORIZED",
      details: { reason: "device_token_invalid" },
    });
    expect((await impostor.waitClosed()).code).toBe(1008);
  });

  it("an operator token cannot pass as a device token, nor a device token as an operator token", async () => {
    const { deviceToken } = await pairNode(h, "phone-2", () => ({ runId: "r", output: "ok" }));
    const asOperator = await h.raw();
    expect((await asOperator.connect({ token: deviceToken })).error).toMatchObject({ code: "UNAUTHORIZED" });
    const asDevice = await h.raw();
    expect((await asDevice.connect({ role: "node", deviceToken: TOKEN })).error).toMatchObject({
      code: "UNAUTHORIZED",
    });
  });

  it("only the pairing device receives its token; operators see the approval without it", async () => {
    const admin = await h.client({ token: ADMIN });
    const watcher = await h.client();
    const approvals = collect(watcher, "pairing.approved");
    const device = new GatewayClient({ url: h.url, role: "node", WebSocket, reconnect: false });
    await device.connect();
    const got = new Promise<unknown>((resolve) => device.once("pairing.approved", resolve));
    await device.request("pairing.start", {
      code: "7777",
      publicKey: "MCowBQYDK2VwAyEAanotherexamplekey12345",
    });
    await admin.request("pairing.approve", { code: "7777" });
    expect(await got).toMatchObject({ code: "7777", deviceToken: expect.any(String) });
    await until(() => approvals.length === 1);
    expect(approvals[0]).not.toHaveProperty("deviceToken");
    await device.close();
  });

  it("stores device tokens only as hashes", async () => {
    const { deviceToken } = await pairNode(h, "phone-3", () => ({ runId: "r", output: "ok" }));
    const { readFile } = await import("node:fs/promises");
    const stored = await readFile(`${h.stateDir}/devices.json`, "utf8");
    expect(stored).not.toContain(deviceToken);
    expect(stored).toContain("tokenHash");
  });

  it("HTTP endpoints other than health, ready and webhooks need the Bearer token", async () => {
    for (const path of ["/v1/models", "/anything"]) {
      const res = await fetch(`${h.http}${path}`);
      expect(res.status).toBe(401);
      // /v1 answers in OpenAI's error shape, keeping the gateway's details.
      expect(await res.json()).toMatchObject({
        error: path.startsWith("/v1/")
          ? { type: "authentication_error", code: "invalid_api_key", details: { reason: "token_missing" } }
          : { code: "UNAUTHORIZED", details: { reason: "token_missing" } },
      });
    }
    expect(
      (await fetch(`${h.http}/v1/models`, { headers: { authorization: `Bearer ${ADMIN}` } })).status,
    ).toBe(200);
  });
});

describe("broadcast backpressure", () => {
  it("closes a client that stops reading, while the others get every event", async () => {
    await h.stop();
    h = await startGateway({ config: { gateway: { maxBufferedBytes: 64 * 1024 } } });
    const normal = await h.client();
    const received = collect(normal, "channel.message.received");
    const slow = await h.raw();
    await slow.connect();
    const open = () =>
      [...h.gateway.connections()].filter((connection) => connection.state !== "closed").length;
    const openBefore = open();
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const text = "x".repeat(60_000);
    let sent = 0;
    for (; sent < 300 && open() === openBefore; sent++) {
      const res = await h.webhook({ id: `bulk-${sent}`, chat: "bulk", from: { id: "u" }, text });
      expect(res.status).toBe(200);
    }
    expect(open()).toBe(openBefore - 1);
    await until(() => received.length === sent, 10_000);
    expect(sent).toBeLessThan(300);
  });
});

describe("state survives a restart", () => {
  it("keeps conversation history", async () => {
    await h.webhook({ id: "in-1", chat: "persist", from: { id: "u" }, text: "remember me" });
    const stateDir = h.stateDir;
    await h.gateway.stop();
    const again = await startGateway({ stateDir });
    try {
      const cli = await again.client();
      const history = await cli.request("conversation.history", {
        channel: "test",
        conversationId: "persist",
      });
      expect(history.messages.map((m) => m.content.text)).toEqual(["remember me"]);
    } finally {
      await again.stop();
    }
  });
});
