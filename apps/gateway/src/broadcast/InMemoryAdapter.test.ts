import { describe, expect, it } from "vitest";
import { type AdapterMember, connectionRoom, nodeRoom, scopeRoom } from "./Adapter";
import { InMemoryAdapter } from "./InMemoryAdapter";

class Member implements AdapterMember {
  readonly received: string[] = [];
  closed: { code: number; reason: string } | undefined;
  constructor(readonly id: string) {}
  send(frame: Buffer): boolean {
    this.received.push(frame.toString());
    return true;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
}

const bytes = (text: string) => Buffer.from(text);
const READ = scopeRoom("operator.read");
const ADMIN = scopeRoom("operator.admin");
const NODE = scopeRoom("node");

function setup() {
  const adapter = new InMemoryAdapter({ instanceId: "gw-1" });
  const admin = new Member("a");
  const operator = new Member("o");
  const node = new Member("n");
  adapter.join(admin, [connectionRoom("a"), READ, ADMIN]);
  adapter.join(operator, [connectionRoom("o"), READ]);
  adapter.join(node, [connectionRoom("n"), NODE, nodeRoom("phone")]);
  return { adapter, admin, operator, node };
}

describe("InMemoryAdapter", () => {
  it("sends a packet to the members of its rooms, once each even when in several", () => {
    const { adapter, admin, operator, node } = setup();
    adapter.broadcast([{ bytes: bytes("e1"), rooms: [READ, ADMIN] }]);
    expect(admin.received).toEqual(["e1"]);
    expect(operator.received).toEqual(["e1"]);
    expect(node.received).toEqual([]);
  });

  it("leaves out the excepted members", () => {
    const { adapter, admin, operator } = setup();
    adapter.broadcast([{ bytes: bytes("e1"), rooms: [READ], except: new Set(["o"]) }]);
    expect(admin.received).toEqual(["e1"]);
    expect(operator.received).toEqual([]);
  });

  it("sends several packets in one pass, each member its frames in order and only those of its rooms", () => {
    const { adapter, admin, operator, node } = setup();
    adapter.broadcast([
      { bytes: bytes("read"), rooms: [READ] },
      { bytes: bytes("admin"), rooms: [ADMIN] },
      { bytes: bytes("all"), rooms: [READ, NODE], except: new Set(["a"]) },
    ]);
    expect(admin.received).toEqual(["read", "admin"]);
    expect(operator.received).toEqual(["read", "all"]);
    expect(node.received).toEqual(["all"]);
  });

  it("sends nothing to rooms nobody joined, nor to members that left", () => {
    const { adapter, admin, operator } = setup();
    adapter.broadcast([{ bytes: bytes("x"), rooms: [scopeRoom("pairing")] }]);
    adapter.leave("o", READ);
    adapter.leaveAll("a");
    adapter.broadcast([{ bytes: bytes("y"), rooms: [READ] }]);
    expect(admin.received).toEqual([]);
    expect(operator.received).toEqual([]);
    expect(adapter.rooms("a").size).toBe(0);
    expect([...adapter.rooms("o")]).toEqual([connectionRoom("o")]);
  });

  it("disconnects the members of a room and only them, and says how many", () => {
    const { adapter, admin, operator, node } = setup();
    const second = new Member("n2");
    adapter.join(second, [nodeRoom("phone")]);
    expect(adapter.disconnect({ rooms: [nodeRoom("phone")], code: 1008, reason: "device revoked" })).toBe(2);
    expect(node.closed).toEqual({ code: 1008, reason: "device revoked" });
    expect(second.closed).toEqual({ code: 1008, reason: "device revoked" });
    expect(admin.closed).toBeUndefined();
    expect(operator.closed).toBeUndefined();
    expect(adapter.disconnect({ rooms: [READ], except: new Set(["a"]), code: 1001, reason: "bye" })).toBe(1);
    expect(admin.closed).toBeUndefined();
    expect(operator.closed).toEqual({ code: 1001, reason: "bye" });
  });

  it("locates a node on this instance while a connection of it is in its room", async () => {
    const { adapter } = setup();
    await expect(adapter.locateNode("phone")).resolves.toEqual({ instanceId: "gw-1" });
    await expect(adapter.locateNode("laptop")).resolves.toBeUndefined();
    adapter.leaveAll("n");
    await expect(adapter.locateNode("phone")).resolves.toBeUndefined();
  });

  it("lists the members of several rooms once each", () => {
    const { adapter } = setup();
    expect([...adapter.members([READ, ADMIN])].map((member) => member.id).sort()).toEqual(["a", "o"]);
    expect([...adapter.members([scopeRoom("nobody")])]).toEqual([]);
  });

  it("keeps a room right as it goes from one member to several and back (joins twice, leaves)", () => {
    const adapter = new InMemoryAdapter();
    const first = new Member("1");
    const second = new Member("2");
    const room = nodeRoom("phone");
    adapter.join(first, [room]);
    adapter.join(first, [room]); // twice: still one member
    expect([...adapter.members([room])].map((member) => member.id)).toEqual(["1"]);
    adapter.join(second, [room]);
    adapter.broadcast([{ bytes: bytes("both"), rooms: [room] }]);
    adapter.leave("1", room);
    adapter.broadcast([{ bytes: bytes("second"), rooms: [room] }]);
    expect(first.received).toEqual(["both"]);
    expect(second.received).toEqual(["both", "second"]);
    adapter.leaveAll("2");
    expect([...adapter.members([room])]).toEqual([]);
    adapter.join(first, [room]);
    adapter.leave("2", room); // not a member: nothing changes
    expect([...adapter.members([room, READ])].map((member) => member.id)).toEqual(["1"]);
  });
});
