import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import { FakePlatform, webhookChannel } from "@openclaw/channel-sdk/testing";
import { ConfigManager } from "@openclaw/config";
import { type EventData, type EventName, GatewayClient, type GatewayClientOptions } from "@openclaw/protocol";
import { expect } from "vitest";
import { WebSocket } from "ws";
import { createLogger, Gateway } from "../src/index";

export const TOKEN = "operator-token-0123456789";
export const ADMIN = "admin-token-0123456789abc";
export const PLATFORM_TOKEN = "platform-token-0123456789";
export const SIGNING_SECRET = "signing-secret-0123456789";

/** A running gateway on 127.0.0.1:0 with a test channel ("test") backed by a loopback fake platform. */
export interface Harness {
  gateway: Gateway;
  platform: FakePlatform;
  config: ConfigManager;
  url: string;
  http: string;
  stateDir: string;
  client(options?: Partial<GatewayClientOptions>): Promise<GatewayClient>;
  raw(headers?: Record<string, string>): Promise<RawSocket>;
  webhook(body: object, secret?: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function startGateway(
  options: {
    config?: object;
    env?: Record<string, string>;
    stateDir?: string;
    logs?: string[];
    /** Extra settings of the "test" channel (e.g. `agent`). */
    testChannel?: Record<string, unknown>;
    /** More installed plugins (configure them with `config.channels`). */
    plugins?: ChannelPluginFactory[];
    channelStartWaitMs?: number;
    uiDir?: string;
  } = {},
): Promise<Harness> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), "openclaw-gw-")));
  let nextId = 1;
  const platform = await FakePlatform.start({
    "GET /health": () => ({ body: { ok: true } }),
    "POST /messages": () => ({ body: { id: `tg-${nextId++}` } }),
  });
  const configFile = join(stateDir, "openclaw.json");
  const { writeFile } = await import("node:fs/promises");
  await writeFile(
    configFile,
    JSON.stringify({
      heartbeat: { intervalMs: 60_000 },
      ...options.config,
      channels: {
        ...(options.config as { channels?: object } | undefined)?.channels,
        test: {
          plugin: "webhook",
          baseUrl: platform.url,
          token: "${PLATFORM_TOKEN}",
          signingSecret: SIGNING_SECRET,
          ...options.testChannel,
        },
      },
    }),
  );
  const config = new ConfigManager({
    path: configFile,
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      OPENCLAW_ADMIN_TOKEN: ADMIN,
      PLATFORM_TOKEN,
      ...options.env,
    },
    debounceMs: 20,
    pollIntervalMs: 100,
  });
  await config.load();
  const logs = options.logs;
  const logger =
    logs === undefined
      ? createLogger("silent")
      : createLogger("info", { write: (line: string) => void logs.push(line) });
  const gateway = new Gateway({
    config,
    channels: [webhookChannel, ...(options.plugins ?? [])],
    logger,
    ...(options.channelStartWaitMs === undefined ? {} : { channelStartWaitMs: options.channelStartWaitMs }),
    ...(options.uiDir === undefined ? {} : { uiDir: options.uiDir }),
  });
  const { url } = await gateway.start();
  config.watch();
  const clients: GatewayClient[] = [];
  const raws: RawSocket[] = [];
  return {
    gateway,
    platform,
    config,
    url,
    http: url.replace(/^ws/, "http"),
    stateDir,
    async client(overrides = {}) {
      const client = new GatewayClient({
        url,
        token: TOKEN,
        WebSocket,
        reconnect: false,
        client: { name: "test", version: "1.0.0", platform: "test" },
        ...overrides,
      });
      clients.push(client);
      await client.connect();
      return client;
    },
    async raw(headers = {}) {
      const socket = await RawSocket.open(url, headers);
      raws.push(socket);
      return socket;
    },
    webhook(body, secret = SIGNING_SECRET) {
      const text = JSON.stringify(body);
      return fetch(`${url.replace(/^ws/, "http")}/webhook/test`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-signature-256": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}`,
        },
        body: text,
      });
    },
    async stop() {
      await Promise.all(clients.map((client) => client.close()));
      for (const socket of raws) socket.ws.terminate();
      await gateway.stop({ drainTimeoutMs: 500 });
      await config.close();
      await platform.close();
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A bare ws client that records every frame and the close, for protocol-level tests. */
export class RawSocket {
  readonly frames: Array<Record<string, unknown>> = [];
  closed: { code: number; reason: string } | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => this.frames.push(JSON.parse(data.toString())));
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on("error", () => {});
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { headers });
    const socket = new RawSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return socket;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  async connect(data: Record<string, unknown> = { token: TOKEN }): Promise<Record<string, unknown>> {
    this.send({
      type: "req",
      id: "hello",
      method: "connect",
      data: {
        role: "operator",
        client: { name: "raw", version: "1", platform: "test" },
        protocol: 1,
        ...data,
      },
    });
    return this.response("hello");
  }

  async request(
    id: string,
    method: string,
    data?: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    this.send({ type: "req", id, method, data, ...extra });
    return this.response(id);
  }

  async response(id: string | null): Promise<Record<string, unknown>> {
    await until(() => this.frames.some((frame) => frame.type === "res" && frame.id === id));
    return this.frames.find((frame) => frame.type === "res" && frame.id === id)!;
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined);
    return this.closed!;
  }

  events(name: string): Array<Record<string, unknown>> {
    return this.frames.filter((frame) => frame.type === "event" && frame.event === name);
  }
}

export async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Collects events of one name on a client. */
export function collect<E extends EventName>(client: GatewayClient, event: E): unknown[] {
  const seen: unknown[] = [];
  client.on(event, ((data: unknown) => seen.push(data)) as never);
  return seen;
}

/** Pairs a device and returns a connected node client that answers agent.run. */
export async function pairNode(
  h: Harness,
  nodeId: string,
  answer: (data: unknown, node: GatewayClient) => unknown,
) {
  const admin = await h.client({ token: ADMIN });
  const requested = collect(admin, "pairing.requested");
  const device = new GatewayClient({
    url: h.url,
    role: "node",
    WebSocket,
    reconnect: false,
    client: { name: "ios", version: "1.0.0", platform: "ios" },
  });
  const hello = await device.connect();
  expect(hello.scopes).toEqual(["pairing"]);
  const approved = new Promise<EventData<"pairing.approved">>((resolve) =>
    device.once("pairing.approved", resolve),
  );
  const started = await device.request("pairing.start", {
    code: "4821",
    publicKey: "MCowBQYDK2VwAyEAexamplekey1234567890",
    nodeId,
    displayName: "Ana's phone",
  });
  expect(started).toMatchObject({
    status: "pending",
    nextStep: "approve code 4821 with `openclaw pair approve 4821`",
  });
  await until(() => requested.length === 1);
  expect(requested[0]).toMatchObject({ code: "4821", nodeId, displayName: "Ana's phone" });
  expect(JSON.stringify(requested[0])).not.toContain("MCowBQ"); // only the fingerprint is shown
  await admin.request("pairing.approve", { code: "4821" });
  const { deviceToken } = await approved;
  expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await device.close();
  const node = new GatewayClient({
    url: h.url,
    role: "node",
    deviceToken: deviceToken!,
    capabilities: ["agent.run"],
    WebSocket,
    reconnect: false,
    client: { name: "ios", version: "1.0.0", platform: "ios" },
  });
  node.handle("agent.run", (data) => answer(data, node));
  const nodeHello = await node.connect();
  expect(nodeHello).toMatchObject({ role: "node", scopes: ["node"], nodeId });
  return { node, deviceToken: deviceToken!, admin };
}
