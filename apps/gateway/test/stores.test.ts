import { readdir } from "node:fs/promises";
import {
  type MemoryKeyBacking as Backing,
  type ConversationRecord,
  type DeliveryRecord,
  type KeyStoreFactory,
  MemoryDeviceStore,
  MemoryKeyStore,
  MemoryRecordStore,
  type PairedDevice,
  type RecordStoreFactory,
} from "@openclaw/backend";
import { GatewayClient } from "@openclaw/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { collect, type Harness, pairNode, startGateway, until } from "./harness";

describe("a gateway on stores of its options", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it("keeps devices, idempotent results and inbound ids there, not in the state dir, across a restart", async () => {
    const devices = { devices: [] as PairedDevice[] };
    const keys = new Map<string, Backing>();
    const opened: string[] = [];
    const memoryKeys =
      <V>(): KeyStoreFactory<V> =>
      async ({ name, limits }) => {
        opened.push(name);
        if (!keys.has(name)) keys.set(name, new Map());
        return new MemoryKeyStore<V>(keys.get(name)!, limits);
      };
    const stores = () => ({
      deviceStore: new MemoryDeviceStore(devices),
      idempotencyStore: memoryKeys<unknown>(),
      dedupeStore: memoryKeys<1>(),
    });

    h = await startGateway({ stores: stores() });
    expect(opened.sort()).toEqual(["idempotency", "inbound-seen"]);
    const { node, deviceToken } = await pairNode(h, "node-mem", () => ({ text: "hi" }));
    await node.close();
    expect(devices.devices.map((device) => device.nodeId)).toEqual(["node-mem"]);
    expect(JSON.stringify(devices.devices)).not.toContain(deviceToken); // hashed

    const cli = await h.client();
    const params = { recipient: "chat-1", channel: "test", text: "once", idempotencyKey: "order-7" };
    const sent = await cli.request("message.send", params);
    expect(keys.get("idempotency")?.size).toBe(1);
    const received = collect(cli, "channel.message.received");
    const update = { id: "platform-msg-1", chat: "chat-1", from: { id: "u1" }, text: "in" };
    expect((await h.webhook(update)).status).toBe(200);
    await until(() => received.length === 1);
    await until(() => keys.get("inbound-seen")?.has("test\u0000platform-msg-1") === true);
    const files = await readdir(h.stateDir);
    expect(files).not.toContain("devices.json");
    expect(files).not.toContain("idempotency.log");
    expect(files).not.toContain("inbound-seen.log");
    await h.stop();

    // A new state dir: what the gateway remembers now comes from the stores alone.
    h = await startGateway({ stores: stores() });
    const restarted = new GatewayClient({
      url: h.url,
      role: "node",
      deviceToken,
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    expect(await restarted.connect()).toMatchObject({ role: "node", nodeId: "node-mem" });
    await restarted.close();
    const again = await h.client();
    expect(await again.request("message.send", params)).toEqual(sent);
    expect(h.platform.requests.filter((r) => r.path === "/messages")).toEqual([]);
    const replayed = collect(again, "channel.message.received");
    expect((await h.webhook(update)).status).toBe(200);
    expect((await h.webhook({ ...update, id: "platform-msg-2", text: "new" })).status).toBe(200);
    await until(() => replayed.length === 1);
    expect(replayed[0]).toMatchObject({ message: { id: "platform-msg-2" } });
  });

  it("keeps the outbound queue and the conversation history there, not in the state dir, across a restart", async () => {
    const backings = new Map<string, Map<string, { id: string }>>();
    const opened: string[] = [];
    const memoryRecords =
      <R extends { id: string }>(): RecordStoreFactory<R> =>
      async ({ name }) => {
        opened.push(name);
        if (!backings.has(name)) backings.set(name, new Map());
        return new MemoryRecordStore(backings.get(name) as Map<string, R>);
      };
    const stores = () => ({
      deliveryStore: memoryRecords<DeliveryRecord>(),
      historyStore: memoryRecords<ConversationRecord>(),
    });
    // Quick retries, never giving up: the queued message waits for the restart.
    const config = { delivery: { backoffBaseMs: 20, backoffMaxMs: 100, maxAttempts: 1000 } };

    h = await startGateway({ config, stores: stores() });
    expect(opened.sort()).toEqual(["conversations", "deliveries"]);
    const cli = await h.client();
    const received = collect(cli, "channel.message.received");
    const inbound = { id: "in-1", chat: "chat-9", from: { id: "u1" }, text: "hello" };
    expect((await h.webhook(inbound)).status).toBe(200);
    await until(() => received.length === 1);
    h.platform.route("POST /messages", () => ({ status: 503 })); // down until the restart
    const queued = await cli.request("message.send", { recipient: "chat-9", channel: "test", text: "later" });
    expect(queued).toMatchObject({ status: "queued" });
    expect([...(backings.get("deliveries")?.keys() ?? [])]).toEqual([queued.deliveryId]);
    expect(backings.get("conversations")?.size).toBe(1);
    const files = await readdir(h.stateDir);
    expect(files).not.toContain("deliveries.log");
    expect(files).not.toContain("conversations.log");
    await h.stop();

    // A new state dir (and a platform that is up): the queue and the history come from the stores alone.
    h = await startGateway({ config, stores: stores() });
    const platform = h.platform;
    const posted = () => platform.requests.filter((r) => r.method === "POST" && r.path === "/messages");
    await until(() => posted().length === 1);
    expect(posted()[0]?.json).toMatchObject({ to: "chat-9", text: "later" });
    await until(() => backings.get("deliveries")?.size === 0);
    const again = await h.client();
    const history = async () =>
      (
        await again.request("conversation.history", { channel: "test", conversationId: "chat-9" })
      ).messages.map((m) => [m.direction, m.content.text]);
    await expect.poll(history, { timeout: 5000 }).toEqual([
      ["in", "hello"],
      ["out", "later"],
    ]);
  });
});
