import { FakePlatform } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SignalCliClient, SignalCliError, type SignalCliEvent, toChannelError } from "../src/index";
import { FakeSignalCli } from "../src/testing";

let fake: FakeSignalCli | undefined;
let platform: FakePlatform | undefined;

afterEach(async () => {
  await fake?.close();
  await platform?.close();
  fake = undefined;
  platform = undefined;
});

describe("SignalCliClient against the fake daemon", () => {
  it("calls send, sendReaction, sendTyping, getAttachment, listGroups, version and check", async () => {
    fake = await FakeSignalCli.start();
    const ana = fake.addUser("+15550001111", "Ana");
    const groupId = fake.addGroup("Climbers", [ana.number]);
    const client = new SignalCliClient({ baseUrl: `${fake.url}/` });
    await client.check();
    // The fake, like signal-cli on loopback, takes the loopback names in the Host header.
    await new SignalCliClient({ baseUrl: fake.url.replace("127.0.0.1", "localhost") }).version();
    expect(await client.version()).toEqual({ version: "0.13.22" });
    expect(await client.listGroups()).toMatchObject([
      {
        id: groupId,
        name: "Climbers",
        members: [{ number: fake.account }, { number: ana.number, uuid: ana.uuid }],
      },
    ]);
    const sent = await client.send({ groupId, message: "hi all" });
    expect(sent).toMatchObject({ timestamp: expect.any(Number), results: [{ type: "SUCCESS", groupId }] });
    const reacted = await client.sendReaction({
      recipient: [ana.number],
      emoji: "🎉",
      targetAuthor: ana.uuid,
      targetTimestamp: 1_764_000_001_000,
    });
    expect(reacted.timestamp).toBeGreaterThan(sent.timestamp);
    await client.sendTyping({ recipient: [ana.number], stop: true });
    const attachment = fake.addAttachment(Buffer.from("bytes"), "text/plain");
    expect(await client.getAttachment({ id: attachment.id!, recipient: ana.number })).toBe(
      Buffer.from("bytes").toString("base64"),
    );
    expect(fake.calls.map((c) => c.method)).toEqual([
      "version",
      "version",
      "listGroups",
      "send",
      "sendReaction",
      "sendTyping",
      "getAttachment",
    ]);
    expect(fake.calls[4]!.params).toEqual({
      recipient: [ana.number],
      emoji: "🎉",
      targetAuthor: ana.uuid,
      targetTimestamp: 1_764_000_001_000,
    });
    expect(fake.requests.find((r) => r.path === "/api/v1/rpc")!.headers["content-type"]).toBe(
      "application/json",
    );
  });

  it("throws the daemon's JSON-RPC error objects as SignalCliError RPC", async () => {
    fake = await FakeSignalCli.start();
    const client = new SignalCliClient({ baseUrl: fake.url });
    const missing = (await client
      .getAttachment({ id: "nope", recipient: "+15550001111" })
      .catch((e: unknown) => e)) as SignalCliError;
    expect(missing).toBeInstanceOf(SignalCliError);
    expect(missing).toMatchObject({ kind: "RPC", method: "getAttachment", rpcError: { code: -1 } });
    const unknown = (await client.request("frobnicate").catch((e: unknown) => e)) as SignalCliError;
    expect(unknown.rpcError).toEqual({ code: -32601, message: "Method not implemented" });
    expect(toChannelError(unknown)).toMatchObject({
      code: "INTERNAL",
      message: expect.stringContaining("update signal-cli"),
    });
  });

  it("reports unreachable daemons, HTTP errors and non-JSON-RPC answers with typed errors", async () => {
    platform = await FakePlatform.start({
      "POST /api/v1/rpc": (request) =>
        (request.json as { method: string }).method === "version"
          ? { status: 200, body: "<html>proxy error</html>" }
          : { status: 502, body: "Bad Gateway" },
      "GET /api/v1/events": () => ({ status: 200, body: { not: "a stream" } }),
      "GET /api/v1/check": () => ({ status: 421 }),
    });
    const client = new SignalCliClient({ baseUrl: platform.url });
    await expect(client.version()).rejects.toMatchObject({ kind: "PROTOCOL" });
    const http = (await client.listGroups().catch((e: unknown) => e)) as SignalCliError;
    expect(http).toMatchObject({ kind: "HTTP", status: 502 });
    expect(toChannelError(http)).toMatchObject({ code: "PLATFORM_UNAVAILABLE", platformCode: 502 });
    await expect(client.check()).rejects.toMatchObject({
      kind: "HTTP",
      status: 421,
      message: expect.stringContaining("use that address in daemonUrl"),
    });
    await expect(client.subscribe({ onEvent: () => {} })).rejects.toMatchObject({
      kind: "PROTOCOL",
      message: expect.stringContaining("not text/event-stream"),
    });
    const url = platform.url;
    await platform.close();
    platform = undefined;
    const down = (await client.version().catch((e: unknown) => e)) as SignalCliError;
    expect(down).toMatchObject({ kind: "NETWORK", url: `${url}/api/v1/rpc` });
    expect(down.message).toContain(`cannot reach the signal-cli daemon at ${url}/api/v1/rpc`);
  });

  it("times out a call the daemon never answers", async () => {
    platform = await FakePlatform.start({
      "POST /api/v1/rpc": () => new Promise(() => {}),
    });
    const client = new SignalCliClient({ baseUrl: platform.url, requestTimeoutMs: 100 });
    await expect(client.version()).rejects.toMatchObject({ kind: "TIMEOUT" });
  });

  it("streams events in order with their ids, counts comments, and skips oversized events", async () => {
    fake = await FakeSignalCli.start({ keepaliveMs: 20 });
    const ana = fake.addUser("+15550001111", "Ana");
    const client = new SignalCliClient({ baseUrl: fake.url, maxEventChars: 2048 });
    const events: SignalCliEvent[] = [];
    let comments = 0;
    const skipped: unknown[] = [];
    const subscription = await client.subscribe({
      onEvent: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(event);
      },
      onComment: () => comments++,
      onSkipped: (event) => skipped.push(event),
    });
    fake.receiveMessage({ from: ana, text: "one" });
    fake.receiveMessage({ from: ana, text: "two" });
    await vi.waitFor(() => expect(events).toHaveLength(2));
    expect(events.map((e) => [e.id, e.event, JSON.parse(e.data).envelope.dataMessage.message])).toEqual([
      ["1", "receive", "one"],
      ["2", "receive", "two"],
    ]);
    await vi.waitFor(() => expect(comments).toBeGreaterThan(0));
    fake.receiveMessage({ from: ana, text: "x".repeat(5000) });
    fake.receiveMessage({ from: ana, text: "three" });
    await vi.waitFor(() => expect(events).toHaveLength(3));
    expect(JSON.parse(events[2]!.data).envelope.dataMessage.message).toBe("three");
    expect(skipped).toEqual([{ id: "3", event: "receive", chars: expect.any(Number) }]);
    subscription.close();
    await subscription.closed;
  });

  it("keeps a stream open past connectTimeoutMs (the limit covers the headers only)", async () => {
    fake = await FakeSignalCli.start({ keepaliveMs: 0 });
    const ana = fake.addUser("+15550001111", "Ana");
    const client = new SignalCliClient({ baseUrl: fake.url, connectTimeoutMs: 100 });
    const events: SignalCliEvent[] = [];
    const subscription = await client.subscribe({ onEvent: (event) => void events.push(event) });
    const openedAt = Date.now();
    await vi.waitFor(() => expect(Date.now() - openedAt).toBeGreaterThan(400), { timeout: 5000 });
    fake.receiveMessage({ from: ana, text: "still here" });
    await vi.waitFor(() => expect(events).toHaveLength(1));
    expect(fake.openStreams).toBe(1);
    subscription.close();
    await subscription.closed;
  });

  it("skips an oversized event however it is cut, keeping its id (before or after the data), and reads on", async () => {
    const big = "y".repeat(200_000);
    platform = await FakePlatform.start({
      "GET /api/v1/events": () => ({
        headers: { "content-type": "text/event-stream" },
        body:
          `id:7\nevent:receive\ndata:${big}\n\n` +
          `event:receive\ndata:${big}\ndata:${big}\nid:8\n\n` +
          'event:receive\ndata:{"n":9}\nid:9\n\n' +
          // Never ended: held no more than maxEventChars, and not reported.
          `id:10\ndata:${big}`,
      }),
    });
    const client = new SignalCliClient({ baseUrl: platform.url, maxEventChars: 2048 });
    const seen: string[] = [];
    const subscription = await client.subscribe({
      onEvent: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push(`event ${event.id} ${event.data}`);
      },
      onSkipped: (event) => seen.push(`skipped ${event.id} ${event.event} ${event.chars}`),
    });
    await subscription.closed;
    expect(seen).toEqual(["skipped 7 receive 200000", "skipped 8 receive 400001", 'event 9 {"n":9}']);
  });
});
