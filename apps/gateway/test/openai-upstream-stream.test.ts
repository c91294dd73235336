import { once } from "node:events";
import { createServer, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { type Harness, startGateway, TOKEN } from "./harness";

// Streams through the gateway's upstream agent to a scripted upstream on loopback: backpressure,
// a client whose buffer filled and drained, and the upstream's bytes arriving whole and in order.

let h: Harness | undefined;
let upstream: Server | undefined;

afterEach(async () => {
  await h?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  h = undefined;
  upstream = undefined;
});

const event = (i: number, pad: number) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: `w${i} ${"x".repeat(pad)}` }, finish_reason: null }] })}\n\n`;
const finish = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`;

/** Starts the gateway with agent `gpt` on an upstream that answers every request with `answer`. */
async function start(answer: (res: ServerResponse) => Promise<void>): Promise<string> {
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      void answer(res);
    });
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  const port = (upstream.address() as AddressInfo).port;
  h = await startGateway({
    config: {
      agents: {
        default: "gpt",
        list: { gpt: { provider: "openai", baseUrl: `http://127.0.0.1:${port}/v1`, model: "m" } },
      },
    },
  });
  return h.http;
}

/** A streamed completion from the gateway, as a Node response (not read yet). */
function stream(http: string) {
  const { hostname, port } = new URL(http);
  return new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        path: "/v1/chat/completions",
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      },
      resolve,
    );
    req.on("error", reject);
    req.end(JSON.stringify({ model: "gpt", stream: true, messages: [{ role: "user", content: "hi" }] }));
  });
}

it("goes on after the client's buffer filled and drained (no wait for a drain that already happened)", async () => {
  const burst = 400; // ~120 KB in one upstream write: more than the response's 16 KB high-water mark
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const http = await start(async (res) => {
    let text = "";
    for (let i = 0; i < burst; i++) text += event(i, 256);
    res.write(text);
    // The rest comes only once the client has read the burst: the gateway's write of it returned
    // false and its drain is over by then.
    await released;
    res.end(`${event(burst, 0)}${finish}data: [DONE]\n\n`);
  });
  const res = await stream(http);
  expect(res.statusCode).toBe(200);
  res.setEncoding("utf8");
  let text = "";
  for await (const piece of res as AsyncIterable<string>) {
    text += piece;
    if (text.includes(`w${burst - 1} `)) release();
  }
  const datas = text.split("\n\n").filter(Boolean);
  expect(datas).toHaveLength(burst + 3);
  expect(datas.at(-2)).toContain('"finish_reason":"stop"');
  expect(datas.at(-1)).toBe("data: [DONE]");
});

it("holds a slow client's stream back at the upstream and delivers it whole and in order", async () => {
  const total = 20_000; // ~6 MB: more than the socket buffers and the upstream client's buffer
  let blocked!: () => void;
  const upstreamBlocked = new Promise<void>((resolve) => {
    blocked = resolve;
  });
  const http = await start(async (res) => {
    for (let i = 0; i < total; i++)
      if (!res.write(event(i, 256))) {
        blocked();
        await once(res, "drain");
      }
    res.end(`${finish}data: [DONE]\n\n`);
  });
  const res = await stream(http);
  res.pause();
  // The client reads nothing until the upstream itself had to wait.
  await upstreamBlocked;
  res.setEncoding("utf8");
  let text = "";
  for await (const piece of res as AsyncIterable<string>) text += piece;
  const datas = text.split("\n\n").filter(Boolean);
  expect(datas).toHaveLength(total + 2);
  for (let i = 0; i < total; i += 997) expect(datas[i]).toContain(`"content":"w${i} `);
  expect(datas.at(-1)).toBe("data: [DONE]");
});
