/*
 * The one test harness for the OpenClaw Gateway, exported as `@openclaw/gateway/testing`: a real
 * gateway on 127.0.0.1:0 with a state dir of its own, a test channel backed by a loopback fake
 * platform, connected clients, raw sockets and signed webhooks. Needs vitest.
 */

import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import { FakePlatform, webhookChannel } from "@openclaw/channel-sdk/testing";
import { ConfigManager } from "@openclaw/config";
import { type EventData, type EventName, GatewayClient, type GatewayClientOptions } from "@openclaw/protocol";
import { expect, vi } from "vitest";
import { WebSocket } from "ws";
import { Gateway } from "./Gateway";
import type { GatewayOptions } from "./GatewayOptions";
import { createLogger } from "./logging";

/** The operator token every harness gateway accepts (`OPENCLAW_GATEWAY_TOKEN`). */
export const TOKEN = "operator-token-0123456789";
/** The admin token every harness gateway accepts (`OPENCLAW_ADMIN_TOKEN`). */
export const ADMIN = "admin-token-0123456789abc";
/** The fake platform's API token, given to the test channel as `${PLATFORM_TOKEN}`. */
export const PLATFORM_TOKEN = "platform-token-0123456789";
/** The test channel's webhook signing secret. */
export const SIGNING_SECRET = "signing-secret-0123456789";

/** How long {@link until} and the {@link RawSocket} waits wait by default, in milliseconds. */
export const DEFAULT_WAIT_MS = 5000;

/** A running gateway on 127.0.0.1:0 with a test channel ("test") backed by a loopback fake platform. */
export interface Harness {
  gateway: Gateway;
  /** The loopback fake platform of the "test" channel: it records every request it receives. */
  platform: FakePlatform;
  config: ConfigManager;
  /** `ws://127.0.0.1:<port>`. */
  url: string;
  /** `http://127.0.0.1:<port>`. */
  http: string;
  /** The state dir; it also holds `openclaw.json`. */
  stateDir: string;
  /** A connected client (operator {@link TOKEN} unless overridden); closed by `stop`. */
  client(options?: Partial<GatewayClientOptions>): Promise<GatewayClient>;
  /** A bare WebSocket that records every frame; terminated by `stop`. */
  raw(headers?: Record<string, string>): Promise<RawSocket>;
  /** POSTs a webhook to the "test" channel, signed with `secret`. */
  webhook(body: object, secret?: string): Promise<Response>;
  /** Closes the clients, stops the gateway and the fake platform, removes a state dir it made. */
  stop(): Promise<void>;
}

/** Options of {@link startGateway}. */
export interface StartGatewayOptions {
  /** `openclaw.json` contents (merged over `heartbeat.intervalMs: 60000`). */
  config?: object;
  /** More environment for the config (`${VAR}` substitution, `OPENCLAW_*` overrides). */
  env?: Record<string, string>;
  /** Use this state dir (kept by `stop`) instead of a fresh temp dir (removed by `stop`). */
  stateDir?: string;
  /** Collects the gateway's log lines (level info) instead of discarding them. */
  logs?: string[];
  /**
   * Extra settings of the "test" channel (e.g. `agent`), or `false` to configure no "test" channel
   * (the webhook plugin stays installed).
   * @defaultValue `{}`
   */
  testChannel?: Record<string, unknown> | false;
  /** More installed plugins (configure them with `config.channels`). */
  plugins?: ChannelPluginFactory[];
  /** The gateway's `channelStartWaitMs`. @defaultValue 10000 (the service's own default is no wait) */
  channelStartWaitMs?: number;
  /** The gateway's `uiDir`. */
  uiDir?: string;
  /**
   * Stores to run on instead of the state dir's files (the gateway options of the same names).
   * @defaultValue the file stores in the state dir
   */
  stores?: Pick<
    GatewayOptions,
    "bindingStore" | "deviceStore" | "idempotencyStore" | "dedupeStore" | "deliveryStore" | "historyStore"
  >;
  /** The broadcast adapter (the gateway closes it on stop). @defaultValue an `InMemoryAdapter` */
  adapter?: GatewayOptions["adapter"];
  /** Any further gateway options (cluster seams, for instance); they override the ones above. */
  gateway?: Partial<Omit<GatewayOptions, "config">>;
}

