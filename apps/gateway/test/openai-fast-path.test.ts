import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, startGateway, TOKEN } from "./harness";

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw POST from a chosen local address (the failed-login accounting is per address). */
function post(path: string, body: string, headers: Record<string, string>, from = "127.0.0.1") {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(path, h.http);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: "POST",
        localAddress: from,
        headers: { "content-type": "application/json", ...headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const CHAT = JSON.stringify({ model: "echo", messages: [{ role: "user", content: "hello there" }] });
// `POST /v1/chat/completions` is answered before hono; with a query string it goes through hono.
const FAST = "/v1/chat/completions";
const HONO = "/v1/chat/completions?via=hono";

/** What must be equal between the two paths: status, body, and the headers clients read. */
const shape = (answer: Answer) => ({
  status: answer.status,
  // retryAfterMs counts down between the two requests.
  body: JSON.parse(answer.body.replace(/"retryAfterMs":\d+/, '"retryAfterMs":0')) as unknown,
  contentType: answer.headers["content-type"],
  retryAfter: answer.headers["retry-after"],
});

describe("POST /v1/chat/completions without hono", () => {
  it("answers exactly as the hono route: completions, stream, 401s, 400, 404, 413", async () => {
    h = await startGateway({ config: { gateway: { maxBodyBytes: 4096 } } });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const cases: Array<[body: string, headers: Record<string, string>]> = [
      [CHAT, {}],
      [CHAT, { authorization: "Bearer wrong-token-0123456789" }],
      [CHAT, { authorization: "Basic abc" }],
      [JSON.stringify({ model: "echo", messages: [], temperature: 5 }), auth],
      [JSON.stringify({ model: "echo", messages: [{ role: "user", content: "x" }], temperature: 5 }), auth],
      [JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }] }), auth],
      ["{not json", auth],
    ];
    for (const [body, headers] of cases) {
      const fast = await post(FAST, body, headers);
      const viaHono = await post(HONO, body, headers);
      expect(fast.status).toBeGreaterThanOrEqual(400);
      expect(shape(fast)).toEqual(shape(viaHono));
      expect(shape(fast).body).toMatchObject({ error: { type: expect.any(String) } });
    }
    // Over gateway.maxBodyBytes, the body sent with the head in one piece: the 413 is written
    // before the connection is closed (it used to be closed first: "other side closed").
    const big = JSON.stringify({ model: "echo", messages: [{ role: "user", content: "x".repeat(5000) }] });
    const tooLarge = await Promise.all(
      [FAST, HONO].map(async (path) => {
        const response = await fetch(`${h.http}${path}`, { method: "POST", headers: auth, body: big });
        return { status: response.status, body: await response.json() };
      }),
    );
    expect(tooLarge[0]).toEqual(tooLarge[1]);
    expect(tooLarge[0]).toMatchObject({ status: 413, body: { error: { code: "request_too_large" } } });
    // A completion: the same answer but for its id and time.
    const fast = JSON.parse((await post(FAST, CHAT, auth)).body);
    const viaHono = JSON.parse((await post(HONO, CHAT, auth)).body);
    const stable = ({ id: _, created: __, ...rest }: Record<string, unknown>) => rest;
    expect(stable(fast)).toEqual(stable(viaHono));
    expect(fast.choices[0].message.content).toBe("hello there");
    // A stream ends with [DONE] on both.
    const streamed = JSON.stringify({ ...JSON.parse(CHAT), stream: true });
    for (const path of [FAST, HONO]) {
      const answer = await post(path, streamed, auth);
      expect(answer.headers["content-type"]).toBe("text/event-stream");
      expect(answer.body.endsWith("data: [DONE]\n\n")).toBe(true);
    }
  });

  it("counts failed logins and refuses a blocked address with 429 and retry-after, in OpenAI's shape", async () => {
    h = await startGateway({ config: { security: { authFailures: { maxPerMinute: 3, blockMs: 60_000 } } } });
    const wrong = { authorization: "Bearer wrong-token-0123456789" };
    for (let i = 0; i < 3; i++) expect((await post(FAST, CHAT, wrong, "127.0.0.20")).status).toBe(401);
    // Blocked now, even with the right token, on both paths; the answer is the same.
    const fast = await post(FAST, CHAT, { authorization: `Bearer ${TOKEN}` }, "127.0.0.20");
    const viaHono = await post(HONO, CHAT, { authorization: `Bearer ${TOKEN}` }, "127.0.0.20");
    expect(fast.status).toBe(429);
    expect(shape(fast)).toEqual(shape(viaHono));
    expect(shape(fast).body).toMatchObject({
      error: { type: "rate_limit_error", code: "too_many_failed_logins" },
    });
    expect(Number(fast.headers["retry-after"])).toBeGreaterThan(0);
    // Another address is served.
    expect((await post(FAST, CHAT, { authorization: `Bearer ${TOKEN}` }, "127.0.0.21")).status).toBe(200);
  });

  it("leaves the path to a webhook channel when webhooks.basePath covers it", async () => {
    h = await startGateway({ config: { webhooks: { basePath: "/v1" } } });
    const answer = await post(FAST, CHAT, { authorization: `Bearer ${TOKEN}` });
    // No channel named "chat": the webhook route's 404, not a completion.
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { details: { reason: "unknown_channel" } } });
  });
});
