import { describe, expectTypeOf, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import type { ProtocolError } from "../errors";
import type { EventFrame } from "../frames";
import type { InboundMessage } from "../schemas/common";
import type { ConnectResult } from "../schemas/system";
import type { GatewayClient } from "./GatewayClient";
import type { WebSocketConstructor } from "./websocket";

declare const client: GatewayClient;

describe("GatewayClient types", () => {
  it("accepts both the ws and the browser WebSocket", () => {
    expectTypeOf(WsWebSocket).toExtend<WebSocketConstructor>();
    expectTypeOf(globalThis.WebSocket).toExtend<WebSocketConstructor>();
  });

  it("types request params and results from the catalogue", () => {
    expectTypeOf(client.request("message.send", { recipient: "alice", text: "hi" }))
      .resolves.toHaveProperty("status")
      .toEqualTypeOf<"sent" | "queued">();
    expectTypeOf(client.request("route.resolve", { recipient: "alice" }))
      .resolves.toHaveProperty("level")
      .toEqualTypeOf<"peer" | "guild" | "account" | "channel" | "system">();
    // Methods whose params are all optional may omit them.
    expectTypeOf(client.request("system.status")).resolves.toHaveProperty("uptimeMs").toEqualTypeOf<number>();
    expectTypeOf(client.request("ping", undefined, { timeoutMs: 100 })).resolves.toHaveProperty("ts");
    // @ts-expect-error: message.send needs params
    client.request("message.send");
    // @ts-expect-error: recipient must be a string
    client.request("message.send", { recipient: 42, text: "x" });
    // @ts-expect-error: not a method
    client.request("message.sned", {});
  });

  it("types event listeners from the catalogue", () => {
    client.on("channel.message.received", (data, frame) => {
      expectTypeOf(data.message).toEqualTypeOf<InboundMessage>();
      expectTypeOf(frame).toEqualTypeOf<EventFrame>();
    });
    client.on("connected", (hello) => expectTypeOf(hello).toEqualTypeOf<ConnectResult>());
    client.on("error", (error) => expectTypeOf(error).toEqualTypeOf<ProtocolError>());
    // @ts-expect-error: not an event
    client.on("channel.message.recieved", () => {});
  });
});
