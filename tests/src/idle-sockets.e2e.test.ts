import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { type GatewayProcess, kill9, startGatewayProcess } from "./gateway-process";

// Issue 29, item 2: sockets that connect and send nothing (or send a head or a body slowly) held
// every descriptor the gateway had: `/health`, operator logins and the admin's upgrade were reset
// until Node's 60 s header timeout, and the attacker reconnected. A real gateway process runs under
// `prlimit --nofile=256` (256 − 48 = 208 sockets for clients); hostile sockets come from one or a
// few 127.x addresses, the legitimate clients from others.

const TOKEN = "operator-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const NOFILE = 256;
const PER_SOURCE = 64;

function hasPrlimit(): boolean {
  try {
    execFileSync("prlimit", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const available = hasPrlimit();
if (!available && process.env.CI !== undefined) throw new Error("prlimit (util-linux) is required in CI");

/** A hostile socket: what it was sent back, and whether it is closed. */
interface Hostile {
  socket: Socket;
  received: string;
  closed: boolean;
  /** Set once it connected (the kernel accepted it; the gateway may not have yet). */
  connected: Promise<void>;
  /** Resolves when the gateway closes it. */
  gone: Promise<void>;
}

type Kind = "idle" | "slow-head" | "slow-body";

/**
 * Opens a hostile socket from `from`: `idle` sends nothing; `slow-head` sends a request head one
 * byte at a time and never ends it; `slow-body` sends a whole head announcing 1 MB and a few bytes.
 */
function hostile(port: number, from: string, kind: Kind, timers: NodeJS.Timeout[]): Hostile {
  const socket = connect({ port, host: "127.0.0.1", localAddress: from });
  const entry = { socket, received: "", closed: false } as Hostile;
  entry.connected = new Promise((done) => socket.once("connect", () => done()));
  entry.gone = new Promise((done) =>
    socket.once("close", () => {
      entry.closed = true;
      done();
    }),
  );
  socket.on("error", () => {});
  socket.on("data", (data: Buffer) => {
    entry.received += data.toString();
  });
  socket.once("connect", () => {
    if (kind === "slow-head") {
      const head = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
      let sent = 0;
      const timer = setInterval(() => {
        if (entry.closed) clearInterval(timer);
        else socket.write(head[sent++ % head.length]!);
      }, 200);
      timers.push(timer);
    } else if (kind === "slow-body") {
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"model":`,
      );
    }
  });
  return entry;
}

/** A GET from a chosen local address; resolves with the status and body, rejects on a reset. */
function get(port: number, path: string, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, localAddress: from, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Opens a WebSocket from `from` and completes `connect` with `token` (in the header as well). */
function login(url: string, token: string, from: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { localAddress: from, headers: { authorization: `Bearer ${token}` } });
    socket.once("unexpected-response", (_request, response) =>
      reject(new Error(`upgrade refused: ${response.statusCode}`)),
    );
    socket.once("error", reject);
    socket.once("open", () =>
      socket.send(
        JSON.stringify({
          type: "req",
          id: "c",
          method: "connect",
          data: {
            role: "operator",
            protocol: 1,
            token,
            client: { name: "t", version: "1", platform: "test" },
          },
        }),
      ),
    );
    socket.once("message", (data) => {
      const frame = JSON.parse(String(data)) as { error?: unknown };
      if (frame.error != null) reject(new Error(`connect refused: ${String(data)}`));
      else resolve(socket);
    });
  });
}

describe.skipIf(!available)(`idle and slow sockets at the descriptor limit (ulimit -n ${NOFILE})`, () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const sockets: Array<{ destroy(): void } | { terminate(): void }> = [];
  const timers: NodeJS.Timeout[] = [];

  async function start(gateway: Record<string, unknown>): Promise<{ process: GatewayProcess; port: number }> {
    const dir = await mkdtemp(join(tmpdir(), "openclaw-idle-"));
    dirs.push(dir);
    await writeFile(
      join(dir, "openclaw.json"),
      JSON.stringify({ heartbeat: { intervalMs: 60_000 }, gateway }),
    );
    const process = await startGatewayProcess(
      dir,
      { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN },
      children,
      { nofile: NOFILE },
    );
    return { process, port: Number(new URL(process.url).port) };
  }

  afterEach(async () => {
    for (const timer of timers.splice(0)) clearInterval(timer);
    for (const socket of sockets.splice(0))
      if ("destroy" in socket) socket.destroy();
      else socket.terminate();
    for (const child of children.splice(0)) await kill9(child);
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("260 idle and slow sockets from one address: that address gets a typed 503 past its bound, /health and logins from others still succeed", async () => {
    // Timeouts far away: the bound per address is what keeps the gateway reachable here.
    const { process: gateway, port } = await start({
      maxPendingSocketsPerSource: PER_SOURCE,
      headersTimeoutMs: 600_000,
      requestTimeoutMs: 600_000,
    });
    const attack: Hostile[] = [];
    // Bounded: 260 sockets, 200 idle, 30 sending a head slowly, 30 stalling in a body.
    for (let n = 0; n < 260; n++) {
      const kind: Kind = n < 200 ? "idle" : n < 230 ? "slow-head" : "slow-body";
      const entry = hostile(port, "127.0.0.1", kind, timers);
      attack.push(entry);
      sockets.push(entry.socket);
    }
    await Promise.all(attack.map((entry) => entry.connected));
    // The legitimate clients, from other addresses, after every hostile socket was queued.
    const health = await get(port, "/health", "127.0.0.2");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok" });
    const operator = await login(gateway.url, TOKEN, "127.0.0.3");
    sockets.push(operator);
    const admin = await login(gateway.url, ADMIN, "127.0.0.4");
    sockets.push(admin);
    // The hostile address holds its bound, no more: the rest were answered 503 and closed.
    const refused = () => attack.filter((entry) => entry.received.startsWith("HTTP/1.1 503 "));
    await vi.waitFor(() => expect(refused()).toHaveLength(260 - PER_SOURCE), { timeout: 30_000 });
    for (const entry of refused()) {
      expect(entry.received.toLowerCase()).toContain("connection: close");
      expect(entry.received.toLowerCase()).toMatch(/retry-after: \d+/);
      const body = JSON.parse(entry.received.slice(entry.received.indexOf("\r\n\r\n") + 4));
      expect(body).toMatchObject({
        error: { code: "OVERLOADED", details: { reason: "too_many_pending_sockets", limit: PER_SOURCE } },
      });
    }
    await Promise.all(refused().map((entry) => entry.gone));
    // The ones it holds are still open (no timeout yet), and the gateway still answers.
    const held = attack.filter((entry) => !entry.closed);
    expect(held).toHaveLength(PER_SOURCE);
    expect((await get(port, "/health", "127.0.0.2")).status).toBe(200);
  }, 120_000);

  it("idle sockets from several addresses fill every socket: newcomers take the place of the oldest, so /health and the admin get in", async () => {
    const { process: gateway, port } = await start({ headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 });
    const attack: Hostile[] = [];
    // Bounded: 5 addresses × 60 idle sockets, more than the 208 sockets the limit allows.
    for (let address = 1; address <= 5; address++)
      for (let n = 0; n < 60; n++) {
        const entry = hostile(port, `127.0.1.${address}`, "idle", timers);
        attack.push(entry);
        sockets.push(entry.socket);
      }
    await Promise.all(attack.map((entry) => entry.connected));
    // Every socket is held by idle ones: a newcomer is refused with a typed 503 until the idle
    // sockets are old enough to give way (a second), then served.
    await vi.waitFor(
      async () => {
        const health = await get(port, "/health", "127.0.0.2");
        if (health.status === 503)
          expect(JSON.parse(health.body)).toMatchObject({
            error: { code: "OVERLOADED", details: { reason: "too_many_connections" } },
          });
        expect(health.status).toBe(200);
      },
      { timeout: 30_000, interval: 200 },
    );
    const admin = await vi.waitFor(() => login(gateway.url, ADMIN, "127.0.0.4"), {
      timeout: 30_000,
      interval: 200,
    });
    sockets.push(admin);
    // No hostile socket was reset without an answer while it was refused.
    for (const entry of attack.filter((e) => e.received !== ""))
      expect(entry.received).toMatch(/^HTTP\/1\.1 503 /);
  }, 120_000);

  it("closes sockets that send no head, a head too slowly or a body too slowly, with a typed 408, after the configured timeouts", async () => {
    const { port } = await start({ headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
    const entries: Array<[Kind, Hostile]> = [];
    for (const kind of ["idle", "slow-head", "slow-body"] as const)
      for (let n = 0; n < 5; n++) {
        const entry = hostile(port, "127.0.0.1", kind, timers);
        entries.push([kind, entry]);
        sockets.push(entry.socket);
      }
    await Promise.all(entries.map(([, entry]) => entry.connected));
    // Waits on the gateway closing them, with a limit far beyond the timeouts (and far below
    // Node's own 60 s header timeout).
    await vi.waitFor(
      () => expect(entries.filter(([, entry]) => !entry.closed).map(([kind]) => kind)).toEqual([]),
      {
        timeout: 20_000,
        interval: 100,
      },
    );
    for (const [, entry] of entries) {
      expect(entry.received).toMatch(/^HTTP\/1\.1 408 /);
      const body = JSON.parse(entry.received.slice(entry.received.indexOf("\r\n\r\n") + 4));
      expect(body).toMatchObject({ error: { code: "TIMEOUT", details: { reason: "request_timeout" } } });
    }
    expect((await get(port, "/health", "127.0.0.2")).status).toBe(200);
  }, 60_000);
});
