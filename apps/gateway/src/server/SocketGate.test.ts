import { createServer, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { SocketGate } from "./SocketGate";

// A real HTTP server on 127.0.0.1 behind the gate, and real client sockets.

let server: Server;
const clients: Array<Socket | WebSocket> = [];
const held: ServerResponse[] = [];

afterEach(async () => {
  for (const response of held.splice(0)) response.end();
  for (const client of clients.splice(0))
    if (client instanceof WebSocket) client.terminate();
    else client.destroy();
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

/** Starts a server: `/hold` answers only when the test ends; upgrades are accepted. */
async function start(limits: { perSource: number; maxSockets: number }) {
  let refusedAtCap = 0;
  server = createServer((req, res) => {
    if (req.url === "/hold") held.push(res);
    else res.end("ok");
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
  const gate = new SocketGate({
    maxPendingPerSource: () => limits.perSource,
    maxSockets: () => limits.maxSockets,
    maxLingering: () => 16,
    onRefusedAtCap: () => refusedAtCap++,
  });
  gate.attach(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  return { port, refusedAtCap: () => refusedAtCap };
}

/** A raw socket from `from` that records what it receives. */
function open(port: number, from: string, send?: string) {
  const socket = connect({ port, host: "127.0.0.1", localAddress: from });
  clients.push(socket);
  const state = { socket, received: "", closed: false };
  socket.on("error", () => {});
  socket.on("data", (data: Buffer) => {
    state.received += data.toString();
  });
  socket.on("close", () => {
    state.closed = true;
  });
  if (send !== undefined) socket.once("connect", () => socket.write(send));
  return state;
}

const refusal = (received: string) => JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4));

describe("SocketGate", () => {
  it("refuses a source's sockets past its bound with a typed 503; other sources are not affected", async () => {
    const { port } = await start({ perSource: 2, maxSockets: 100 });
    const idle = [open(port, "127.0.0.1"), open(port, "127.0.0.1")];
    const third = open(port, "127.0.0.1");
    await vi.waitFor(() => expect(third.closed).toBe(true), { timeout: 10_000 });
    expect(third.received).toMatch(/^HTTP\/1\.1 503 /);
    expect(third.received.toLowerCase()).toContain("retry-after: 1");
    expect(refusal(third.received)).toMatchObject({
      error: { code: "OVERLOADED", details: { reason: "too_many_pending_sockets", limit: 2 } },
    });
    expect(idle.every((s) => !s.closed && s.received === "")).toBe(true);
    const other = open(port, "127.0.0.2", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await vi.waitFor(() => expect(other.received).toMatch(/^HTTP\/1\.1 200 /), { timeout: 10_000 });
  });

  it("stops counting a socket once its request has arrived, and a WebSocket once upgraded", async () => {
    const { port } = await start({ perSource: 2, maxSockets: 100 });
    // A request being answered, and an upgraded WebSocket: neither is pending.
    open(port, "127.0.0.1", "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    await vi.waitFor(() => expect(held).toHaveLength(1), { timeout: 10_000 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { localAddress: "127.0.0.1" });
    clients.push(ws);
    await new Promise((done) => ws.once("open", done));
    // So two idle sockets still fit; a third does not.
    const idle = [open(port, "127.0.0.1"), open(port, "127.0.0.1")];
    const third = open(port, "127.0.0.1");
    await vi.waitFor(() => expect(third.received).toMatch(/^HTTP\/1\.1 503 /), { timeout: 10_000 });
    expect(idle.every((s) => !s.closed && s.received === "")).toBe(true);
    // A request whose body has not all arrived is still pending (from another address here).
    const slow = open(port, "127.0.0.5", "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab");
    await vi.waitFor(() => expect(held).toHaveLength(2), { timeout: 10_000 });
    const another = open(port, "127.0.0.5");
    const over = open(port, "127.0.0.5");
    await vi.waitFor(() => expect(over.received).toMatch(/^HTTP\/1\.1 503 /), { timeout: 10_000 });
    expect(slow.closed || another.closed).toBe(false);
  });

  it("at the socket cap with nothing pending to give way, answers a typed 503 and counts it", async () => {
    const { port, refusedAtCap } = await start({ perSource: 100, maxSockets: 2 });
    for (let n = 0; n < 2; n++) open(port, "127.0.0.1", "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    await vi.waitFor(() => expect(held).toHaveLength(2), { timeout: 10_000 });
    const extra = open(port, "127.0.0.2", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await vi.waitFor(() => expect(extra.closed).toBe(true), { timeout: 10_000 });
    expect(extra.received).toMatch(/^HTTP\/1\.1 503 /);
    expect(extra.received.toLowerCase()).toContain("connection: close");
    expect(refusal(extra.received)).toMatchObject({
      error: { code: "OVERLOADED", details: { reason: "too_many_connections", limit: 2 } },
    });
    expect(refusedAtCap()).toBe(1);
  });
});
