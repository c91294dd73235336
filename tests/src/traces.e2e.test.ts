import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { FakeOpenAiUpstream } from "@openclaw/gateway/testing";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { clusterTestsAvailable, startInstance, useCluster } from "./cluster-process";
import { telegramWebhookChannel } from "./fixtures";
import { kill9, startGatewayProcess } from "./gateway-process";

const TOKEN = "operator-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const BOT_TOKEN = "7000000003:AAFakeTokenForTraces_0123456789abcd";
const SECRET = "traces-webhook-secret-0123";
const DEVICE = { name: "ios", version: "1.0.0", platform: "ios" };
const PUBLIC_KEY = "MCowBQYDK2VwAyEAexamplekey1234567890";
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** A span as the fake collector decoded it from OTLP/HTTP JSON. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type OtlpValue = {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
};
const otlpValue = (value: OtlpValue): unknown =>
  value.stringValue ??
  (value.intValue === undefined ? undefined : Number(value.intValue)) ??
  value.boolValue ??
  value.doubleValue;
const attributesOf = (list: Array<{ key: string; value: OtlpValue }> | undefined) =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, otlpValue(value)]));

/** A local OTLP/HTTP collector: decodes the JSON export requests it gets on `/v1/traces`. */
class FakeCollector {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes: string[] = [];
  readonly apiKeys: string[] = [];
  constructor(readonly server: Server) {}

  static async start(): Promise<FakeCollector> {
    const server = createServer();
    const collector = new FakeCollector(server);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        collector.contentTypes.push(String(req.headers["content-type"]));
        collector.apiKeys.push(String(req.headers["x-api-key"]));
        if (req.url !== "/v1/traces") {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans: Array<{
            resource?: { attributes?: Array<{ key: string; value: OtlpValue }> };
            scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>;
          }>;
        };
        for (const resourceSpans of body.resourceSpans) {
          const resource = attributesOf(resourceSpans.resource?.attributes);
          for (const scope of resourceSpans.scopeSpans)
            for (const span of scope.spans)
              collector.spans.push({
                traceId: span.traceId as string,
                spanId: span.spanId as string,
                parentSpanId: (span.parentSpanId as string | undefined) ?? "",
                name: span.name as string,
                kind: span.kind as number,
                attributes: attributesOf(span.attributes as Array<{ key: string; value: OtlpValue }>),
                resource,
              });
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return collector;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The one span of that name (waits for it in the test). */
  named(name: string): ReceivedSpan {
    const found = this.spans.filter((span) => span.name === name);
    expect(found.map((span) => span.name)).toEqual([name]);
    return found[0]!;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}

let dir: string;
const children: ChildProcess[] = [];
const clients: GatewayClient[] = [];
let telegram: FakeTelegram;
let upstream: FakeOpenAiUpstream;
let collector: FakeCollector;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "openclaw-traces-"));
  telegram = await FakeTelegram.start(BOT_TOKEN);
  upstream = await FakeOpenAiUpstream.start();
  collector = await FakeCollector.start();
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const child of children.splice(0)) await kill9(child);
  await telegram.close();
  await upstream.close();
  await collector.close();
  await rm(dir, { recursive: true, force: true });
});

const writeConfig = (telemetry: Record<string, unknown> | undefined) =>
  writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      channels: {
        telegram: telegramWebhookChannel(BOT_TOKEN, telegram.apiRoot, SECRET, { agent: "model" }),
      },
      agents: { list: { model: { provider: "openai", baseUrl: upstream.url, model: "fake-1" } } },
      logging: { level: "info" },
      ...(telemetry === undefined ? {} : { telemetry }),
    }),
  );

const update = (n: number, text: string) => ({
  update_id: 9000 + n,
  message: {
    message_id: 9000 + n,
    date: 1_764_000_000,
    chat: { id: 61, type: "private", first_name: "Ana" },
    from: { id: 7, is_bot: false, first_name: "Ana" },
    text,
  },
});

/** Posts an update until the channel takes it (it starts in the background). */
async function deliver(base: string, n: number, text: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const res = await fetch(`${base}/webhook/telegram`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET },
        body: JSON.stringify(update(n, text)),
      });
      expect(res.status).toBe(200);
    },
    { timeout: 20_000, interval: 20 },
  );
}

const operator = async (url: string, token = ADMIN) => {
  const client = new GatewayClient({ url, token, WebSocket, reconnect: false, requestTimeoutMs: 10_000 });
  clients.push(client);
  await client.connect();
  return client;
};

