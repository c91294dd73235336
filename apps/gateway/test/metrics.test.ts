import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { metricsFigures } from "@openclaw/protocol";
import { getMetricsFromIterator, type PromHistogramData, type PromMetric } from "prom2javascript";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, collect, type Harness, pairNode, startGateway, TOKEN, until } from "./harness";

type Families = Map<string, PromMetric>;

/** Scrapes `/metrics` of a gateway and parses it with a Prometheus text-format parser. */
async function scrape(url: string, token: string | undefined = TOKEN): Promise<Families> {
  const response = await fetch(`${url}/metrics`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const lines = (await response.text()).split("\n");
  // prom-client writes `Nan` (Prometheus reads it, case-insensitively) for the event-loop delay's
  // statistics while the delay histogram holds no sample yet (scrapes a few ms apart); the parser
  // takes no NaN at all, so those samples are left out, and only those.
  const nan = lines.filter((line) => / Nan$/i.test(line));
  for (const line of nan) expect(line).toMatch(/^nodejs_eventloop_lag_/);
  const samples = lines.filter((line) => !/ Nan$/i.test(line));
  return new Map(Object.entries(await getMetricsFromIterator(samples[Symbol.iterator]())));
}

/** Whether a sample's labels include `labels`. */
const matches = (sample: { labels: Record<string, string> }, labels: Record<string, string>) =>
  Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted);

/** The value of the sample of `name` whose labels include `labels` (0 when absent). */
function value(families: Families, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (family === undefined) throw new Error(`no family ${name}`);
  const sample = (family.data as Array<{ labels: Record<string, string>; value: number }>).find((m) =>
    matches(m, labels),
  );
  return sample?.value ?? 0;
}

