import { readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ADMIN, collect, type Harness, RawSocket, startGateway, TOKEN, until } from "./harness";

// Per-source limits (hardening issue, items 9 and 11): who a "source" is behind a reverse proxy,
// how addresses are grouped, and that no group of sources can take a shared limit from the others.
// Real gateway, real sockets; the "proxy" is a client on 127.0.0.1 sending forwarding headers.

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const WRONG = "wrong-token-0123456789";

/** An upgrade from `localAddress` with `headers`: accepted (the socket), or refused (its status). */
async function upgrade(
  url: string,
  headers: Record<string, string>,
  localAddress = "127.0.0.1",
): Promise<{ status: number; socket?: RawSocket }> {
  try {
    return { status: 101, socket: await RawSocket.open(url, headers, { localAddress }) };
  } catch (error) {
    const status = /Unexpected server response: (\d+)/.exec(String(error))?.[1];
    if (status === undefined) throw error;
    return { status: Number(status) };
  }
}

/** The body of a refused upgrade. */
function refusalBody(url: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () => resolve(JSON.parse(text)));
    });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("error", () => {});
  });
}

/** A wrong login over the WebSocket, forwarded (or not) with these headers. */
async function failLogin(url: string, headers: Record<string, string>, localAddress = "127.0.0.1") {
  const { socket } = await upgrade(url, headers, localAddress);
  expect(socket).toBeDefined();
  const answer = await socket!.connect({ token: WRONG });
  expect(answer.error).toMatchObject({ code: "UNAUTHORIZED" });
  socket!.ws.terminate();
}