/**
 * A paired node on a raw WebSocket (to see the frames as sent): answers `echo` calls and keeps the
 * request frames it got.
 */
async function rawNode(
  url: string,
  admin: GatewayClient,
  pairUrl = url,
): Promise<{ frames: Array<Record<string, unknown>> }> {
  const device = new GatewayClient({
    url: pairUrl,
    role: "node",
    WebSocket,
    reconnect: false,
    client: DEVICE,
  });
  clients.push(device);
  await device.connect();
  const approved = new Promise<string | undefined>((resolve) =>
    device.once("pairing.approved", (data) => resolve(data.deviceToken)),
  );
  await device.request("pairing.start", { code: "4821", publicKey: PUBLIC_KEY, nodeId: "phone" });
  await admin.request("pairing.approve", { code: "4821" });
  const deviceToken = await approved;
  await device.close();
  const socket = new WebSocket(url);
  await once(socket, "open");
  const frames: Array<Record<string, unknown>> = [];
  const connected = new Promise<void>((resolve, reject) => {
    socket.on("message", (raw) => {
      const frame = JSON.parse(String(raw)) as Record<string, unknown>;
      if (frame.type === "res" && frame.id === "c1") {
        if (frame.error === null) resolve();
        else reject(new Error(JSON.stringify(frame.error)));
        return;
      }
      if (frame.type !== "req") return;
      frames.push(frame);
      socket.send(JSON.stringify({ type: "res", id: frame.id, data: { echoed: frame.data }, error: null }));
    });
  });
  socket.send(
    JSON.stringify({
      type: "req",
      id: "c1",
      method: "connect",
      data: { deviceToken, role: "node", client: DEVICE, protocol: 1, capabilities: ["echo"] },
    }),
  );
  await connected;
  clients.push({ close: async () => socket.close() } as unknown as GatewayClient);
  return { frames };
}