/** A histogram's sample: its buckets must be cumulative and end at `+Inf` equal to its count. */
function histogram(families: Families, name: string, labels: Record<string, string>) {
  const family = families.get(name);
  expect(family?.type).toBe("histogram");
  const sample = (family!.data as PromHistogramData[]).find((m) => matches(m, labels));
  expect(sample, `${name} ${JSON.stringify(labels)}`).toBeDefined();
  const buckets = Object.entries(sample!.buckets)
    .map(([le, count]) => [le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), count] as const)
    .sort((a, b) => a[0] - b[0]);
  expect(buckets.length).toBeGreaterThan(5);
  for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
  expect(buckets.at(-1)![0]).toBe(Number.POSITIVE_INFINITY);
  expect(buckets.at(-1)![1]).toBe(sample!.count);
  return { count: sample!.count, sum: sample!.sum ?? 0 };
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("GET /metrics", () => {
  it("counts real traffic exactly: frames, requests by method and code, broadcasts, webhooks, inbound, sends", async () => {
    h = await startGateway();
    const client = await h.client();
    const raw = await h.raw();
    await raw.connect();
    const before = await scrape(h.http);
    // Families of every part, and the process's own.
    for (const name of [
      "openclaw_connections",
      "openclaw_handshakes_total",
      "openclaw_refusals_total",
      "openclaw_frames_received_total",
      "openclaw_frames_sent_total",
      "openclaw_request_duration_seconds",
      "openclaw_events_broadcast_total",
      "openclaw_event_deliveries_total",
      "openclaw_slow_consumer_closes_total",
      "openclaw_webhook_requests_total",
      "openclaw_inbound_messages_total",
      "openclaw_channel_sends_total",
      "openclaw_delivery_queue_depth",
      "openclaw_delivery_queue_oldest_age_seconds",
      "openclaw_delivery_dead_letters",
      "openclaw_agent_run_duration_seconds",
      "openclaw_agent_first_token_seconds",
      "openclaw_agent_tokens_total",
      "openclaw_task_runs_total",
      "openclaw_config_reloads_total",
      "nodejs_eventloop_lag_p99_seconds",
      "nodejs_gc_duration_seconds",
      "nodejs_heap_size_used_bytes",
      "process_resident_memory_bytes",
    ])
      expect(before.has(name), name).toBe(true);
    expect(value(before, "openclaw_connections", { role: "operator" })).toBe(2);
    expect(value(before, "openclaw_handshakes_total", { role: "operator" })).toBe(2);
    // No cluster families and no instance label outside cluster mode.
    expect(before.has("openclaw_cluster_healthy")).toBe(false);
    expect((before.get("openclaw_connections")!.data[0] as { labels: object }).labels).not.toHaveProperty(
      "instance",
    );

    // 7 pings and 2 requests of an unknown method: 9 frames in, 9 out, by method and code.
    for (let i = 0; i < 7; i++) await client.request("ping", {});
    raw.send({ type: "req", id: "u1", method: "no.such.method", data: {} });
    raw.send({ type: "req", id: "u2", method: "another.unknown", data: {} });
    await raw.response("u1");
    await raw.response("u2");
    const afterRequests = await scrape(h.http);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(afterRequests, name, labels) - value(before, name, labels);
    expect(delta("openclaw_frames_received_total")).toBe(9);
    expect(delta("openclaw_frames_sent_total")).toBe(9);
    const pings = histogram(afterRequests, "openclaw_request_duration_seconds", {
      method: "ping",
      code: "OK",
    });
    expect(pings.count).toBe(7);
    expect(pings.sum).toBeGreaterThan(0);
    const unknown = histogram(afterRequests, "openclaw_request_duration_seconds", {
      method: "other",
      code: "METHOD_NOT_FOUND",
    });
    expect(unknown.count).toBe(2);
    // No label takes the unknown method's name.
    const methods = (afterRequests.get("openclaw_request_duration_seconds")!.data as PromHistogramData[]).map(
      (m) => m.labels.method,
    );
    expect(methods).not.toContain("no.such.method");

    // One broadcast to the two operators: one event, two deliveries, two frames out.
    h.gateway.broadcast("tick", { ts: Date.now() });
    await until(() => raw.frames.some((frame) => frame.event === "tick"));
    const afterBroadcast = await scrape(h.http);
    const step = (name: string, labels: Record<string, string> = {}) =>
      value(afterBroadcast, name, labels) - value(afterRequests, name, labels);
    expect(step("openclaw_events_broadcast_total", { event: "tick" })).toBe(1);
    expect(step("openclaw_event_deliveries_total")).toBe(2);
    expect(step("openclaw_frames_sent_total")).toBe(2);

    // A webhook to the test channel: one request (200), one inbound message; and one send.
    const response = await h.webhook({ id: "in-1", chat: "chat-1", from: { id: "u-1" }, text: "hi" });
    expect(response.status).toBe(200);
    await client.request("message.send", { recipient: "ana", channel: "test", text: "hello" });
    const unsigned = await fetch(`${h.http}/webhook/test`, { method: "POST", body: "{}" });
    expect(unsigned.status).toBe(401);
    await unsigned.text();
    const afterChannel = await scrape(h.http);
    const since = (name: string, labels: Record<string, string> = {}) =>
      value(afterChannel, name, labels) - value(afterBroadcast, name, labels);
    expect(since("openclaw_webhook_requests_total", { channel: "test", status: "200" })).toBe(1);
    expect(since("openclaw_webhook_requests_total", { channel: "test", status: "401" })).toBe(1);
    expect(since("openclaw_inbound_messages_total", { channel: "test" })).toBe(1);
    expect(since("openclaw_channel_sends_total", { channel: "test", outcome: "sent" })).toBe(1);
    expect(since("openclaw_events_broadcast_total", { event: "channel.message.received" })).toBe(1);
    expect(value(afterChannel, "openclaw_delivery_queue_depth")).toBe(0);
    // No label holds a conversation, user or message id.
    const text = await (
      await fetch(`${h.http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    for (const id of ["chat-1", "u-1", "in-1", "ana"]) expect(text).not.toContain(`"${id}"`);
  });

  it("counts refused handshakes by reason and agent runs with their latency and tokens", async () => {
    h = await startGateway();
    const raw = await h.raw();
    const refused = await raw.connect({ token: "wrong-token-0123456789" });
    expect(refused.error).toMatchObject({ code: "UNAUTHORIZED" });
    const client = await h.client();
    await client.request("agent.run", { agent: "echo", input: "three little words" });
    const families = await scrape(h.http);
    expect(value(families, "openclaw_refusals_total", { stage: "handshake", reason: "token_mismatch" })).toBe(
      1,
    );
    const run = histogram(families, "openclaw_agent_run_duration_seconds", { agent: "echo", outcome: "ok" });
    expect(run.count).toBe(1);
    expect(histogram(families, "openclaw_agent_first_token_seconds", { agent: "echo" }).count).toBe(1);
    expect(value(families, "openclaw_agent_tokens_total", { agent: "echo", kind: "prompt" })).toBe(3);
    expect(
      value(families, "openclaw_agent_tokens_total", { agent: "echo", kind: "completion" }),
    ).toBeGreaterThan(0);
  });

  it("counts the /v1 API's agent runs: completions, streams with their first output, usage where reported", async () => {
    h = await startGateway();
    const post = (path: string, body: unknown) =>
      fetch(`${h!.http}/v1/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const messages = [{ role: "user", content: "four words for echo" }];
    const plain = await post("chat/completions", { model: "echo", messages });
    expect(plain.status).toBe(200);
    const usage = ((await plain.json()) as { usage: { prompt_tokens: number; completion_tokens: number } })
      .usage;
    const streamed = await post("chat/completions", {
      model: "echo",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(streamed.status).toBe(200);
    expect(await streamed.text()).toContain("data: [DONE]");
    const response = await post("responses", { model: "echo", input: "five words for the echo" });
    expect(response.status).toBe(200);
    const responseUsage = (
      (await response.json()) as { usage: { input_tokens: number; output_tokens: number } }
    ).usage;
    // Refused before it runs (a parameter echo cannot honour): no run to count.
    expect((await post("chat/completions", { model: "echo", messages, tools: "no" })).status).toBe(400);
    const families = await scrape(h.http);
    const run = histogram(families, "openclaw_agent_run_duration_seconds", { agent: "echo", outcome: "ok" });
    expect(run.count).toBe(3);
    expect(histogram(families, "openclaw_agent_first_token_seconds", { agent: "echo" }).count).toBe(2);
    // Tokens where a usage object is reported: the completion's and the response's (a stream passed
    // on as text, as the chat stream here, carries its usage only inside the text).
    expect(value(families, "openclaw_agent_tokens_total", { agent: "echo", kind: "prompt" })).toBe(
      usage.prompt_tokens + responseUsage.input_tokens,
    );
    expect(value(families, "openclaw_agent_tokens_total", { agent: "echo", kind: "completion" })).toBe(
      usage.completion_tokens + responseUsage.output_tokens,
    );
  });

  it("answers 401 without the gateway token and 404 when metrics are off", async () => {
    h = await startGateway();
    const missing = await fetch(`${h.http}/metrics`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      error: { code: "UNAUTHORIZED", details: { reason: "token_missing" } },
    });
    const wrong = await fetch(`${h.http}/metrics`, {
      headers: { authorization: "Bearer not-the-token-at-all" },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { details: { reason: "token_mismatch" } } });
    expect((await scrape(h.http, ADMIN)).has("openclaw_connections")).toBe(true);
    const post = await fetch(`${h.http}/metrics`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(post.status).toBe(405);
    await post.text();
    await h.stop();
    h = await startGateway({ config: { metrics: { enabled: false } } });
    const off = await fetch(`${h.http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(off.status).toBe(404);
    expect(await off.json()).toMatchObject({
      error: { code: "NOT_FOUND", details: { reason: "metrics_disabled" } },
    });
  });

  it("serves on a port of its own (metrics.port, metrics.bind), with or without the token", async () => {
    h = await startGateway({ config: { metrics: { port: 0, bind: "127.0.0.1", auth: "none" } } });
    const own = h.gateway.metricsAddress;
    expect(own).toBeDefined();
    expect(own!.port).not.toBe(new URL(h.http).port);
    const onGateway = await fetch(`${h.http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(onGateway.status).toBe(404);
    expect(await onGateway.json()).toMatchObject({ error: { details: { reason: "metrics_on_own_port" } } });
    const families = await scrape(`http://127.0.0.1:${own!.port}`, undefined);
    expect(families.has("openclaw_frames_received_total")).toBe(true);
    // Nothing else is served there.
    const other = await fetch(`http://127.0.0.1:${own!.port}/health`);
    expect(other.status).toBe(404);
    await other.text();
    await h.stop();
    h = await startGateway({ config: { metrics: { port: 0 } } });
    const port = h.gateway.metricsAddress!.port;
    const anonymous = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(anonymous.status).toBe(401);
    await anonymous.text();
    expect((await scrape(`http://127.0.0.1:${port}`)).has("openclaw_connections")).toBe(true);
  });

  it("the Grafana dashboard charts only families the gateway serves", async () => {
    h = await startGateway();
    const families = await scrape(h.http);
    const dashboard = JSON.parse(
      readFileSync(new URL("../../../deploy/grafana/openclaw-gateway.json", import.meta.url), "utf8"),
    ) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);
    expect(exprs.length).toBeGreaterThan(20);
    const names = new Set(
      exprs.flatMap((expr) => expr.match(/\b(?:openclaw|nodejs|process)_[a-z0-9_]+/g) ?? []),
    );
    for (const name of names) {
      const family = name.replace(/_(bucket|count|sum)$/, "");
      // The cluster link's gauges exist in cluster mode only.
      if (family.startsWith("openclaw_cluster_")) continue;
      expect(families.has(family) || families.has(name), name).toBe(true);
    }
  });

  it("reports the delivery queue's depth, oldest age and dead letters, failed sends, task runs and config reloads", async () => {
    // One attempt now, the next a minute later (unless retried): the message waits in the queue.
    h = await startGateway({
      config: { delivery: { maxAttempts: 2, backoffBaseMs: 60_000, backoffMaxMs: 60_000 } },
    });
    const client = await h.client({ token: ADMIN });
    const failed = collect(client, "delivery.failed");
    h.platform.failNext({ status: 503 }, { status: 503 });
    const queued = await client.request("message.send", {
      recipient: "chat-9",
      channel: "test",
      text: "later",
    });
    expect(queued).toMatchObject({ status: "queued" });
    await until(() => h!.platform.requests.filter((r) => r.path === "/messages").length === 1);
    const waiting = await scrape(h.http);
    expect(value(waiting, "openclaw_delivery_queue_depth")).toBe(1);
    expect(value(waiting, "openclaw_delivery_queue_oldest_age_seconds")).toBeGreaterThanOrEqual(0);
    expect(value(waiting, "openclaw_delivery_queue_oldest_age_seconds")).toBeLessThan(60);
    expect(value(waiting, "openclaw_delivery_dead_letters")).toBe(0);
    const failures = (
      waiting.get("openclaw_channel_sends_total")!.data as Array<{
        labels: Record<string, string>;
        value: number;
      }>
    ).filter((sample) => sample.labels.channel === "test" && sample.labels.outcome !== "sent");
    expect(failures.reduce((sum, sample) => sum + sample.value, 0)).toBe(1);
    // Retried now, it fails its last attempt: a dead letter.
    await client.request("delivery.retry", { id: queued.deliveryId! });
    await until(() => failed.length === 1);
    const dead = await scrape(h.http);
    expect(value(dead, "openclaw_delivery_queue_depth")).toBe(0);
    expect(value(dead, "openclaw_delivery_queue_oldest_age_seconds")).toBe(0);
    expect(value(dead, "openclaw_delivery_dead_letters")).toBe(1);
    // A task run, and a config edit (applied) then a broken one (invalid).
    const completed = collect(client, "task.completed");
    await client.request("task.schedule", { type: "noop", delayMs: 0 });
    await until(() => completed.length === 1);
    const reloaded = collect(client, "config.reloaded");
    const invalid = collect(client, "config.invalid");
    const file = join(h.stateDir, "openclaw.json");
    const config = JSON.parse(await readFile(file, "utf8")) as { heartbeat: { intervalMs: number } };
    await writeFile(file, JSON.stringify({ ...config, heartbeat: { intervalMs: 30_000 } }));
    await until(() => reloaded.length === 1);
    await writeFile(file, "{ not json");
    await until(() => invalid.length === 1);
    const after = await scrape(h.http);
    expect(value(after, "openclaw_task_runs_total", { type: "noop", outcome: "completed" })).toBe(1);
    expect(value(after, "openclaw_config_reloads_total", { result: "applied" })).toBe(1);
    expect(value(after, "openclaw_config_reloads_total", { result: "invalid" })).toBe(1);
  });

  it("times calls to nodes by where the node is", async () => {
    h = await startGateway();
    await pairNode(h, "phone-1", () => ({ runId: "r-1", output: "from the node" }));
    const client = await h.client();
    const run = await client.request("agent.run", { input: "hi" }, { target: "phone-1" });
    expect(run).toMatchObject({ output: "from the node" });
    const families = await scrape(h.http);
    expect(
      histogram(families, "openclaw_node_call_duration_seconds", { where: "local", code: "OK" }).count,
    ).toBe(1);
  });
});

describe("system.metrics", () => {
  it("summarises the registry /metrics serves: connections, frames, messages, latency, the delivery queue", async () => {
    h = await startGateway();
    const client = await h.client();
    for (let i = 0; i < 20; i++) await client.request("ping", {});
    await client.request("agent.run", { agent: "echo", input: "hello there" });
    const webhook = await h.webhook({
      id: "p-1",
      chat: "chat-9",
      from: { id: "u1", name: "Ana" },
      text: "hi",
    });
    expect(webhook.ok).toBe(true);
    await client.request("message.send", { recipient: "chat-9", channel: "test", text: "out" });
    const summary = await client.request("system.metrics");
    const families = await scrape(h.http);
    expect(summary.connections).toEqual({ operator: 1 });
    // The summary's own request is received before it is taken, answered (and timed) after.
    expect(summary.frames.in).toBe(value(families, "openclaw_frames_received_total"));
    expect(summary.frames.out).toBe(value(families, "openclaw_frames_sent_total") - 1);
    expect(summary.messages).toEqual({
      in: value(families, "openclaw_inbound_messages_total", { channel: "test" }),
      out: value(families, "openclaw_channel_sends_total", { channel: "test", outcome: "sent" }),
      failed: 0,
    });
    expect(summary.messages.in).toBe(1);
    expect(summary.messages.out).toBe(1);
    const requests = (families.get("openclaw_request_duration_seconds")!.data as PromHistogramData[]).reduce(
      (sum, sample) => sum + sample.count,
      0,
    );
    expect(summary.requests.count).toBe(requests - 1);
    expect(summary.requests.count).toBeGreaterThanOrEqual(22);
    expect(summary.requests.counts.at(-1)).toBe(summary.requests.count);
    for (let i = 1; i < summary.requests.counts.length; i++)
      expect(summary.requests.counts[i]).toBeGreaterThanOrEqual(summary.requests.counts[i - 1]!);
    expect(summary.agentRuns).toMatchObject({ count: 1 });
    expect(summary.agentRuns.counts.at(-1)).toBe(1);
    expect(summary.delivery).toEqual({ depth: 0, oldestAgeSeconds: 0, deadLetters: 0 });
    // Two samples give rates over the interval and percentiles of what happened in it.
    await client.request("ping", {});
    const later = await client.request("system.metrics");
    const figures = metricsFigures(later, summary);
    expect(figures.intervalSeconds).toBeGreaterThanOrEqual(0);
    expect(figures.requestP50Ms).toBeGreaterThan(0);
    expect(figures.agentRuns).toBe(0);
    expect(figures.agentP50Ms).toBeUndefined();
  });

  it("answers UNAVAILABLE (metrics_disabled) when metrics are off", async () => {
    h = await startGateway({ config: { metrics: { enabled: false } } });
    const client = await h.client();
    await expect(client.request("system.metrics")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      details: { reason: "metrics_disabled" },
    });
  });
});