/** A `GET /v1/models` with the operator token, from `localAddress` (Node's fetch cannot choose it). */
function models(http: string, headers: Record<string, string>, localAddress = "127.0.0.1") {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = httpRequest(
      `${http}/v1/models`,
      { headers: { authorization: `Bearer ${TOKEN}`, ...headers }, localAddress },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const editConfig = async (harness: Harness, change: (config: Record<string, unknown>) => void) => {
  const file = join(harness.stateDir, "openclaw.json");
  const config = JSON.parse(await readFile(file, "utf8"));
  change(config);
  await writeFile(file, JSON.stringify(config));
};

describe("trusted proxies", () => {
  it("behind a trusted proxy, 20 wrong logins from one client do not lock out another client of the proxy", async () => {
    h = await startGateway({ config: { gateway: { trustedProxies: ["127.0.0.1"] } } });
    // The client appends nothing it controls to the right of what the proxy wrote: the right-most
    // address that is not a trusted proxy is the client's, whatever it put on the left.
    for (let i = 0; i < 20; i++)
      await failLogin(h.url, { "x-forwarded-for": `198.51.100.${i + 1}, 203.0.113.7` });
    expect((await upgrade(h.url, { "x-forwarded-for": "203.0.113.7" })).status).toBe(429);
    expect(await refusalBody(h.url, { "x-forwarded-for": "203.0.113.7" })).toMatchObject({
      error: { code: "RATE_LIMITED", details: { reason: "too_many_failed_logins" } },
    });
    // The same client through an RFC 7239 proxy, and on HTTP: still blocked.
    expect((await upgrade(h.url, { forwarded: 'for="203.0.113.7:4711";proto=https' })).status).toBe(429);
    expect((await models(h.http, { "x-forwarded-for": "203.0.113.7" })).status).toBe(429);
    // Another client of the same proxy logs in, on the WebSocket and on HTTP.
    const other = await upgrade(h.url, { "x-forwarded-for": "203.0.113.8" });
    expect(other.status).toBe(101);
    expect(await other.socket!.connect()).toMatchObject({ error: null });
    other.socket!.ws.terminate();
    expect((await models(h.http, { forwarded: "for=203.0.113.8" })).status).toBe(200);
    // And the proxy's own address, without forwarding headers, is not the blocked client.
    expect((await models(h.http, {})).status).toBe(200);
  });

  it("ignores forwarding headers from a peer that is not a trusted proxy, and applies a reload of the list", async () => {
    h = await startGateway({ config: { gateway: { trustedProxies: ["127.0.0.1"] } } });
    // 127.0.0.20 is not a proxy: a new X-Forwarded-For on every attempt does not evade the limit.
    for (let i = 0; i < 20; i++)
      await failLogin(
        h.url,
        { "x-forwarded-for": `203.0.113.${i + 1}`, forwarded: `for=192.0.2.${i}` },
        "127.0.0.20",
      );
    const spoofed = await upgrade(h.url, { "x-forwarded-for": "203.0.113.99" }, "127.0.0.20");
    expect(spoofed.status).toBe(429);
    expect((await models(h.http, { "x-forwarded-for": "203.0.113.98" }, "127.0.0.20")).status).toBe(429);
    // Trusting 127.0.0.20 (a reload, no restart) makes its forwarded clients their own sources.
    const admin = await h.client({ token: ADMIN });
    const reloaded = collect(admin, "config.reloaded");
    await editConfig(h, (config) => {
      config.gateway = { trustedProxies: ["127.0.0.1", "127.0.0.16/28"] };
    });
    await until(() => reloaded.length === 1, 10_000);
    expect(reloaded[0]).toMatchObject({ applied: ["gateway.trustedProxies"], restartRequired: [] });
    expect((await models(h.http, { "x-forwarded-for": "203.0.113.97" }, "127.0.0.20")).status).toBe(200);
    // A chain of trusted proxies: the client is the right-most address that is not one of them.
    expect(
      (await models(h.http, { "x-forwarded-for": "203.0.113.96, 127.0.0.17" }, "127.0.0.20")).status,
    ).toBe(200);
    // A trusted proxy naming no client: the request counts as the proxy's own (still blocked).
    expect((await models(h.http, {}, "127.0.0.20")).status).toBe(429);
    expect((await models(h.http, { "x-forwarded-for": "127.0.0.17" }, "127.0.0.20")).status).toBe(429);
  });
});

describe("sources are grouped", () => {
  it("an IPv6 /64 is one source and an IPv4-mapped IPv6 address is its IPv4 address", async () => {
    h = await startGateway({ config: { gateway: { trustedProxies: ["127.0.0.1"] } } });
    for (let i = 0; i < 20; i++) await failLogin(h.url, { "x-forwarded-for": `2001:db8:1:2::${i + 1}` });
    // Another address of the same /64 is the same source; the next /64 is not.
    expect((await models(h.http, { "x-forwarded-for": "2001:db8:1:2:ffff::1" })).status).toBe(429);
    expect((await models(h.http, { forwarded: 'for="[2001:db8:1:2::abcd]:80"' })).status).toBe(429);
    expect((await models(h.http, { "x-forwarded-for": "2001:db8:1:3::1" })).status).toBe(200);
    for (let i = 0; i < 20; i++) await failLogin(h.url, { "x-forwarded-for": "::ffff:198.51.100.4" });
    expect((await models(h.http, { "x-forwarded-for": "198.51.100.4" })).status).toBe(429);
    expect((await models(h.http, { "x-forwarded-for": "198.51.100.5" })).status).toBe(200);
  });

  it("on a real ::1 socket: an IPv6 peer is matched against the trusted proxies and grouped", async () => {
    h = await startGateway({ config: { gateway: { host: "::1", trustedProxies: ["::1/128"] } } });
    expect(h.url).toContain("[::1]");
    for (let i = 0; i < 20; i++) await failLogin(h.url, { "x-forwarded-for": "::ffff:203.0.113.4" }, "::1");
    const ipv4 = await upgrade(h.url, { "x-forwarded-for": "203.0.113.4" }, "::1");
    expect(ipv4.status).toBe(429);
    const other = await upgrade(h.url, { "x-forwarded-for": "203.0.113.5" }, "::1");
    expect(other.status).toBe(101);
    expect(await other.socket!.connect()).toMatchObject({ error: null });
    other.socket!.ws.terminate();
  });
});

describe("pairing slots are shared fairly", () => {
  it("16 addresses holding 4 pairing sockets each do not lock out a 17th; the busiest gives up its oldest", async () => {
    h = await startGateway();
    const held = new Map<string, RawSocket[]>();
    for (let a = 1; a <= 16; a++) {
      const address = `127.0.2.${a}`;
      const sockets: RawSocket[] = [];
      for (let i = 0; i < 4; i++) {
        const socket = await RawSocket.open(h.url, {}, { localAddress: address });
        expect(await socket.connect({ role: "node" })).toMatchObject({ data: { scopes: ["pairing"] } });
        sockets.push(socket);
      }
      held.set(address, sockets);
    }
    // 64 of 64 taken. A device from a new address still gets a slot.
    const device = await RawSocket.open(h.url, {}, { localAddress: "127.0.3.1" });
    expect(await device.connect({ role: "node" })).toMatchObject({
      error: null,
      data: { scopes: ["pairing"] },
    });
    expect(
      await device.request("d", "pairing.start", { code: "424242", publicKey: "device-key-0123456789" }),
    ).toMatchObject({ error: null, data: { status: "pending" } });
    // The oldest socket of an address holding the most gave its slot up, with a typed error.
    const first = held.get("127.0.2.1")![0]!;
    expect(await first.waitClosed()).toEqual({ code: 1013, reason: "pairing slot reclaimed" });
    expect(first.frames.at(-1)).toMatchObject({
      error: { code: "OVERLOADED", details: { reason: "pairing_slot_reclaimed" } },
    });
    for (const [address, sockets] of held)
      for (const [i, socket] of sockets.entries())
        if (address !== "127.0.2.1" || i !== 0) expect(socket.closed).toBeUndefined();
    // The address that lost a slot cannot take one back from the others: it holds no fewer than they do.
    const back = await RawSocket.open(h.url, {}, { localAddress: "127.0.2.1" });
    expect((await back.connect({ role: "node" })).error).toMatchObject({
      code: "OVERLOADED",
      details: { reason: "too_many_pairing_connections" },
    });
    // Nor can a busy one take from the newcomer.
    const busy = await RawSocket.open(h.url, {}, { localAddress: "127.0.2.2" });
    expect((await busy.connect({ role: "node" })).error).toMatchObject({
      code: "OVERLOADED",
      details: { reason: "too_many_pairing_connections_from_source" },
    });
    expect(device.closed).toBeUndefined();
    for (const sockets of held.values()) for (const socket of sockets) socket.ws.terminate();
    for (const socket of [device, back, busy]) socket.ws.terminate();
  });
});

describe("chat.send is limited per source", () => {
  it("20 connections from one address share one budget of sends; another address is unaffected", async () => {
    h = await startGateway({
      config: { channels: { webchat: { sendsPerSecondPerSource: 1, sendBurstPerSource: 5 } } },
    });
    const sockets: RawSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await RawSocket.open(h.url, {}, { localAddress: "127.0.0.30" });
      expect(await socket.connect()).toMatchObject({ error: null });
      sockets.push(socket);
    }
    const answers = await Promise.all(
      sockets.flatMap((socket, i) =>
        [0, 1].map((j) =>
          socket.request(`s${j}`, "chat.send", { text: "hi", conversationId: `web-${i}-${j}` }),
        ),
      ),
    );
    const accepted = answers.filter((answer) => answer.error === null);
    const refused = answers.filter((answer) => answer.error !== null);
    // A burst of 5, plus one a second for however long the 40 sends took.
    expect(accepted.length).toBeGreaterThanOrEqual(5);
    expect(accepted.length).toBeLessThan(20);
    for (const answer of refused)
      expect(answer.error).toMatchObject({
        code: "RATE_LIMITED",
        details: { reason: "too_many_sends_from_source", retryAfterMs: expect.any(Number) },
      });
    const elsewhere = await RawSocket.open(h.url, {}, { localAddress: "127.0.0.31" });
    await elsewhere.connect();
    for (let i = 0; i < 5; i++)
      expect(
        await elsewhere.request(`e${i}`, "chat.send", { text: "hello", conversationId: `web-other-${i}` }),
      ).toMatchObject({ error: null });
    for (const socket of [...sockets, elsewhere]) socket.ws.terminate();
  });
});
