import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type GatewayProcess, kill9, startGatewayProcess, until } from "./gateway-process";

// Issue 22, item 1: at its descriptor limit the gateway stays healthy. A real gateway process runs
// under `prlimit --nofile=256:256`; it is filled past its cap with authenticated WebSocket clients.

const TOKEN = "operator-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const NOFILE = 256;
/** What the gateway derives from 256 descriptors: 256 − max(64, 2.5%) = 192; admins 64 / 8 more. */
const CAP = 192;
const ADMIN_SLOTS = 8;

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

/** An upgrade's outcome: an authenticated socket, or the HTTP refusal. */
type Outcome =
  | { ok: true; socket: WebSocket }
  | { ok: false; status: number; retryAfter: string | undefined; body: unknown };

/** Opens a WebSocket and completes `connect`; resolves with the socket or the upgrade's refusal. */
function open(url: string, token: string, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once("unexpected-response", (_request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on("end", () =>
        resolve({
          ok: false,
          status: response.statusCode ?? 0,
          retryAfter: response.headers["retry-after"] as string | undefined,
          body: JSON.parse(text),
        }),
      );
    });
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
            client: { name: "fill", version: "1", platform: "test" },
          },
        }),
      ),
    );
    socket.once("message", (data) => {
      const frame = JSON.parse(String(data)) as { ok?: boolean; error?: unknown };
      if (frame.error != null) reject(new Error(`connect refused: ${String(data)}`));
      else resolve({ ok: true, socket });
    });
  });
}

const closed = (socket: WebSocket) =>
  new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve();
    else socket.once("close", () => resolve());
  });

describe.skipIf(!available)(`a gateway at its descriptor limit (ulimit -n ${NOFILE})`, () => {
  let dir: string;
  const children: ChildProcess[] = [];
  let gateway: GatewayProcess;
  let http: string;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-fd-"));
    await writeFile(
      join(dir, "openclaw.json"),
      JSON.stringify({ heartbeat: { intervalMs: 60_000 }, gateway: { maxHandshakesPerSource: 1000 } }),
    );
    gateway = await startGatewayProcess(
      dir,
      { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN },
      children,
      { nofile: NOFILE },
    );
    http = gateway.url.replace(/^ws/, "http");
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.terminate();
    for (const child of children) await kill9(child);
    await rm(dir, { recursive: true, force: true });
  });

  it("states its cap at start, derived from the limit", () => {
    const line = gateway
      .output()
      .split("\n")
      .find((l) => l.includes('"connection cap"'));
    expect(JSON.parse(line!)).toMatchObject({
      maxConnections: CAP,
      adminConnections: ADMIN_SLOTS,
      descriptorLimit: NOFILE,
      reserve: 64,
      source: "descriptor_limit",
    });
    // What the bare process holds fits in the part of the reserve kept for it.
    expect(JSON.parse(line!).ownDescriptors).toBeGreaterThan(0);
    expect(gateway.output()).not.toContain("descriptor reserve leaves little room");
  });

  it("accepts clients up to the cap, refuses the rest with the typed 503, and /health keeps answering", async () => {
    const refusals: Array<Extract<Outcome, { ok: false }>> = [];
    // Bounded: the cap plus 40 more tries.
    for (let attempt = 0; attempt < CAP + 40; attempt++) {
      const outcome = await open(gateway.url, TOKEN);
      if (outcome.ok) sockets.push(outcome.socket);
      else refusals.push(outcome);
    }
    expect(sockets).toHaveLength(CAP);
    expect(refusals).toHaveLength(40);
    for (const refusal of refusals) {
      expect(refusal.status).toBe(503);
      expect(Number(refusal.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(refusal.body).toMatchObject({
        error: { code: "OVERLOADED", details: { reason: "too_many_connections", limit: CAP } },
      });
    }
    // Full of clients, the service still answers its probes.
    for (let probe = 0; probe < 20; probe++) {
      const health = await fetch(`${http}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok" });
    }
    // One warning for the whole episode, not one per refusal; no line per connection at info.
    const lines = gateway.output().split("\n");
    expect(lines.filter((l) => l.includes("connection cap reached"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("client connected"))).toHaveLength(0);
  }, 120_000);

  it("still lets an admin in (Authorization: Bearer), within the admins' slots", async () => {
    // An operator's token in the header does not open the admins' slots.
    const operator = await open(gateway.url, TOKEN, { authorization: `Bearer ${TOKEN}` });
    expect(operator).toMatchObject({ ok: false, status: 503 });
    const asAdmin = () => open(gateway.url, ADMIN, { authorization: `Bearer ${ADMIN}` });
    for (let slot = 0; slot < ADMIN_SLOTS; slot++) {
      const admin = await asAdmin();
      expect(admin.ok).toBe(true);
      if (admin.ok) sockets.push(admin.socket);
    }
    expect(await asAdmin()).toMatchObject({ ok: false, status: 503 });
    // Every WebSocket slot held, a burst of HTTP requests beyond the sockets left for them is
    // refused, never taking the process to its limit: probes answer before and after. Each extra
    // client gets a typed 503 (or its connect is refused by the kernel), never a bare reset after
    // the gateway accepted it (issue 29, item 12).
    const burst = await Promise.allSettled(
      Array.from({ length: 100 }, async () => {
        const response = await fetch(`${http}/health`);
        return {
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
          body: await response.json(),
        };
      }),
    );
    const outcomes = burst.map((result) =>
      result.status === "fulfilled"
        ? result.value
        : { error: String((result.reason as { cause?: { code?: string } }).cause?.code ?? result.reason) },
    );
    expect(outcomes.filter((o) => "error" in o && o.error !== "ECONNREFUSED")).toEqual([]);
    expect(outcomes.some((o) => "status" in o && o.status === 200)).toBe(true);
    for (const outcome of outcomes)
      if ("status" in outcome && outcome.status !== 200) {
        expect(outcome.status).toBe(503);
        expect(Number(outcome.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(outcome.body).toMatchObject({
          error: { code: "OVERLOADED", details: { reason: "too_many_connections" } },
        });
      }
    expect(outcomes.some((o) => "status" in o && o.status === 503)).toBe(true);
    for (let probe = 0; probe < 5; probe++) expect((await fetch(`${http}/health`)).status).toBe(200);
  });

  it("accepts again once clients leave, and says the episode is over", async () => {
    const leaving = sockets.splice(0, 60);
    for (const socket of leaving) socket.close();
    await Promise.all(leaving.map(closed));
    await until(() => gateway.output().includes("connection cap episode over"), "the episode's end");
    const line = gateway
      .output()
      .split("\n")
      .find((l) => l.includes("connection cap episode over"));
    // The 503 answers to upgrades, and to the burst's HTTP sockets as they were accepted.
    expect(JSON.parse(line!).refused).toBeGreaterThanOrEqual(41);
    expect(JSON.parse(line!).dropped).toBeGreaterThanOrEqual(1);
    const again = await open(gateway.url, TOKEN);
    expect(again.ok).toBe(true);
    if (again.ok) sockets.push(again.socket);
  }, 60_000);
});
