import { FAKE_BOT_USER, FAKE_ROOM, FAKE_SERVER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import type { GatewayClient } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ClusterSetup,
  clusterTestsAvailable,
  collect,
  connect,
  poll,
  ready,
  startInstance,
  useCluster,
} from "./cluster-process";
import { type GatewayProcess, kill9, until } from "./gateway-process";

// Issue 17, "each channel once", "every message once" and "every job once", end to end: three
// `openclaw gateway` processes on one redis-server, with the real Matrix plugin (matrix-js-sdk) on a
// loopback fake homeserver that records every sync and send. Matrix holds a /sync long poll, so it
// runs on one instance at a time, under a lease.

const available = await clusterTestsAvailable();
const cluster = useCluster("cluster-channels", available);

const ACCESS_TOKEN = "syt_b3BlbmNsYXc_fake_access_token";
const SECOND_ROOM = `!second:${FAKE_SERVER}`;

let fake: FakeMatrix;

beforeEach(async () => {
  fake = await FakeMatrix.start({ accessToken: ACCESS_TOKEN });
  fake.invite(SECOND_ROOM);
});
afterEach(async () => {
  await fake.close();
});

/** A cluster whose instances all have the Matrix channel on the fake homeserver. */
function newCluster(config: object = {}): ClusterSetup {
  return cluster.newCluster({
    channels: {
      matrix: { homeserverUrl: fake.baseUrl, userId: FAKE_BOT_USER, accessToken: ACCESS_TOKEN },
    },
    delivery: { backoffBaseMs: 50, backoffMaxMs: 200, maxAttempts: 1000, maxQueued: 5000 },
    ...config,
  });
}

interface ChannelStatus {
  name: string;
  state: string;
  instance?: string;
}

/** The Matrix channel's state on every live instance, by instance id. */
async function matrixStates(instances: Map<string, GatewayProcess>): Promise<Map<string, ChannelStatus>> {
  const states = new Map<string, ChannelStatus>();
  for (const [id, instance] of instances) {
    if (instance.child.exitCode !== null || instance.child.signalCode !== null) continue;
    const { body } = await ready(instance);
    const matrix = (body.channels as ChannelStatus[]).find((channel) => channel.name === "matrix");
    if (matrix !== undefined) states.set(id, matrix);
  }
  return states;
}

/** Waits until exactly one live instance runs Matrix and the others stand by for it; returns its id. */
async function holderOf(instances: Map<string, GatewayProcess>, timeoutMs = 30_000): Promise<string> {
  const settled = (states: Map<string, ChannelStatus>) => {
    const running = [...states].filter(([, status]) => status.state === "ready");
    const standing = [...states].filter(([, status]) => status.state === "standby");
    return (
      running.length === 1 &&
      standing.length === states.size - 1 &&
      standing.every(([, status]) => status.instance === running[0]![0])
    );
  };
  const states = await poll(() => matrixStates(instances), settled, timeoutMs);
  expect(settled(states), JSON.stringify([...states])).toBe(true);
  return [...states].find(([, status]) => status.state === "ready")![0];
}

async function startThree(setup: ClusterSetup): Promise<Map<string, GatewayProcess>> {
  const started = await Promise.all(["a", "b", "c"].map((id) => startInstance(setup, id)));
  return new Map(started.map((instance, i) => [["a", "b", "c"][i]!, instance]));
}

interface HistoryPage {
  messages: Array<{ seq: number; direction: string; content: { text?: string } }>;
}