/**
 * Starts the real gateway in this process on 127.0.0.1:0, with the reference webhook plugin as
 * channel "test" pointed at a loopback {@link FakePlatform}.
 *
 * @param options - Config, environment, state dir, plugins.
 * @returns The running {@link Harness}; call `stop()` when done.
 *
 * @example
 * ```ts
 * const h = await startGateway();
 * const client = await h.client();
 * await client.request("system.status", {});
 * await h.stop();
 * ```
 */
export async function startGateway(options: StartGatewayOptions = {}): Promise<Harness> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), "openclaw-gw-")));
  let nextId = 1;
  const platform = await FakePlatform.start({
    "GET /health": () => ({ body: { ok: true } }),
    "POST /messages": () => ({ body: { id: `tg-${nextId++}` } }),
  });
  const configFile = join(stateDir, "openclaw.json");
  const channels: Record<string, unknown> = {
    ...(options.config as { channels?: object } | undefined)?.channels,
  };
  if (options.testChannel !== false) {
    channels.test = {
      plugin: "webhook",
      baseUrl: platform.url,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${VAR} substitution
      token: "${PLATFORM_TOKEN}",
      signingSecret: SIGNING_SECRET,
      ...options.testChannel,
    };
  }
  await writeFile(
    configFile,
    JSON.stringify({ heartbeat: { intervalMs: 60_000 }, ...options.config, channels }),
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
    // Tests start talking at once: wait for the channels to connect (the service itself does not).
    channelStartWaitMs: options.channelStartWaitMs ?? 10_000,
    ...(options.uiDir === undefined ? {} : { uiDir: options.uiDir }),
    ...options.stores,
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
    ...options.gateway,
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

  /** Opens a socket to `url` (with these upgrade headers and socket options) and waits until it is open. */
  static async open(
    url: string,
    headers: Record<string, string> = {},
    options: { localAddress?: string } = {},
  ): Promise<RawSocket> {
    const ws = new WebSocket(url, { headers, ...options });
    const socket = new RawSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return socket;
  }

  /** Sends a frame (a string as is, anything else as JSON). */
  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Sends a `connect` request (operator role, {@link TOKEN} unless `data` says otherwise) and waits for its response. */
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

  /** Sends a request and waits for its response. */
  async request(
    id: string,
    method: string,
    data?: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    this.send({ type: "req", id, method, data, ...extra });
    return this.response(id);
  }

  /** Waits for the response to request `id` (`null` for responses to frames without an id). */
  async response(id: string | null): Promise<Record<string, unknown>> {
    await until(() => this.frames.some((frame) => frame.type === "res" && frame.id === id));
    return this.frames.find((frame) => frame.type === "res" && frame.id === id)!;
  }

  /** Waits for the server to close the socket. */
  async waitClosed(): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined);
    return this.closed!;
  }

  /** The event frames named `name` received so far. */
  events(name: string): Array<Record<string, unknown>> {
    return this.frames.filter((frame) => frame.type === "event" && frame.event === name);
  }
}

/**
 * Waits until `predicate` holds (`vi.waitFor`, checking every 5 ms).
 *
 * @param predicate - The condition.
 * @param timeoutMs - How long to wait before failing.
 * @returns Resolves once the predicate holds; rejects after `timeoutMs`.
 */
export async function until(predicate: () => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  await vi.waitFor(
    () => {
      if (!predicate()) throw new Error(`condition not met in ${timeoutMs} ms: ${predicate.toString()}`);
    },
    { timeout: timeoutMs, interval: 5 },
  );
}

/** Collects events of one name on a client. */
export function collect<E extends EventName>(client: GatewayClient, event: E): unknown[] {
  const seen: unknown[] = [];
  client.on(event, ((data: unknown) => seen.push(data)) as never);
  return seen;
}

/**
 * Pairs a device (start, approve as admin) and returns a connected node client that answers agent.run.
 *
 * @param h - The harness.
 * @param nodeId - The node's id.
 * @param answer - What the node answers to `agent.run`.
 * @returns The node client, its device token, and the admin client that approved it.
 */
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
