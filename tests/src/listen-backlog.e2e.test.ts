import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { kill9, startGatewayProcess, until } from "./gateway-process";

// `gateway.listenBacklog`: while a gateway cannot accept (here stopped with SIGSTOP, as a gateway
// whose event loop is busy with a reconnect storm, only longer), the kernel queues new connections
// up to the backlog and drops attempts beyond it (the client's TCP tries again after 1, 3, 7 s…).
// A real gateway process and real sockets.

const TOKEN = "operator-token-0123456789";
/** Linux caps every backlog at `net.core.somaxconn`. */
const SOMAXCONN = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));

let dir: string;
const children: ChildProcess[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const child of children.splice(0)) {
    child.kill("SIGCONT");
    await kill9(child);
  }
  await rm(dir, { recursive: true, force: true });
});

async function startStopped(gateway: object): Promise<{ child: ChildProcess; port: number }> {
  dir = await mkdtemp(join(tmpdir(), "openclaw-backlog-"));
  await writeFile(join(dir, "openclaw.json"), JSON.stringify({ heartbeat: { intervalMs: 60_000 }, gateway }));
  const { child, url } = await startGatewayProcess(dir, { OPENCLAW_GATEWAY_TOKEN: TOKEN }, children);
  child.kill("SIGSTOP");
  return { child, port: Number(new URL(url).port) };
}

/** Opens `count` TCP connections; `connected()` says how many the kernel has completed. */
function burst(port: number, count: number): { connected: () => number } {
  let connected = 0;
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      connected += 1;
    });
    socket.on("error", () => {});
    sockets.push(socket);
  }
  return { connected: () => connected };
}

/** Asks `/health` on an open connection; resolves with the status line. */
function health(socket: Socket, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n");
      if (end !== -1) resolve(text.slice(0, end));
    });
    socket.once("close", () => reject(new Error(`closed before an answer: ${text}`)));
    socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  });
}

describe("gateway.listenBacklog: connections waiting to be accepted", () => {
  it("queues a burst that arrives while the gateway cannot accept, and serves all of it once it can", async () => {
    const { child, port } = await startStopped({});
    // More than Node's own default backlog (511).
    const count = Math.min(1000, SOMAXCONN - 1);
    const { connected } = burst(port, count);
    // The default backlog (4096) holds them all while the process is stopped.
    await until(() => connected() === count, `${count} connections queued by the kernel`);
    child.kill("SIGCONT");
    const answers = await Promise.all(sockets.map((socket) => health(socket, port)));
    expect(answers.every((line) => line === "HTTP/1.1 200 OK")).toBe(true);
  }, 120_000);

  it("holds no more than a small backlog while stopped; the rest get in by TCP's retries once it accepts", async () => {
    const backlog = 4;
    const { child, port } = await startStopped({ listenBacklog: backlog });
    const { connected } = burst(port, 30);
    // Linux queues backlog + 1. However long we wait, no more complete while the gateway is stopped.
    await until(() => connected() >= backlog + 1, "the backlog to fill");
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the clients' first SYN retry
    expect(connected()).toBe(backlog + 1);
    child.kill("SIGCONT");
    await until(() => connected() === 30, "every connection, through SYN retries");
    const answers = await Promise.all(sockets.map((socket) => health(socket, port)));
    expect(answers.every((line) => line === "HTTP/1.1 200 OK")).toBe(true);
  }, 120_000);
});