describe.skipIf(!available)("cluster mode: one Matrix connection, every message and job once", () => {
  it("runs the Matrix sync on one instance; SIGKILL of the holder moves it, and history is one", async () => {
    const setup = newCluster();
    const instances = await startThree(setup);
    const holder = await holderOf(instances);
    const survivors = [...instances.keys()].filter((id) => id !== holder);

    // An inbound message, taken by the holder, is in the history of every instance.
    fake.inject("first");
    // One client per instance; a conversation that has not reached an instance yet has no history.
    const readers = new Map<string, GatewayClient>();
    const historyOn = async (id: string) => {
      let reader = readers.get(id);
      if (reader === undefined) {
        reader = await connect(setup, instances.get(id)!);
        readers.set(id, reader);
      }
      try {
        const page = (await reader.request("conversation.history", {
          channel: "matrix",
          conversationId: FAKE_ROOM,
        })) as HistoryPage;
        return page.messages.map((message) => message.content.text);
      } catch (error) {
        if ((error as { code?: string }).code === "NOT_FOUND") return [];
        throw error;
      }
    };
    for (const id of instances.keys()) {
      expect(
        await poll(
          () => historyOn(id),
          (texts) => texts.includes("first"),
        ),
      ).toEqual(["first"]);
    }

    await kill9(instances.get(holder)!.child);
    instances.delete(holder);
    const next = await holderOf(instances);
    expect(survivors).toContain(next);
    fake.inject("second");
    for (const id of instances.keys()) {
      expect(
        await poll(
          () => historyOn(id),
          (texts) => texts.includes("second"),
        ),
      ).toEqual(["first", "second"]);
    }
  }, 120_000);

  it("delivers 1,000 sends accepted by the holder exactly once and in order per room, through two SIGKILLs", async () => {
    const setup = newCluster();
    const instances = await startThree(setup);
    const holder = await holderOf(instances);
    await until(() => fake.membership(SECOND_ROOM) === "join", "the bot to join the second room", 20_000);
    // The homeserver refuses every send: all 1,000 are queued, in Redis, by the holder.
    fake.failAllSends = { status: 500, body: { errcode: "M_UNKNOWN", error: "Internal server error" } };
    const client = await connect(setup, instances.get(holder)!);
    const results = [];
    for (let batch = 0; batch < 10; batch++) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, i) => {
            const n = batch * 100 + i;
            const room = n % 2 === 0 ? FAKE_ROOM : SECOND_ROOM;
            return client.request("message.send", { recipient: room, channel: "matrix", text: `m${n}` });
          }),
        )),
      );
    }
    expect(results.every((result) => result.status === "queued")).toBe(true);
    expect(fake.sentTexts()).toEqual([]);

    // The accepting instance, which also works the queue, dies; the homeserver recovers.
    await kill9(instances.get(holder)!.child);
    instances.delete(holder);
    fake.failAllSends = undefined;
    const second = await holderOf(instances);
    await until(() => fake.sentTexts().length >= 200, "part of the messages", 60_000);
    // The next worker dies mid-delivery too; the last instance finishes.
    await kill9(instances.get(second)!.child);
    instances.delete(second);
    await until(() => fake.sentTexts().length >= 1000, "every message", 90_000);

    const texts = fake.sentTexts();
    expect(texts).toHaveLength(1000);
    expect(new Set(texts).size).toBe(1000);
    for (const room of [FAKE_ROOM, SECOND_ROOM]) {
      const order = fake.sent
        .filter((event) => event.roomId === room)
        .map((event) => Number(String(event.content.body).slice(1)));
      expect(order).toHaveLength(500);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    // Nothing is left behind, on the instance that is left.
    const last = await connect(setup, [...instances.values()][0]!);
    const listed = (await last.request("delivery.list", {})) as { deliveries: unknown[] };
    expect(listed.deliveries).toEqual([]);
  }, 240_000);

  it("loses no acknowledged send when Redis is killed and restarted mid-traffic", async () => {
    const setup = newCluster();
    const instances = await startThree(setup);
    const holder = await holderOf(instances);
    await until(() => fake.membership(SECOND_ROOM) === "join", "the bot to join the second room", 20_000);
    // Senders on every instance, one message at a time each, while Redis dies and comes back.
    const senders = await Promise.all([...instances.values()].map((instance) => connect(setup, instance)));
    const acknowledged: string[] = [];
    const refused: unknown[] = [];
    let next = 0;
    let sending = true;
    const bySender: string[][] = senders.map(() => []);
    const loops = senders.map(async (client, sender) => {
      while (sending) {
        const n = next++;
        const text = `r${n}`;
        const room = n % 2 === 0 ? FAKE_ROOM : SECOND_ROOM;
        try {
          await client.request("message.send", { recipient: room, channel: "matrix", text });
          acknowledged.push(text);
          bySender[sender]!.push(text);
        } catch (error) {
          refused.push(error);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });
    await until(() => acknowledged.length >= 100, "100 acknowledged sends", 30_000);
    await cluster.redis.kill9();
    await until(() => refused.length >= 10, "sends refused while Redis is down", 30_000);
    await cluster.redis.restart();
    await until(() => acknowledged.length >= 300, "300 acknowledged sends after Redis came back", 60_000);
    sending = false;
    await Promise.all(loops);
    // Refusals were typed and retryable.
    for (const error of refused) {
      expect(error).toMatchObject({ code: expect.stringMatching(/^(UNAVAILABLE|NOT_READY)$/) });
    }
    // Every acknowledged send is delivered, once; the order per room holds among what was sent.
    await until(
      () => acknowledged.every((text) => fake.sentTexts().includes(text)),
      "every acknowledged send delivered",
      90_000,
    );
    const texts = fake.sentTexts();
    expect(new Set(texts).size).toBe(texts.length);
    // Each sender waited for every answer, so its sends to a room arrive in the order it made them.
    for (const room of [FAKE_ROOM, SECOND_ROOM]) {
      const delivered = fake.sent
        .filter((event) => event.roomId === room)
        .map((event) => String(event.content.body));
      for (const sent of bySender) {
        const mine = delivered.filter((text) => sent.includes(text));
        expect(mine).toEqual(sent.filter((text) => mine.includes(text)));
      }
    }
    expect(holder).toBeDefined();
  }, 240_000);

  it("runs a cron job once per tick across three instances, also after one is killed", async () => {
    const setup = newCluster({ cron: [{ id: "tick", schedule: "* * * * * *", type: "noop" }] });
    const instances = await startThree(setup);
    const observer = await connect(setup, instances.get("a")!);
    const started = collect(observer, "task.started");
    const completed = collect(observer, "task.completed");
    const at: number[] = [];
    observer.on("task.started", () => at.push(Date.now()));
    // Killed between two ticks: a tick whose instance dies while running it holds the job until
    // it is taken over as stale (timeoutMs + staleRunGraceMs), a limit the README states.
    await until(() => completed.length >= 4, "four ticks", 30_000);
    await kill9(instances.get("c")!.child);
    await until(() => started.length >= 10, "ten ticks", 30_000);
    // Each tick ran once: the runs are no more than the seconds they span (plus one for the
    // first tick and one for scheduling jitter). Run by all three, they would be three per second.
    const spanSeconds = (at[at.length - 1]! - at[0]!) / 1000;
    expect(at.length).toBeLessThanOrEqual(Math.round(spanSeconds) + 2);
  }, 120_000);
});