describe("OpenTelemetry traces (real gateway processes, a fake OTLP collector)", () => {
  it("exports webhook → inbound → agent run → reply as one trace, passes traceparent upstream and to nodes, and an RPC span", async () => {
    await writeConfig({ otlp: { endpoint: collector.url, headers: { "x-api-key": "from-config" } } });
    const gateway = await startGatewayProcess(
      dir,
      { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN, OTEL_BSP_SCHEDULE_DELAY: "50" },
      children,
    );
    const base = gateway.url.replace(/^ws/, "http");

    await deliver(base, 1, "hello traced");
    // The model's answer goes back to the chat.
    await vi.waitFor(() => expect(telegram.sentTexts()).toHaveLength(1), { timeout: 20_000 });
    // A parent ends after its children: wait for the outermost spans of the pipeline.
    await vi.waitFor(
      () =>
        expect(collector.spans.map((s) => s.name)).toEqual(
          expect.arrayContaining(["message.send", "inbound.message"]),
        ),
      { timeout: 20_000 },
    );
    expect(collector.contentTypes[0]).toMatch(/^application\/json/);
    expect(new Set(collector.apiKeys)).toEqual(new Set(["from-config"]));

    // Posts answered 503 while the channel was starting have spans of their own, without children.
    const inbound = collector.named("inbound.message");
    const webhooks = collector.spans.filter((span) => span.name === "webhook telegram");
    const webhook = webhooks.find((span) => span.spanId === inbound.parentSpanId)!;
    expect(webhook).toBeDefined();
    for (const other of webhooks)
      if (other !== webhook) expect(other.attributes["http.response.status_code"]).not.toBe(200);
    const agent = collector.named("agent.run model");
    const reply = collector.named("message.send");
    const platform = collector.named("channel.send telegram");
    // One trace, with the pipeline's spans under the webhook's.
    for (const span of [inbound, agent, reply, platform]) expect(span.traceId).toBe(webhook.traceId);
    expect(webhook.parentSpanId).toBe("");
    expect(inbound.parentSpanId).toBe(webhook.spanId);
    expect(agent.parentSpanId).toBe(inbound.spanId);
    expect(reply.parentSpanId).toBe(inbound.spanId);
    expect(platform.parentSpanId).toBe(reply.spanId);
    expect(webhook.kind).toBe(2); // SERVER
    expect(platform.kind).toBe(3); // CLIENT
    expect(webhook.attributes).toMatchObject({
      "openclaw.channel": "telegram",
      "http.request.method": "POST",
      "http.response.status_code": 200,
    });
    expect(inbound.attributes).toMatchObject({
      "openclaw.channel": "telegram",
      "openclaw.conversation.id": "61",
      "openclaw.message.id": "61:9001",
    });
    expect(agent.attributes).toMatchObject({ "openclaw.agent": "model", "openclaw.outcome": "OK" });
    expect(reply.attributes).toMatchObject({
      "openclaw.channel": "telegram",
      "openclaw.delivery.status": "sent",
    });
    expect(platform.attributes).toMatchObject({
      "openclaw.channel": "telegram",
      "openclaw.delivery.attempt": 1,
      "openclaw.outcome": "OK",
    });
    expect(webhook.resource).toMatchObject({ "service.name": "openclaw-gateway" });

    // The upstream model server got the agent run's context.
    const header = upstream.requests.at(-1)?.headers.traceparent;
    const [, traceId, parentId] = TRACEPARENT.exec(String(header)) ?? [];
    expect(traceId).toBe(webhook.traceId);
    expect(parentId).toBe(agent.spanId);

    // An RPC with the router's resolution, and a node call whose frame carries the context.
    const admin = await operator(gateway.url);
    const node = await rawNode(gateway.url, admin);
    await admin.request("binding.add", {
      level: "account",
      match: { userId: "ana" },
      target: { channel: "telegram", address: "61" },
    });
    await admin.request("message.send", { recipient: "ana", text: "routed" });
    const invoked = await admin.request("node.invoke", { node: "phone", method: "echo", data: { n: 1 } });
    expect(invoked).toMatchObject({ nodeId: "phone", result: { echoed: { n: 1 } } });
    await expect(admin.request("node.invoke", { node: "nobody", method: "echo" })).rejects.toMatchObject({
      code: "NODE_OFFLINE",
    });
    await vi.waitFor(
      () => {
        const names = collector.spans.map((s) => s.name);
        expect(names).toContain("node.call echo");
        expect(names.filter((n) => n === "rpc node.invoke")).toHaveLength(2);
        expect(names).toContain("rpc message.send");
      },
      { timeout: 20_000 },
    );
    const rpcSend = collector.named("rpc message.send");
    expect(rpcSend.kind).toBe(2);
    expect(rpcSend.attributes).toMatchObject({
      "rpc.method": "message.send",
      "openclaw.outcome": "OK",
      "openclaw.connection.role": "operator",
    });
    const routed = collector.spans.find((s) => s.name === "message.send" && s.traceId === rpcSend.traceId)!;
    expect(routed.parentSpanId).toBe(rpcSend.spanId);
    const resolved = collector.named("router.resolve");
    expect(resolved.parentSpanId).toBe(routed.spanId);
    expect(resolved.attributes).toMatchObject({
      "openclaw.channel": "telegram",
      "openclaw.route.level": expect.any(String),
    });

    const invokes = collector.spans.filter((s) => s.name === "rpc node.invoke");
    expect(invokes.map((s) => s.attributes["openclaw.outcome"]).sort()).toEqual(["NODE_OFFLINE", "OK"]);
    const call = collector.named("node.call echo");
    const okInvoke = invokes.find((s) => s.attributes["openclaw.outcome"] === "OK")!;
    expect(call.parentSpanId).toBe(okInvoke.spanId);
    expect(call.attributes).toMatchObject({ "rpc.method": "echo", "openclaw.node.id": "phone" });
    const echoFrame = node.frames.find((frame) => frame.method === "echo");
    expect(echoFrame?.traceparent).toBe(`00-${call.traceId}-${call.spanId}-01`);
  }, 90_000);

  it("exports to the OTEL_EXPORTER_OTLP_* variables' collector without config; a caller's traceparent on a request frame parents the RPC span", async () => {
    await writeConfig(undefined);
    const gateway = await startGatewayProcess(
      dir,
      {
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
        OPENCLAW_ADMIN_TOKEN: ADMIN,
        OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=from-env",
      },
      children,
    );
    const socket = new WebSocket(gateway.url);
    await once(socket, "open");
    const answers: Array<Record<string, unknown>> = [];
    socket.on("message", (raw) => answers.push(JSON.parse(String(raw)) as Record<string, unknown>));
    socket.send(
      JSON.stringify({
        type: "req",
        id: "c1",
        method: "connect",
        data: { token: TOKEN, role: "operator", client: DEVICE, protocol: 1 },
      }),
    );
    await vi.waitFor(() => expect(answers.find((a) => a.id === "c1")).toMatchObject({ error: null }));
    const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    socket.send(JSON.stringify({ type: "req", id: "p1", method: "system.status", traceparent: caller }));
    // A malformed traceparent is refused as an invalid frame.
    socket.send(JSON.stringify({ type: "req", id: "p2", method: "system.status", traceparent: "00-zz" }));
    await vi.waitFor(() => expect(answers.filter((a) => a.id === "p1" || a.id === "p2")).toHaveLength(2));
    expect(answers.find((a) => a.id === "p1")).toMatchObject({ error: null });
    expect(answers.find((a) => a.id === "p2")).toMatchObject({ error: { code: "INVALID_FRAME" } });
    socket.close();
    await vi.waitFor(() => expect(collector.spans.map((s) => s.name)).toContain("rpc system.status"), {
      timeout: 20_000,
    });
    const span = collector.named("rpc system.status");
    expect(new Set(collector.apiKeys)).toEqual(new Set(["from-env"]));
    expect(span.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(span.parentSpanId).toBe("b7ad6b7169203331");
  }, 60_000);

  it("without telemetry config the OpenTelemetry SDK and exporter are never loaded", async () => {
    await writeConfig(undefined);
    // A module hook in the gateway process records every module it loads.
    const loaded = join(dir, "loaded.txt");
    const hooks = join(dir, "hooks.mjs");
    await writeFile(
      hooks,
      `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(loaded)}, result.url + "\\n");
  return result;
}
`,
    );
    const register = join(dir, "register.mjs");
    await writeFile(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const gateway = await startGatewayProcess(
      dir,
      {
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
        OPENCLAW_ADMIN_TOKEN: ADMIN,
        NODE_OPTIONS: `--import=${pathToFileURL(register).href}`,
      },
      children,
    );
    const base = gateway.url.replace(/^ws/, "http");
    await deliver(base, 2, "hello untraced");
    await vi.waitFor(() => expect(telegram.sentTexts()).toHaveLength(1), { timeout: 20_000 });
    const admin = await operator(gateway.url);
    await admin.request("system.status", {});
    const modules = (await readFile(loaded, "utf8")).split("\n");
    // The hook saw the gateway's modules, the tracing module and the API among them…
    expect(modules.some((url) => url.endsWith("/apps/gateway/src/telemetry/tracing.ts"))).toBe(true);
    expect(modules.some((url) => url.includes("/@opentelemetry/api/"))).toBe(true);
    // …and no SDK, exporter or resource module; no span reached the collector.
    expect(
      modules.filter((url) => /@opentelemetry\/(sdk-|exporter-|resources|otlp-|core\/)/.test(url)),
    ).toEqual([]);
    expect(upstream.requests.at(-1)?.headers.traceparent).toBeUndefined();
    expect(collector.spans).toEqual([]);
  }, 60_000);
});

const available = await clusterTestsAvailable();
const cluster = useCluster("traces", available);

describe.skipIf(!available)("OpenTelemetry traces across cluster instances (real redis-server)", () => {
  it("a node call forwarded to another instance carries the caller's trace context to the node", async () => {
    const setup = cluster.newCluster({ telemetry: { otlp: { endpoint: collector.url } } });
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const admin = await operator(a!.url);
    // Paired on A, connected to B.
    const node = await rawNode(b!.url, admin, a!.url);
    await vi.waitFor(
      async () => {
        const { nodes } = (await admin.request("node.list", {})) as { nodes: Array<{ nodeId: string }> };
        expect(nodes.map((n) => n.nodeId)).toContain("phone");
      },
      { timeout: 20_000, interval: 50 },
    );
    const invoked = await admin.request("node.invoke", { node: "phone", method: "echo", data: { n: 2 } });
    expect(invoked).toMatchObject({ nodeId: "phone", result: { echoed: { n: 2 } } });
    // The batch exporter's default delay is 5 s.
    await vi.waitFor(() => expect(collector.spans.map((s) => s.name)).toContain("node.call echo"), {
      timeout: 30_000,
      interval: 100,
    });
    const call = collector.named("node.call echo");
    expect(call.resource).toMatchObject({ "service.instance.id": "a" });
    expect(call.attributes).toMatchObject({ "openclaw.node.id": "phone", "openclaw.node.instance": "b" });
    const echoFrame = node.frames.find((frame) => frame.method === "echo");
    expect(echoFrame?.traceparent).toBe(`00-${call.traceId}-${call.spanId}-01`);
  }, 90_000);
});
