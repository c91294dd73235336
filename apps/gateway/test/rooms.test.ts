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
