import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { GatewayClient, type ProtocolError } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { canMountTmpfs, fillDisk, mountTmpfs, unmountAll } from "./fixtures";
import { kill9, startGatewayProcess } from "./gateway-process";

// Real OS faults against a real gateway process (the hardening issue, items 1, 2, 3, 12 and 13):
// a state dir replaced by a file (ENOTDIR), a full filesystem (a tiny tmpfs, ENOSPC), kill -9 with
// an immediate restart (also as PID 1 in a new PID namespace), corrupt state files, permissions;
// and (second round, items 5 and 14) a log on a full disk or a stalled pipe, task writes on a full disk.

const TOKEN = "operator-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";

/** Waits until every channel is ready (channels connect in the background after start-up). */
async function waitReady(client: GatewayClient): Promise<void> {
  await vi.waitFor(
    async () => {
      const { channels } = await client.request("channel.status", {});
      expect(channels.every((c) => c.state === "ready")).toBe(true);
    },
    { timeout: 20_000, interval: 50 },
  );
}

let dir: string;
const children: ChildProcess[] = [];
const mounts: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-faults-"));
  await writeConfig({});
});
afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  unmountAll(mounts);
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(extra: object): Promise<void> {
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      security: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } },
      logging: { level: "info" },
      ...extra,
    }),
  );
}

const env = { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN };
const start = (options: { pid1?: boolean } = {}) => startGatewayProcess(dir, env, children, options);
const admin = async (url: string) => {
  const c = new GatewayClient({ url, token: ADMIN, WebSocket, reconnect: false, requestTimeoutMs: 10_000 });
  await c.connect();
  return c;
};
const device = async (url: string) => {
  const c = new GatewayClient({
    url,
    role: "node",
    WebSocket,
    reconnect: false,
    requestTimeoutMs: 10_000,
    client: { name: "ios", version: "1", platform: "ios" },
  });
  await c.connect();
  return c;
};

describe("a state dir that cannot be written (ENOTDIR)", () => {
  it("answers persisted operations with a retryable UNAVAILABLE, keeps serving, and works again once fixed", async () => {
    const gw = await start();
    const client = await admin(gw.url);
    const phone = await device(gw.url);
    await phone.request("pairing.start", {
      code: "111111",
      publicKey: "key-0123456789abcdef",
      nodeId: "phone",
    });
    // The state dir is replaced by a regular file: every new file in it fails with ENOTDIR.
    const state = join(dir, "state");
    await rename(state, `${state}.moved`);
    await writeFile(state, "not a directory");
    const binding = {
      level: "account" as const,
      match: { userId: "u1" },
      target: { channel: "telegram", address: "1" },
    };
    const refused = await client.request("binding.add", binding).catch((error: ProtocolError) => error);
    expect(refused).toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "state_write_failed", retryable: true, errno: expect.stringMatching(/^E[A-Z]+$/) },
    });
    expect((refused as ProtocolError).retryable).toBe(true);
    await expect(client.request("pairing.approve", { code: "111111" })).rejects.toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "state_write_failed" },
    });
    // Nothing was changed, and the gateway still serves.
    expect((await client.request("binding.list", {})).bindings).toEqual([]);
    expect((await client.request("pairing.list")).requests.map((r) => r.code)).toEqual(["111111"]);
    await expect(client.request("ping")).resolves.toHaveProperty("ts");
    expect(gw.child.exitCode).toBeNull();
    // Fixed: the same requests succeed.
    await rm(state);
    await rename(`${state}.moved`, state);
    await expect(client.request("binding.add", binding)).resolves.toHaveProperty("binding.id");
    await expect(client.request("pairing.approve", { code: "111111" })).resolves.toMatchObject({
      nodeId: "phone",
    });
    await client.close();
    await phone.close();
  });
});

