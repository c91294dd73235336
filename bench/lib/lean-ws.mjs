// A lean WebSocket client for the load processes of the capacity benchmarks: the RFC 6455 opening
// handshake and framing on a bare TCP socket, and no more than an idle client needs (text frames
// out, whole frames in, pongs, the peer's close). `ws`'s client builds an HTTP request, an agent
// entry and a receiver/sender pair per connection; with 100,000 of them on the two cores the
// gateways also use, the load processes themselves were the bottleneck of a reconnect storm (their
// event loops lagged 9 s at p99, the gateways' 0.35 s), and their own timers timed the gateways out.
//
// It speaks the real protocol to the gateway: a real upgrade request whose `Sec-WebSocket-Accept`
// is checked, masked client frames, the server's frames parsed across TCP reads. It does not
// fragment, compress or validate UTF-8, and one fixed key and mask serve every connection (a load
// generator, not a browser).
import { EventEmitter } from "node:events";
import { connect } from "node:net";

/** The handshake key of every connection, and the accept value RFC 6455 derives from it. */
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const EMPTY = Buffer.alloc(0);
/** The longest response head accepted before the connection is given up. */
const MAX_HEAD_BYTES = 16 * 1024;

/** A masked client frame (FIN set) of this opcode and payload. */
export function maskedFrame(opcode, payload) {
  const length = payload.length;
  const headLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLength + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  MASK.copy(frame, headLength);
  for (let i = 0; i < length; i++) frame[headLength + 4 + i] = payload[i] ^ MASK[i & 3];
  return frame;
}

const PONG = maskedFrame(0xa, EMPTY);

/**
 * One client connection. Events, as `ws` names them: `open`; `message` (the payload of a whole text
 * or binary frame, a view into the read buffer: copy what you keep); `ping`; `unexpected-response`
 * (the HTTP status of a refused upgrade); `error`; `close` (the peer's close code, or 1006).
 */
export class LeanWebSocket extends EventEmitter {
  /** 0 connecting, 1 open, 3 closed (as WebSocket's readyState). */
  readyState = 0;
  #socket;
  #pending = EMPTY;
  #closeCode = 1006;

  constructor({ host, port, localAddress, localPort }) {
    super();
    const socket = connect({ host, port, localAddress, localPort: localPort || undefined });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.once("connect", () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    socket.on("data", (chunk) => this.#data(chunk));
    socket.on("error", (error) => this.emit("error", error));
    socket.once("close", () => {
      this.readyState = 3;
      this.emit("close", this.#closeCode);
    });
  }

  /** Sends a text frame. */
  send(text) {
    if (this.readyState === 1) this.#socket.write(maskedFrame(0x1, Buffer.from(text)));
  }

  /** Drops the connection at once (no close frame). */
  terminate() {
    this.readyState = 3;
    this.#socket.destroy();
  }

  #data(chunk) {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = EMPTY;
    if (this.readyState === 0) {
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) {
        if (data.length > MAX_HEAD_BYTES) this.#fail(new Error("response head too long"));
        else this.#pending = data;
        return;
      }
      const head = data.toString("latin1", 0, end);
      const status = Number(head.slice(9, 12));
      if (status !== 101) {
        this.emit("unexpected-response", status);
        this.terminate();
        return;
      }
      if (!head.includes(ACCEPT)) return this.#fail(new Error("wrong Sec-WebSocket-Accept"));
      this.readyState = 1;
      this.emit("open");
      data = data.subarray(end + 4);
    }
    let offset = 0;
    while (this.readyState === 1 && data.length - offset >= 2) {
      let length = data[offset + 1] & 0x7f;
      let headLength = 2;
      if (length === 126) {
        if (data.length - offset < 4) break;
        length = data.readUInt16BE(offset + 2);
        headLength = 4;
      } else if (length === 127) {
        if (data.length - offset < 10) break;
        length = Number(data.readBigUInt64BE(offset + 2));
        headLength = 10;
      }
      if (data.length - offset < headLength + length) break;
      const opcode = data[offset] & 0x0f;
      const payload = data.subarray(offset + headLength, offset + headLength + length);
      offset += headLength + length;
      if (opcode === 0x1 || opcode === 0x2) this.emit("message", payload);
      else if (opcode === 0x9) {
        // The gateway's heartbeat pings carry no payload; echo one if it does.
        this.#socket.write(payload.length === 0 ? PONG : maskedFrame(0xa, payload));
        this.emit("ping");
      } else if (opcode === 0x8) {
        this.#closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.#socket.end();
        this.readyState = 3;
      }
    }
    // Keep an incomplete frame (copied: a view would hold the whole read buffer).
    if (offset < data.length && this.readyState === 1) this.#pending = Buffer.from(data.subarray(offset));
  }

  #fail(error) {
    this.emit("error", error);
    this.terminate();
  }
}
