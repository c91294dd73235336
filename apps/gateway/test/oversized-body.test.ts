import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startGateway, TOKEN } from "./harness";

// Issue 29, item 17: after answering 413 the gateway kept reading the body (a webhook read 36 MB
// after its answer). A raw TCP client sends a body far over the limit, 64 KiB at a time as the
// socket drains, and counts what the gateway still takes after its answer.

/** What the client sends at most: the whole body, if the gateway never stops reading. */
const TOTAL = 96 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, "x");
/** Bytes the kernels' socket buffers on both sides of a loopback connection may take after the gateway stopped reading. */
const BUFFERED = 24 * 1024 * 1024;

interface Outcome {
  /** What the gateway answered (the status line and headers at least). */
  answer: string;
  /** Body bytes the client managed to send after the answer arrived. */
  sentAfterAnswer: number;
  /** Whether the gateway closed the connection before the client sent everything. */
  closedByServer: boolean;
}

/** Sends `head` then up to {@link TOTAL} body bytes (as chunks when `chunked`), as fast as the socket drains. */
function sendHuge(port: number, head: string, chunked: boolean): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    let sent = 0;
    let sentAtAnswer: number | undefined;
    let closed = false;
    socket.on("data", (data: Buffer) => {
      answer += data.toString("latin1");
      if (sentAtAnswer === undefined && answer.includes("\r\n\r\n")) sentAtAnswer = sent;
    });
    socket.on("error", () => {}); // EPIPE / ECONNRESET: the gateway closed it
    socket.on("close", () => {
      closed = true;
    });
    const frame = chunked
      ? Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from("\r\n")])
      : CHUNK;
    socket.once("connect", async () => {
      try {
        socket.write(head);
        // Bounded: at most TOTAL / 64 KiB writes; each waits for the socket to drain (or close).
        while (!closed && sent < TOTAL) {
          // Reads what has arrived before each write, as a client watching for an early answer
          // does (a write failing on the closed connection would drop the unread answer).
          await new Promise((polled) => setImmediate(polled));
          if (closed) break;
          const flushed = socket.write(frame);
          sent += CHUNK.length;
          if (!flushed)
            await new Promise<void>((drained) => {
              const done = () => {
                socket.off("drain", done);
                socket.off("close", done);
                drained();
              };
              socket.on("drain", done);
              socket.on("close", done);
            });
        }
        const closedByServer = closed;
        if (!closed) {
          socket.destroy();
          await new Promise((ended) => socket.once("close", ended));
        }
        resolve({ answer, sentAfterAnswer: sent - (sentAtAnswer ?? sent), closedByServer });
      } catch (error) {
        reject(error);
      }
    });
  });
}

let h: Harness;
beforeAll(async () => {
  h = await startGateway({ config: { gateway: { maxBodyBytes: 32 * 1024 * 1024 } } });
});
afterAll(async () => {
  await h?.stop();
});

const port = () => Number(new URL(h.http).port);
const head = (path: string, framing: string, auth = "") =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${auth}${framing}\r\n`;
const AUTH = `Authorization: Bearer ${TOKEN}\r\n`;

describe("a body the gateway answers before it arrived", () => {
  const cases: Array<[name: string, path: string, auth: string, status: number]> = [
    ["a webhook of an unknown channel", "/webhook/nope", "", 404],
    ["a /v1 route without a token", "/v1/chat/completions", "", 401],
    [
      "a /v1 route through hono with a wrong token",
      "/v1/responses",
      "Authorization: Bearer wrong-token-0123456789\r\n",
      401,
    ],
  ];
  for (const [name, path, auth, status] of cases)
    it(`to ${name} is not read after the answer (${status}): the connection is closed`, async () => {
      const outcome = await sendHuge(port(), head(path, `Content-Length: ${TOTAL}\r\n`, auth), false);
      expect(outcome.answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(outcome.closedByServer).toBe(true);
      expect(outcome.sentAfterAnswer).toBeLessThan(BUFFERED);
    });
});

describe("a body over the limit", () => {
  const cases: Array<[name: string, path: string, auth: string, code: string]> = [
    ["a webhook", "/webhook/test", "", '"PAYLOAD_TOO_LARGE"'],
    ["POST /v1/chat/completions", "/v1/chat/completions", AUTH, '"request_too_large"'],
    ["a /v1 route through hono", "/v1/responses", AUTH, '"request_too_large"'],
  ];
  for (const [name, path, auth, code] of cases)
    for (const chunked of [false, true])
      it(`to ${name} (${chunked ? "chunked" : "Content-Length"}) is answered 413 and its connection closed`, async () => {
        const framing = chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${TOTAL}\r\n`;
        const outcome = await sendHuge(port(), head(path, framing, auth), chunked);
        expect(outcome.answer).toMatch(/^HTTP\/1\.1 413 /);
        expect(outcome.closedByServer).toBe(true);
        expect(outcome.sentAfterAnswer).toBeLessThan(BUFFERED);
        expect(outcome.answer).toContain(code);
      });
});