describe.skipIf(!canMountTmpfs)("a full filesystem (a tiny tmpfs)", () => {
  it("refuses a send with a retryable error before it reaches the platform, and sends again once space is back", async () => {
    const state = join(dir, "state");
    await mkdir(state);
    mountTmpfs(state, "1m", mounts);
    const platform = await FakeTelegram.start(BOT_TOKEN);
    try {
      await writeConfig({
        channels: { telegram: { botToken: BOT_TOKEN, apiRoot: platform.apiRoot, pollingTimeoutSeconds: 30 } },
      });
      const gw = await start();
      const client = await admin(gw.url);
      await waitReady(client);
      await expect(
        client.request("message.send", { channel: "telegram", recipient: "42", text: "first" }),
      ).resolves.toMatchObject({
        status: "sent",
      });
      // Fill the filesystem.
      fillDisk(state);
      // Tries sends until the journal needs a page the filesystem no longer has (the last page of a
      // file may still hold a few lines); every send is either sent or refused as retryable.
      const sent = ["first"];
      let refused: unknown;
      for (let i = 0; i < 500 && refused === undefined; i++) {
        const started = Date.now();
        const text = `fill ${i} ${"x".repeat(200)}`;
        const outcome = await client
          .request("message.send", { channel: "telegram", recipient: "42", text })
          .then(() => sent.push(text))
          .catch((error: unknown) => {
            refused = error;
          });
        void outcome;
        expect(Date.now() - started).toBeLessThan(10_000);
      }
      expect(refused).toMatchObject({
        code: "UNAVAILABLE",
        details: { reason: "state_write_failed", retryable: true },
      });
      expect((refused as ProtocolError).retryable).toBe(true);
      expect(platform.sentTexts()).toEqual(sent); // the refused one never reached the platform
      await expect(client.request("ping")).resolves.toHaveProperty("ts");
      // Space is back: sends work again, in order, and nothing refused went out.
      await rm(join(state, "filler"));
      await expect(
        client.request("message.send", { channel: "telegram", recipient: "42", text: "second" }),
      ).resolves.toMatchObject({
        status: "sent",
      });
      expect(platform.sentTexts()).toEqual([...sent, "second"]);
      await client.close();
    } finally {
      await platform.close();
    }
  });

  it("a log on the full disk never stalls serving or shutdown; the lines it dropped are counted once it can write again", async () => {
    // As `openclaw gateway > gateway.log` with the log on the same disk as the state.
    const disk = join(dir, "disk");
    await mkdir(disk);
    mountTmpfs(disk, "1m", mounts);
    const logFile = join(disk, "gateway.log");
    // At debug, every login is a log line: requests make the gateway log. A small buffer, so that
    // lines are dropped, not all kept until the disk has space again.
    await writeConfig({ logging: { level: "debug", maxBufferedBytes: 16 * 1024 } });
    const gw = await startGatewayProcess(dir, { ...env, OPENCLAW_STATE_DIR: join(disk, "state") }, children, {
      logFile,
    });
    const http = gw.url.replace(/^ws/, "http");
    /** `/health`, which must answer in a time no stalled process can meet (a functional bound). */
    const health = async () => {
      const answer = await fetch(`${http}/health`, { signal: AbortSignal.timeout(2_000) });
      expect(answer.status).toBe(200);
    };
    const logins = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const client = await admin(gw.url);
        await expect(client.request("ping")).resolves.toHaveProperty("ts");
        await client.close();
        if (i % 10 === 0) await health();
      }
    };
    const fill = () => {
      fillDisk(disk, "4k");
    };
    await logins(2);
    fill();
    await logins(200); // far more lines than the last page of the log file holds
    await health();
    expect(gw.child.exitCode).toBeNull();
    // Space is back: the next lines are written, and the first says how many were dropped.
    await rm(join(disk, "filler"));
    await logins(1);
    const dropped = () =>
      gw
        .output()
        .split("\n")
        .filter((line) => line.includes("log lines while the log could not be written"))
        .map((line) => JSON.parse(line) as { msg: string; droppedLines: number; error?: string });
    await vi.waitFor(() => expect(dropped()).toHaveLength(1), { timeout: 20_000, interval: 50 });
    const [notice] = dropped();
    expect(notice!.droppedLines).toBeGreaterThan(0);
    expect(notice!.msg).toBe(`dropped ${notice!.droppedLines} log lines while the log could not be written`);
    expect(notice!.error).toBe("ENOSPC");
    // Full again: SIGTERM still ends the process, cleanly, within 10 s.
    fill();
    await logins(50);
    await health();
    const exited = new Promise<number | null>((done) => gw.child.once("exit", (code) => done(code)));
    gw.child.kill("SIGTERM");
    const outcome = await Promise.race([
      exited,
      new Promise<"still running">((done) => setTimeout(() => done("still running"), 10_000).unref()),
    ]);
    expect(outcome).toBe(0);
  }, 60_000);

  it("refuses task.schedule with a retryable UNAVAILABLE that names no server path, and schedules again once space is back", async () => {
    const state = join(dir, "state");
    await mkdir(state);
    mountTmpfs(state, "1m", mounts);
    const gw = await start();
    const client = await admin(gw.url);
    const later = { type: "noop", delayMs: 3_600_000 };
    await expect(client.request("task.schedule", later)).resolves.toHaveProperty("taskId");
    fillDisk(state);
    // The last page of the task log may still hold a few records: schedule until one is refused.
    let refused: unknown;
    for (let i = 0; i < 500 && refused === undefined; i++) {
      await client
        .request("task.schedule", { ...later, payload: { fill: i, pad: "x".repeat(200) } })
        .catch((error: unknown) => {
          refused = error;
        });
    }
    expect(refused).toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "state_write_failed", retryable: true, errno: "ENOSPC" },
    });
    expect((refused as ProtocolError).retryable).toBe(true);
    const wire = JSON.stringify({
      message: (refused as ProtocolError).message,
      details: (refused as ProtocolError).details,
    });
    expect(wire).not.toContain(dir);
    expect(wire).not.toContain("/");
    await expect(client.request("ping")).resolves.toHaveProperty("ts");
    // Space is back: scheduling works again.
    await rm(join(state, "filler"));
    await expect(client.request("task.schedule", later)).resolves.toHaveProperty("taskId");
    await client.close();
  });
});

