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

  it("corks a member that gets several frames of a broadcast, so they leave in one write", () => {
    const adapter = new InMemoryAdapter();
    const calls: string[] = [];
    const corkable: AdapterMember = {
      id: "c",
      send: (frame) => {
        calls.push(`send ${frame.toString()}`);
        return true;
      },
      close: () => {},
      cork: () => calls.push("cork"),
      uncork: () => calls.push("uncork"),
    };
    adapter.join(corkable, [READ]);
    adapter.broadcast([{ bytes: bytes("one"), rooms: [READ] }]);
    adapter.broadcast([
      { bytes: bytes("a"), rooms: [READ] },
      { bytes: bytes("b"), rooms: [READ] },
    ]);
    expect(calls).toEqual(["send one", "cork", "send a", "send b", "uncork"]);
    // A member without cork still gets its frames.
    const { adapter: plain, operator } = setup();
    plain.broadcast([
      { bytes: bytes("a"), rooms: [READ] },
      { bytes: bytes("b"), rooms: [READ] },
    ]);
    expect(operator.received).toEqual(["a", "b"]);
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

/** Resolves after the event loop's check phase has run (where the adapter serves its slices). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("InMemoryAdapter: a large audience over several event-loop turns", () => {
  function crowd(adapter: InMemoryAdapter, count: number, rooms: readonly string[] = [READ]) {
    const members = Array.from({ length: count }, (_, i) => new Member(`m${i}`));
    for (const member of members) adapter.join(member, [connectionRoom(member.id), ...rooms]);
    return members;
  }
  const served = (members: readonly Member[], frame: string) =>
    members.filter((member) => member.received.includes(frame)).length;

  it("serves membersPerTurn members at once and the rest in later turns, letting the loop run between", async () => {
    const adapter = new InMemoryAdapter({ membersPerTurn: 4 });
    const members = crowd(adapter, 10);
    const turns: number[] = [];
    adapter.broadcast([{ bytes: bytes("e1"), rooms: [READ] }]);
    expect(served(members, "e1")).toBe(4);
    expect(adapter.queuedDeliveries).toBe(6);
    // Work scheduled now runs between the slices, not after the whole audience.
    setImmediate(() => turns.push(served(members, "e1")));
    await nextTurn();
    expect(served(members, "e1")).toBe(8);
    await nextTurn();
    expect(served(members, "e1")).toBe(10);
    expect(adapter.queuedDeliveries).toBe(0);
    expect(turns).toEqual([8]);
    for (const member of members) expect(member.received).toEqual(["e1"]);
  });

  it("keeps every member's frames in broadcast order while deliveries wait", async () => {
    const adapter = new InMemoryAdapter({ membersPerTurn: 3 });
    const members = crowd(adapter, 8, [READ, ADMIN]);
    adapter.broadcast([{ bytes: bytes("1"), rooms: [READ] }]);
    adapter.broadcast([{ bytes: bytes("2"), rooms: [ADMIN] }]); // waits behind the first, though small
    adapter.broadcast([
      { bytes: bytes("3"), rooms: [READ] },
      { bytes: bytes("4"), rooms: [READ, ADMIN], except: new Set(["m5"]) },
    ]);
    expect(members[0]!.received).toEqual(["1"]);
    expect(members[5]!.received).toEqual([]);
    while (adapter.queuedDeliveries > 0) await nextTurn();
    for (const member of members)
      expect(member.received).toEqual(member.id === "m5" ? ["1", "2", "3"] : ["1", "2", "3", "4"]);
  });

  it("serves the audience as it was at the broadcast, less the members that left it since", async () => {
    const adapter = new InMemoryAdapter({ membersPerTurn: 2 });
    const members = crowd(adapter, 5);
    adapter.broadcast([{ bytes: bytes("before"), rooms: [READ] }]);
    const late = new Member("late");
    adapter.join(late, [READ]);
    adapter.leaveAll("m4"); // a connection that closed: it leaves its rooms
    adapter.broadcast([{ bytes: bytes("after"), rooms: [READ] }]);
    const both = [READ, ADMIN];
    adapter.join(members[0]!, [ADMIN]);
    adapter.broadcast([{ bytes: bytes("both"), rooms: both }]);
    adapter.leaveAll("m3");
    adapter.leave("m2", READ); // unsubscribed from the one room of "before" and "after"
    while (adapter.queuedDeliveries > 0) await nextTurn();
    expect(late.received).toEqual(["after", "both"]);
    expect(members[0]!.received).toEqual(["before", "after", "both"]);
    expect(members[2]!.received).toEqual([]);
    expect(members[3]!.received).toEqual([]);
    expect(members[4]!.received).toEqual([]);
  });

  it("delivers everything waiting at once rather than queue past maxQueuedDeliveries", () => {
    const adapter = new InMemoryAdapter({ membersPerTurn: 2, maxQueuedDeliveries: 5 });
    const members = crowd(adapter, 6);
    adapter.broadcast([{ bytes: bytes("a"), rooms: [READ] }]);
    expect(adapter.queuedDeliveries).toBe(4);
    adapter.broadcast([{ bytes: bytes("b"), rooms: [READ] }]); // 4 + 6 > 5: catch up, then all of "b"
    expect(adapter.queuedDeliveries).toBe(0);
    for (const member of members) expect(member.received).toEqual(["a", "b"]);
  });

  it("drops what is queued when closed, and rejects limits that are not positive integers", async () => {
    const adapter = new InMemoryAdapter({ membersPerTurn: 1 });
    const members = crowd(adapter, 3);
    adapter.broadcast([{ bytes: bytes("x"), rooms: [READ] }]);
    adapter.close();
    await nextTurn();
    await nextTurn();
    expect(served(members, "x")).toBe(1);
    expect(adapter.queuedDeliveries).toBe(0);
    expect(() => new InMemoryAdapter({ membersPerTurn: 0 })).toThrow(RangeError);
    expect(() => new InMemoryAdapter({ maxQueuedDeliveries: 1.5 })).toThrow(RangeError);
  });
});
