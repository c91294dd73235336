import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { answerClientError } from "./clientError";

// A real HTTP server with the gateway's clientError listener, and a raw client sending what a
// parser refuses.

let server: Server;
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

async function answerTo(text: string): Promise<{ status: number; headers: string; body: unknown }> {
  server = createServer((_req, res) => res.end("ok"));
  server.on("clientError", answerClientError);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
  socket.on("error", () => {});
  let received = "";
  socket.on("data", (data: Buffer) => {
    received += data.toString();
  });
  socket.write(text);
  await new Promise((done) => socket.once("close", done));
  const split = received.indexOf("\r\n\r\n");
  return {
    status: Number(received.slice(9, 12)),
    headers: received.slice(0, split).toLowerCase(),
    body: JSON.parse(received.slice(split + 4)),
  };
}

describe("answerClientError", () => {
  it("answers a malformed request with a typed 400 and closes", async () => {
    const answer = await answerTo("NOT HTTP AT ALL\r\n\r\n");
    expect(answer.status).toBe(400);
    expect(answer.headers).toContain("connection: close");
    expect(answer.body).toMatchObject({
      error: { code: "INVALID_PARAMS", details: { reason: "malformed_request" } },
    });
  });

  it("answers headers over Node's limit with a typed 431", async () => {
    const answer = await answerTo(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(answer.status).toBe(431);
    expect(answer.body).toMatchObject({
      error: { code: "PAYLOAD_TOO_LARGE", details: { reason: "headers_too_large" } },
    });
  });
});
