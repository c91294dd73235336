import { connect } from "node:net";
import { defineChannel, v, type WebhookRequest } from "@openclaw/channel-sdk";
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, startGateway } from "./harness";

// Hostile webhook input, sent on real sockets to a real gateway: what reaches a plugin, and what is
// refused before any plugin looks at it.

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** A channel that takes every webhook and keeps what the gateway handed it. */
function recorder(received: WebhookRequest[]) {
  return defineChannel({
    name: "recorder",
    capabilities: ["text"],
    webhooks: true,
    config: v.object({}),
    create: () => ({
      start() {},
      send: () => ({ messageId: "never" }),
      webhook(request) {
        received.push(request);
        return { status: 200, body: { ok: true } };
      },
      stop() {},
    }),
  });
}

async function start(received: WebhookRequest[], config: object = {}): Promise<Harness> {
  h = await startGateway({
    config: { ...config, channels: { recorder: {} } },
    plugins: [recorder(received)],
    testChannel: false,
  });
  return h;
}

/** Writes `request` on a fresh TCP connection and resolves with everything the gateway answered. */
function rawRequest(http: string, request: string): Promise<string> {
  const { port } = new URL(http);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1", () => socket.end(request));
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

const post = (http: string, body: string, contentType = "application/json") =>
  fetch(`${http}/webhook/recorder`, { method: "POST", headers: { "content-type": contentType }, body });

describe("webhook headers", () => {
  it("hands a plugin a header named __proto__ (and constructor) like any other", async () => {
    const received: WebhookRequest[] = [];
    const { http } = await start(received);
    const answer = await rawRequest(
      http,
      "POST /webhook/recorder HTTP/1.1\r\nHost: 127.0.0.1\r\n__proto__: signed-value\r\n" +
        "Constructor: also-a-header\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" +
        "Connection: close\r\n\r\n{}",
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toHaveLength(1);
    const headers = received[0]!.headers;
    expect(Object.getOwnPropertyDescriptor(headers, "__proto__")?.value).toBe("signed-value");
    expect(headers.constructor).toBe("also-a-header");
    expect(headers["content-type"]).toBe("application/json");
    expect(Object.keys(headers).sort()).toEqual(
      ["__proto__", "connection", "constructor", "content-length", "content-type", "host"].sort(),
    );
  });
});

describe("webhook JSON nesting", () => {
  it("refuses a body nested deeper than webhooks.maxJsonDepth with a typed 400, before any plugin sees it", async () => {
    const received: WebhookRequest[] = [];
    const { http } = await start(received);
    // About 1 MB of nested arrays: the body the Teams probe posted.
    const deep = `${"[".repeat(500_000)}${"]".repeat(500_000)}`;
    const refused = await post(http, deep);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: {
        code: "INVALID_PARAMS",
        message: "webhook bodies may nest JSON at most 64 levels deep",
        details: { reason: "too_deep", maxJsonDepth: 64 },
      },
    });
    // Whatever the Content-Type says (a plugin may parse the bytes anyway), and unclosed too.
    expect((await post(http, '{"a":'.repeat(65), "text/plain")).status).toBe(400);
    // A form body carrying its JSON in a field, as Slack's interactions do.
    const form = `payload=${encodeURIComponent(`${"[".repeat(100)}${"]".repeat(100)}`)}`;
    expect((await post(http, form, "application/x-www-form-urlencoded")).status).toBe(400);
    // A raw "=" inside a field's value is part of the value (URLSearchParams splits at the first).
    const split = `payload=${encodeURIComponent("[".repeat(40))}=${encodeURIComponent("[".repeat(40))}`;
    expect((await post(http, split, "application/x-www-form-urlencoded")).status).toBe(400);
    expect(received).toEqual([]);

    // At the limit it passes; brackets inside strings (escaped quotes too) do not count.
    expect((await post(http, `${"[".repeat(64)}${"]".repeat(64)}`)).status).toBe(200);
    const inStrings = JSON.stringify({ text: `say \\"${"[".repeat(1000)}`, nested: [[{ a: "]]]" }]] });
    expect((await post(http, inStrings)).status).toBe(200);
    const shallowForm = `payload=${encodeURIComponent(JSON.stringify({ type: "block_actions", a: [[1]] }))}`;
    expect((await post(http, shallowForm, "application/x-www-form-urlencoded")).status).toBe(200);
    // Each form field on its own: two fields of 40 levels are not 80.
    const twoFields = `a=${encodeURIComponent("[".repeat(40))}&b=${encodeURIComponent("{".repeat(40))}`;
    expect((await post(http, twoFields, "application/x-www-form-urlencoded")).status).toBe(200);
    expect(received).toHaveLength(4);
    expect(JSON.parse(new TextDecoder().decode(received[1]!.body))).toEqual(JSON.parse(inStrings));
  });

  it("takes its limit from webhooks.maxJsonDepth", async () => {
    const received: WebhookRequest[] = [];
    const { http } = await start(received, { webhooks: { maxJsonDepth: 3 } });
    expect((await post(http, "[[[1]]]")).status).toBe(200);
    const refused = await post(http, '{"a":[{"b":[]}]}');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: { details: { reason: "too_deep", maxJsonDepth: 3 } },
    });
    expect(received).toHaveLength(1);
  });
});
