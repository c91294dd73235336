import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { CloseCode } from "../constants";
import { encodeError, encodeEvent, encodeRequest, encodeResult } from "../encode";
import { ProtocolError } from "../errors";
import { parseFrame } from "../parse";

type Handler = (data: unknown, socket: WebSocket) => unknown;

/** A minimal loopback gateway for client tests: real `ws`, real frames, recorded traffic. */
export class TestServer {
  readonly received: Array<{ method: string; data: unknown; target?: string | undefined }> = [];
  readonly responses: unknown[] = [];
  readonly handlers = new Map<string, Handler>();
  readonly sockets = new Set<WebSocket>();
  token = "secret";
  heartbeatMs = 60_000;
  /** When false, `connect` is never answered. */
  answerHandshake = true;
  connects = 0;
  /** The id of the last request received after the handshake. */
  lastRequestId = "";
  #wss: WebSocketServer | undefined;
  #port = 0;

  get url(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: this.#port });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    this.#port = (wss.address() as AddressInfo).port;
    this.#wss = wss;
    wss.on("connection", (socket) => this.#accept(socket));
    return this;
  }

  /** Stops listening and drops every connection without a close handshake. */
  async stop(): Promise<void> {
    const wss = this.#wss;
    this.#wss = undefined;
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
    if (wss !== undefined) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  broadcast(event: string, data: unknown): void {
    const text = encodeEvent(event, data);
    for (const socket of this.sockets) socket.send(text);
  }

  sendRaw(text: string): void {
    for (const socket of this.sockets) socket.send(text);
  }

  /** Sends a request to every connected client and collects their responses in `responses`. */
  requestClients(id: string, method: string, data: unknown): void {
    for (const socket of this.sockets) socket.send(encodeRequest(id, method, data));
  }

  #accept(socket: WebSocket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    let authed = false;
    socket.on("message", (raw) => {
      const parsed = parseFrame(raw as Buffer);
      if (!parsed.ok) {
        socket.send(encodeError(parsed.id, parsed.error));
        return;
      }
      const frame = parsed.frame;
      if (frame.type === "res") {
        this.responses.push(frame);
        return;
      }
      if (frame.type !== "req") return;
      this.received.push({ method: frame.method, data: frame.data, target: frame.target });
      if (!authed) {
        if (frame.method !== "connect") {
          socket.send(encodeError(frame.id, new ProtocolError("UNAUTHORIZED", "connect first")));
          socket.close(CloseCode.PolicyViolation, "connect first");
          return;
        }
        this.connects += 1;
        if (!this.answerHandshake) return;
        const params = frame.data as { token?: string };
        if (params.token !== this.token) {
          socket.send(
            encodeError(
              frame.id,
              new ProtocolError("UNAUTHORIZED", "token rejected", { details: { reason: "token_mismatch" } }),
            ),
          );
          socket.close(CloseCode.PolicyViolation, "unauthorized");
          return;
        }
        authed = true;
        socket.send(
          encodeResult(frame.id, {
            protocol: 1,
            server: { name: "test", version: "0.0.0" },
            connectionId: `c-${this.connects}`,
            role: "operator",
            scopes: ["operator.read", "operator.write"],
            methods: ["ping"],
            events: ["tick"],
            heartbeatMs: this.heartbeatMs,
            limits: { maxFrameBytes: 1_048_576 },
          }),
        );
        return;
      }
      this.lastRequestId = frame.id;
      const handler =
        this.handlers.get(frame.method) ?? (frame.method === "ping" ? () => ({ ts: Date.now() }) : undefined);
      if (handler === undefined) {
        socket.send(
          encodeError(frame.id, new ProtocolError("METHOD_NOT_FOUND", `unknown method ${frame.method}`)),
        );
        return;
      }
      Promise.resolve()
        .then(() => handler(frame.data, socket))
        .then(
          (result) => {
            if (result !== NO_REPLY && socket.readyState === socket.OPEN)
              socket.send(encodeResult(frame.id, result));
          },
          (error: unknown) => socket.send(encodeError(frame.id, error as ProtocolError)),
        );
    });
  }
}

/** A handler result that means "never answer". */
export const NO_REPLY = Symbol("no-reply");