describe("a log pipe whose reader stalls", () => {
  it("never stalls serving or shutdown; the lines it dropped are counted once the reader is back", async () => {
    await writeConfig({ logging: { level: "debug", maxBufferedBytes: 16 * 1024 } });
    const gw = await start();
    const http = gw.url.replace(/^ws/, "http");
    // As `openclaw gateway | reader` with a reader that stops reading: the pipe fills (64 KiB).
    gw.child.stdout!.pause();
    for (let i = 0; i < 600; i++) {
      const client = await admin(gw.url); // a debug line each
      await client.close();
      if (i % 20 === 0) {
        const answer = await fetch(`${http}/health`, { signal: AbortSignal.timeout(2_000) });
        expect(answer.status).toBe(200);
      }
    }
    gw.child.stdout!.resume();
    await vi.waitFor(() => expect(gw.output()).toContain("log lines while the log could not be written"), {
      timeout: 20_000,
      interval: 50,
    });
    const notice = gw
      .output()
      .split("\n")
      .find((line) => line.includes("log lines while the log could not be written"));
    expect(JSON.parse(notice!)).toMatchObject({ level: 40, droppedLines: expect.any(Number) });
    // Stalled again: SIGTERM still ends the process, cleanly, within 10 s.
    gw.child.stdout!.pause();
    for (let i = 0; i < 600; i++) await (await admin(gw.url)).close();
    const exited = new Promise<number | null>((done) => gw.child.once("exit", (code) => done(code)));
    gw.child.kill("SIGTERM");
    const outcome = await Promise.race([
      exited,
      new Promise<"still running">((done) => setTimeout(() => done("still running"), 10_000).unref()),
    ]);
    expect(outcome).toBe(0);
  }, 60_000);
});

describe("kill -9 and an immediate restart", () => {
  it("starts again at once, the lock of the dead process taken over", async () => {
    for (let round = 0; round < 3; round++) {
      const gw = await start();
      const client = await admin(gw.url);
      await client.request("binding.add", {
        level: "account",
        match: { userId: `u${round}` },
        target: { channel: "telegram", address: String(round) },
      });
      await client.close();
      await kill9(gw.child);
    }
    const gw = await start();
    const client = await admin(gw.url);
    expect((await client.request("binding.list", {})).bindings).toHaveLength(3);
    await client.close();
  });

  const canUnshare = (() => {
    if (process.env.CI) return true;
    try {
      execFileSync("unshare", ["--pid", "--fork", "--mount-proc", "true"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!canUnshare)(
    "restarts as PID 1 (as in a container) after kill -9 of a PID 1 gateway",
    async () => {
      for (let round = 0; round < 2; round++) {
        const gw = await start({ pid1: true });
        const client = await admin(gw.url);
        await expect(client.request("ping")).resolves.toHaveProperty("ts");
        await client.close();
        await kill9(gw.child);
      }
    },
  );
});

describe("state files", () => {
  it("are private: the state dir 0700 (also when it existed as 0755), files 0600", async () => {
    const state = join(dir, "state");
    await mkdir(state, { mode: 0o755 });
    const gw = await start();
    const client = await admin(gw.url);
    await client.request("binding.add", {
      level: "account",
      match: { userId: "u" },
      target: { channel: "t", address: "1" },
    });
    await client.close();
    expect((await stat(state)).mode & 0o777).toBe(0o700);
    for (const file of ["bindings.json", "conversations.log", "deliveries.log", "idempotency.log"]) {
      const info = await stat(join(state, file));
      expect(info.mode & 0o777, file).toBe(0o600);
    }
    await kill9(gw.child);
  });

  it("a corrupt devices.json or bindings.json stops the start with the file, the problem and the fix, no stack", async () => {
    for (const file of ["devices.json", "bindings.json"]) {
      const state = join(dir, "state");
      await rm(state, { recursive: true, force: true });
      await mkdir(state, { recursive: true });
      await writeFile(join(state, file), "{ this is not json");
      const failure = await start().then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(failure, file).toContain(join(state, file));
      expect(failure).toContain("is not valid JSON");
      expect(failure).toMatch(/Move it aside .* or restore it from a backup/);
      expect(failure).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("logs the journal records it skipped, with their count and offset", async () => {
    const state = join(dir, "state");
    await mkdir(state, { recursive: true });
    const first = `{"op":"put","record":{"id":"broken"\n`;
    await writeFile(join(state, "conversations.log"), `${first}garbage\n`);
    const gw = await start();
    const log = gw
      .output()
      .split("\n")
      .filter((line) => line.includes("skipped"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)[0];
    expect(log).toMatchObject({ file: expect.stringContaining("conversations.log"), skipped: 2 });
    expect(log?.offsets).toEqual([0, Buffer.byteLength(first)]);
  });
});
