import { InMemoryAdapter } from "@openclaw/backend";
import type { DisconnectInfo } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { collect, type Harness, pairNode, startGateway, until } from "./harness";

let h: Harness;
beforeEach(async () => {
  h = await startGateway();
});
afterEach(async () => {
  await h.stop();
});

describe("rooms: who hears what and who device.revoke closes", () => {
  it("device.revoke closes the revoked node's connection with 1008 and nobody else's", async () => {
    const { node: phone, admin } = await pairNode(h, "phone-r", () => ({ runId: "r", output: "ok" }));
    const { node: laptop } = await pairNode(h, "laptop-r", () => ({ runId: "r", output: "ok" }));
    const operator = await h.client();
    const offline = collect(operator, "node.offline");
    const closed = new Promise<DisconnectInfo>((resolve) => phone.once("disconnected", resolve));
    let laptopClosed = false;
    laptop.on("disconnected", () => {
      laptopClosed = true;
    });

    expect(await admin.request("device.revoke", { nodeId: "phone-r" })).toEqual({ revoked: true });

    expect(await closed).toMatchObject({ code: 1008, reason: "device revoked" });
    await until(() => offline.length === 1);
    expect(offline[0]).toMatchObject({ nodeId: "phone-r", reason: "revoked" });
    // The others are still connected and served.
    await expect(operator.request("ping", {})).resolves.toHaveProperty("ts");
    await expect(laptop.request("ping", {})).resolves.toHaveProperty("ts");
    expect(laptopClosed).toBe(false);
    const { nodes } = await operator.request("node.list", {});
    expect(nodes.map((node) => node.nodeId)).toEqual(["laptop-r"]);
  });

  it("sends operator events to operators only, not to nodes", async () => {
    const { node } = await pairNode(h, "phone-s", () => ({ runId: "r", output: "ok" }));
    const operator = await h.client();
    const nodeHeard: string[] = [];
    node.on("event", (frame) => nodeHeard.push(frame.event));
    const sent = collect(operator, "channel.message.sent");
    await operator.request("message.send", { channel: "test", recipient: "chat-1", text: "hi" });
    const other = await h.client();
    const otherSent = collect(other, "channel.message.sent");
    await operator.request("message.send", { channel: "test", recipient: "chat-1", text: "again" });
    await until(() => otherSent.length === 1);
    // The sender is left out of its own channel.message.sent; the node never hears operator events.
    expect(sent).toEqual([]);
    expect(nodeHeard.filter((event) => event !== "tick")).toEqual([]);
  });
});

describe("rooms: a broadcast larger than one event-loop turn", () => {
  it("reaches every client over several turns, each with the events in order, while requests are answered", async () => {
    const sliced = await startGateway({ adapter: new InMemoryAdapter({ membersPerTurn: 2 }) });
    try {
      const clients = await Promise.all(Array.from({ length: 7 }, () => sliced.client()));
      const heard = clients.map((client) => collect(client, "channel.message.received"));
      const updated = clients.map((client) => collect(client, "conversation.updated"));
      // Five inbound messages posted at once: five broadcasts of 7 clients, 2 per turn.
      const responses = await Promise.all(
        [1, 2, 3, 4, 5].map((n) =>
          sliced.webhook({ id: `slice-${n}`, chat: "chat-s", from: { id: "u" }, text: `m${n}` }),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
      await expect(clients[6]!.request("ping", {})).resolves.toHaveProperty("ts");
      await until(() => updated.every((events) => events.length === 5));
      // Every client got the same sequence: each message before its conversation update, seqs rising.
      const seqs = updated.map((events) =>
        events.map((event) => (event as { message: { seq: number } }).message.seq),
      );
      for (const list of seqs) expect(list).toEqual([1, 2, 3, 4, 5]);
      const order = heard[0]!.map((event) => (event as { message: { id: string } }).message.id);
      expect(order).toHaveLength(5);
      for (const events of heard)
        expect(events.map((event) => (event as { message: { id: string } }).message.id)).toEqual(order);
    } finally {
      await sliced.stop();
    }
  });
});
