// A runnable tour of @openclaw/protocol: a toy gateway built from the package's parser and
// encoders, and a GatewayClient that connects to it, pings, sends a message and receives events.
// Run with `npx pnpm@10.34.8 start` from the repository root (it builds the package first).

import {
  DEFAULT_GATEWAY_HOST,
  DEFAULT_GATEWAY_PORT,
  EVENT_NAMES,
  encodeError,
  encodeEvent,
  encodeResult,
  GatewayClient,
  METHOD_NAMES,
  PROTOCOL_VERSION,
  ProtocolError,
  parseFrame,
  parseParams,
} from "@openclaw/protocol";
import { WebSocket, WebSocketServer } from "ws";

const token = "example-token";
const port = Number(process.env.OPENCLAW_PORT ?? DEFAULT_GATEWAY_PORT);

// --- a toy gateway: every frame goes through parseFrame + parseParams ---
const server = new WebSocketServer({ host: DEFAULT_GATEWAY_HOST, port });
await new Promise((resolve, reject) => {
  server.once("listening", resolve);
  server.once("error", reject);
});
const { port: boundPort } = server.address();
console.log(
  `toy gateway listening on ws://${DEFAULT_GATEWAY_HOST}:${boundPort} (protocol v${PROTOCOL_VERSION})`,
);

server.on("connection", (socket) => {
  let ready = false;
  socket.on("message", (raw) => {
    const parsed = parseFrame(raw);
    if (!parsed.ok) return socket.send(encodeError(parsed.id, parsed.error));
    const frame = parsed.frame;
    if (frame.type !== "req") return;
    const params = parseParams(frame.method, frame.data);
    if (!params.ok) return socket.send(encodeError(frame.id, params.error));
    if (!ready && frame.method !== "connect") {
      socket.send(encodeError(frame.id, new ProtocolError("UNAUTHORIZED", "send connect first")));
      return socket.close(1008, "unauthorized");
    }
    switch (frame.method) {
      case "connect":
        if (params.value.token !== token) {
          socket.send(
            encodeError(
              frame.id,
              new ProtocolError("UNAUTHORIZED", "token rejected", { details: { reason: "token_mismatch" } }),
            ),
          );
          return socket.close(1008, "unauthorized");
        }
        ready = true;
        return socket.send(
          encodeResult(frame.id, {
            protocol: PROTOCOL_VERSION,
            server: { name: "toy-gateway", version: "0.0.0" },
            connectionId: "c-1",
            role: params.value.role,
            scopes: ["operator.read", "operator.write"],
            methods: [...METHOD_NAMES],
            events: [...EVENT_NAMES],
            heartbeatMs: 15_000,
            limits: { maxFrameBytes: 1_048_576 },
          }),
        );
      case "ping":
        return socket.send(encodeResult(frame.id, { ts: Date.now(), echo: params.value.ts }));
      case "message.send": {
        const messageId = `m-${Date.now()}`;
        socket.send(
          encodeResult(frame.id, {
            messageId,
            channel: params.value.channel ?? "echo",
            address: params.value.recipient,
          }),
        );
        return socket.send(
          encodeEvent("channel.message.sent", {
            channel: params.value.channel ?? "echo",
            messageId,
            address: params.value.recipient,
            timestamp: Date.now(),
          }),
        );
      }
      default:
        return socket.send(
          encodeError(
            frame.id,
            new ProtocolError("METHOD_NOT_FOUND", `the toy gateway does not do ${frame.method}`),
          ),
        );
    }
  });
});

// --- a client, as a CLI or service would write it ---
const client = new GatewayClient({
  url: `ws://${DEFAULT_GATEWAY_HOST}:${boundPort}`,
  token,
  WebSocket,
  client: { name: "protocol-example", version: "0.1.0", platform: process.platform },
});
client.on("channel.message.sent", (event) =>
  console.log(`event channel.message.sent: ${event.messageId} to ${event.address}`),
);

const hello = await client.connect();
console.log(
  `connected as ${hello.role} (connection ${hello.connectionId}), ${hello.methods.length} methods offered`,
);
const pong = await client.request("ping", { ts: Date.now() });
console.log(`ping round trip: ${Date.now() - pong.echo} ms`);
const sent = await client.request("message.send", { recipient: "alice", text: "Hello, OpenClaw!" });
console.log(`message.send -> ${JSON.stringify(sent)}`);
const refused = await client.request("task.list").catch((error) => error);
console.log(`task.list -> ${refused.code}: ${refused.message}`);
const invalid = await client.request("message.send", { recipient: "", text: "x" }).catch((error) => error);
console.log(`message.send with an empty recipient -> ${invalid.code}: ${invalid.message}`);

await new Promise((resolve) => setTimeout(resolve, 50));
await client.close();
await new Promise((resolve) => server.close(resolve));
console.log("done");
