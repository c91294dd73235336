import { type Binding, ProtocolError, ROUTE_LEVELS, type RoutingContext } from "@openclaw/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BindingSpec, Router } from "./Router";
import { RouterError } from "./RouterError";

let clock = 1000;
const newRouter = () => {
  let n = 0;
  clock = 1000;
  return new Router({ now: () => clock++, generateId: () => `b${++n}` });
};

/** A router with one binding at every level, all for alice. */
const fullRouter = () => {
  const router = newRouter();
  router.bind({ id: "sys", level: "system", target: { channel: "email", address: "ops@example.com" } });
  router.bind({
    id: "chan",
    level: "channel",
    match: { channel: "discord" },
    target: { channel: "discord" },
  });
  router.bind({
    id: "acct",
    level: "account",
    match: { userId: "alice" },
    target: { channel: "signal", address: "+4915100000000" },
  });
  router.bind({
    id: "guild",
    level: "guild",
    match: { guildId: "acme" },
    target: { channel: "slack", address: "C-general" },
  });
  router.bind({
    id: "peer",
    level: "peer",
    match: { userId: "alice", channel: "discord" },
    target: { channel: "telegram", address: "12345" },
  });
  return router;
};

describe("Router precedence (SPEC.md section 4)", () => {
  it("peer beats guild beats account beats channel default beats system default", () => {
    const router = fullRouter();
    const ctx = { channel: "discord", guildId: "acme" };
    expect(router.resolve("alice", ctx)).toMatchObject({
      level: "peer",
      bindingId: "peer",
      channel: "telegram",
      address: "12345",
    });
    router.unbind("peer");
    expect(router.resolve("alice", ctx)).toMatchObject({
      level: "guild",
      bindingId: "guild",
      channel: "slack",
      address: "C-general",
    });
    router.unbind("guild");
    expect(router.resolve("alice", ctx)).toMatchObject({
      level: "account",
      bindingId: "acct",
      channel: "signal",
    });
    router.unbind("acct");
    // The channel default sends back on the platform, to the recipient's own address.
    expect(router.resolve("alice", ctx)).toMatchObject({
      level: "channel",
      bindingId: "chan",
      channel: "discord",
      address: "alice",
    });
    router.unbind("chan");
    expect(router.resolve("alice", ctx)).toMatchObject({
      level: "system",
      bindingId: "sys",
      channel: "email",
      address: "ops@example.com",
    });
    router.unbind("sys");
    expect(router.tryResolve("alice", ctx)).toBeNull();
  });

  it("uses a level only when the context supplies its key", () => {
    const router = fullRouter();
    // No context channel: the peer binding (alice on discord) and the channel default cannot match.
    expect(router.resolve("alice", { guildId: "acme" }).level).toBe("guild");
    expect(router.resolve("alice").level).toBe("account");
    expect(router.resolve("bob").level).toBe("system");
    expect(router.resolve("bob", { channel: "discord" }).level).toBe("channel");
    expect(router.resolve("alice", { channel: "telegram" }).level).toBe("account");
  });

  it("explains its choice", () => {
    const route = fullRouter().resolve("alice", { channel: "discord" });
    expect(route.reason).toBe("peer binding peer (userId=alice, channel=discord) sends to telegram:12345");
  });

  it("throws a typed NO_ROUTE error with a next step when nothing matches", () => {
    const router = newRouter();
    router.bind({ level: "account", match: { userId: "alice" }, target: { channel: "signal" } });
    const error = (() => {
      try {
        router.resolve("bob", { channel: "discord" });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(RouterError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({
      name: "RouterError",
      code: "NO_ROUTE",
      details: { reason: "no_binding", recipient: "bob" },
    });
    expect((error as RouterError).details?.nextStep).toContain("openclaw bindings add");
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: "NO_ROUTE" });
  });
});

describe("Router refinements and tie-breaking", () => {
  it("honours extra match keys as refinements, preferring the more specific binding", () => {
    const router = newRouter();
    router.bind({
      id: "any-peer",
      level: "peer",
      match: { userId: "alice", channel: "discord" },
      target: { channel: "telegram" },
    });
    router.bind({
      id: "dm",
      level: "peer",
      match: { userId: "alice", channel: "discord", peerId: "dm-1" },
      target: { channel: "signal" },
    });
    expect(router.resolve("alice", { channel: "discord", peerId: "dm-1" }).bindingId).toBe("dm");
    expect(router.resolve("alice", { channel: "discord", peerId: "dm-2" }).bindingId).toBe("any-peer");
    router.unbind("any-peer");
    expect(router.tryResolve("alice", { channel: "discord", peerId: "dm-2" })).toBeNull();
  });

  it("breaks ties by priority, then specificity, then age, then id", () => {
    const router = newRouter();
    router.bind({ id: "old", level: "system", target: { channel: "a" }, createdAt: 1 });
    router.bind({ id: "new", level: "system", target: { channel: "b" }, createdAt: 2 });
    expect(router.resolve("x").bindingId).toBe("old");
    router.bind({ id: "z-same-age", level: "system", target: { channel: "c" }, createdAt: 1 });
    expect(router.resolve("x").bindingId).toBe("old");
    router.bind({ id: "a-same-age", level: "system", target: { channel: "d" }, createdAt: 1 });
    expect(router.resolve("x").bindingId).toBe("a-same-age");
    router.bind({
      id: "specific",
      level: "system",
      match: { accountId: "bot-1" },
      target: { channel: "e" },
      createdAt: 9,
    });
    expect(router.resolve("x", { accountId: "bot-1" }).bindingId).toBe("specific");
    expect(router.resolve("x", { accountId: "bot-2" }).bindingId).toBe("a-same-age");
    router.bind({ id: "urgent", level: "system", target: { channel: "f" }, priority: 10, createdAt: 99 });
    expect(router.resolve("x", { accountId: "bot-1" }).bindingId).toBe("urgent");
  });

  it("resolves the same way whatever order the bindings were added in", () => {
    const specs: BindingSpec[] = [
      { id: "p1", level: "system", target: { channel: "a" }, createdAt: 5 },
      { id: "p2", level: "system", target: { channel: "b" }, createdAt: 5, priority: 1 },
      { id: "p3", level: "system", match: { channel: "x" }, target: { channel: "c" }, createdAt: 1 },
      { id: "p4", level: "system", target: { channel: "d" }, createdAt: 3 },
    ];
    const winners = new Set<string>();
    fc.assert(
      fc.property(fc.shuffledSubarray(specs, { minLength: specs.length }), (order) => {
        const router = newRouter();
        for (const spec of order) router.bind(spec);
        winners.add(`${router.resolve("u", { channel: "x" }).bindingId}/${router.resolve("u").bindingId}`);
      }),
    );
    expect([...winners]).toEqual(["p2/p2"]);
  });
});

describe("Router validation", () => {
  const invalid: Array<[string, unknown]> = [
    [
      "peer without userId",
      { level: "peer", match: { channel: "discord" }, target: { channel: "telegram" } },
    ],
    ["peer without channel", { level: "peer", match: { userId: "alice" }, target: { channel: "telegram" } }],
    ["guild without guildId", { level: "guild", match: { userId: "alice" }, target: { channel: "slack" } }],
    ["account without userId", { level: "account", target: { channel: "signal" } }],
    ["channel default without channel", { level: "channel", match: {}, target: { channel: "discord" } }],
    ["unknown level", { level: "team", target: { channel: "slack" } }],
    ["bad channel name", { level: "system", target: { channel: "Tele Gram" } }],
    ["no target", { level: "system" }],
    ["wrong types", { level: "account", match: { userId: 42 }, target: { channel: "signal" } }],
    ["fractional priority", { level: "system", target: { channel: "a" }, priority: 1.5 }],
    ["negative createdAt", { level: "system", target: { channel: "a" }, createdAt: -1 }],
    ["not an object", "system"],
  ];

  it.each(invalid)("rejects %s with INVALID_PARAMS naming the problem", (_name, spec) => {
    const router = newRouter();
    expect(() => router.bind(spec as BindingSpec)).toThrow(RouterError);
    try {
      router.bind(spec as BindingSpec);
    } catch (error) {
      expect(error).toMatchObject({ code: "INVALID_PARAMS", details: { reason: "invalid_binding" } });
      expect((error as RouterError).details?.issues?.length).toBeGreaterThan(0);
    }
    expect(router.size).toBe(0);
  });

  it("refuses a duplicate id and the binding past maxBindings with CONFLICT", () => {
    const router = new Router({ maxBindings: 2 });
    router.bind({ id: "a", level: "system", target: { channel: "x" } });
    expect(() => router.bind({ id: "a", level: "system", target: { channel: "y" } })).toThrow(
      expect.objectContaining({ code: "CONFLICT", details: { reason: "duplicate_id", id: "a" } }),
    );
    router.bind({ level: "system", target: { channel: "y" } });
    expect(() => router.bind({ level: "system", target: { channel: "z" } })).toThrow(
      expect.objectContaining({
        code: "CONFLICT",
        details: expect.objectContaining({ reason: "limit_reached" }),
      }),
    );
    expect(router.size).toBe(2);
  });

  it("generates unique ids by default", () => {
    const router = new Router();
    const ids = new Set(
      Array.from({ length: 100 }, () => router.bind({ level: "system", target: { channel: "x" } })),
    );
    expect(ids.size).toBe(100);
  });
});

describe("Router bookkeeping", () => {
  it("lists a user's bindings in precedence order", () => {
    const router = fullRouter();
    router.bind({
      id: "acct-2",
      level: "account",
      match: { userId: "alice" },
      target: { channel: "email" },
      priority: 5,
    });
    router.bind({ id: "bob", level: "account", match: { userId: "bob" }, target: { channel: "email" } });
    expect(router.getBindings("alice").map((b) => b.id)).toEqual(["peer", "acct-2", "acct"]);
    expect(router.getBindings("carol")).toEqual([]);
    router.unbind("acct-2");
    router.unbind("acct");
    expect(router.getBindings("alice").map((b) => b.id)).toEqual(["peer"]);
  });

  it("hands out copies that cannot change its state", () => {
    const router = fullRouter();
    const binding = router.get("acct")!;
    binding.target.channel = "hacked";
    router.getBindings("alice")[0]!.match.userId = "mallory";
    router.list()[0]!.priority = 1e6;
    expect(router.resolve("alice").channel).toBe("signal");
    expect(router.get("acct")?.target.channel).toBe("signal");
  });

  it("unbinds unknown ids harmlessly and clears everything", () => {
    const router = fullRouter();
    expect(router.unbind("nope")).toBe(false);
    expect(router.unbind("peer")).toBe(true);
    expect(router.unbind("peer")).toBe(false);
    expect(router.size).toBe(4);
    router.clear();
    expect(router.size).toBe(0);
    expect(router.tryResolve("alice", { channel: "discord" })).toBeNull();
  });

  it("round-trips through a JSON snapshot and resolves identically", () => {
    const router = fullRouter();
    const restored = Router.fromJSON(JSON.parse(JSON.stringify(router)));
    expect(restored.list()).toEqual(router.list());
    for (const ctx of [{ channel: "discord" }, { guildId: "acme" }, {}]) {
      expect(restored.resolve("alice", ctx)).toEqual(router.resolve("alice", ctx));
    }
  });

  it("rejects broken snapshots with a typed error naming the binding", () => {
    expect(() => Router.fromJSON(null)).toThrow(
      expect.objectContaining({ code: "INVALID_PARAMS", details: { reason: "invalid_snapshot" } }),
    );
    expect(() => Router.fromJSON({ version: 2, bindings: [] })).toThrow(RouterError);
    const broken = {
      version: 1,
      bindings: [
        { id: "ok", level: "system", target: { channel: "a" }, priority: 0, createdAt: 1 },
        { id: "bad", level: "peer", target: { channel: "a" } },
      ],
    };
    expect(() => Router.fromJSON(broken)).toThrow(
      expect.objectContaining({ code: "INVALID_PARAMS", details: expect.objectContaining({ index: 1 }) }),
    );
  });
});

/** The specification of resolve, written as a linear scan: the index must agree with it. */
function referenceResolve(bindings: Binding[], recipient: string, context: RoutingContext): Binding | null {
  const facts: Record<string, string | undefined> = { ...context, userId: recipient };
  const required = {
    peer: ["userId", "channel"],
    guild: ["guildId"],
    account: ["userId"],
    channel: ["channel"],
    system: [],
  } as const;
  for (const level of ROUTE_LEVELS) {
    if (!required[level].every((key) => facts[key] !== undefined)) continue;
    const candidates = bindings
      .filter((b) => b.level === level)
      .filter((b) => Object.entries(b.match).every(([key, value]) => facts[key] === value))
      .sort(
        (a, b) =>
          b.priority - a.priority ||
          Object.keys(b.match).length - Object.keys(a.match).length ||
          a.createdAt - b.createdAt ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    if (candidates[0] !== undefined) return candidates[0];
  }
  return null;
}

describe("Router against the reference", () => {
  const small = (values: string[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
  const spec = fc
    .record({
      level: fc.constantFrom(...ROUTE_LEVELS),
      userId: small(["alice", "bob"]),
      channel: small(["discord", "telegram"]),
      peerId: small(["p1", "p2"]),
      guildId: small(["g1", "g2"]),
      accountId: small(["a1"]),
      priority: fc.integer({ min: 0, max: 2 }),
      createdAt: fc.integer({ min: 0, max: 3 }),
      target: fc.constantFrom("slack", "email", "signal"),
    })
    .map(({ level, target, priority, createdAt, ...match }) => ({
      level,
      match,
      target: { channel: target },
      priority,
      createdAt,
    }));
  const context = fc.record(
    {
      channel: fc.constantFrom("discord", "telegram"),
      peerId: fc.constantFrom("p1", "p2"),
      guildId: fc.constantFrom("g1", "g2"),
      accountId: fc.constant("a1"),
    },
    { requiredKeys: [] },
  );

  it("picks the same binding as a linear scan, for any bindings and context", () => {
    fc.assert(
      fc.property(
        fc.array(spec, { maxLength: 30 }),
        fc.array(fc.tuple(fc.constantFrom("alice", "bob", "carol"), context), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (specs, queries, removals) => {
          const router = newRouter();
          for (const s of specs) {
            try {
              router.bind(s as BindingSpec);
            } catch (error) {
              expect(error).toMatchObject({ code: "INVALID_PARAMS" }); // level lacks a required key
            }
          }
          const all = router.list();
          for (const r of removals) if (all.length > 0) router.unbind(all[r % all.length]!.id);
          const remaining = router.list();
          for (const [recipient, ctx] of queries) {
            expect(router.tryResolve(recipient, ctx)?.bindingId ?? null).toBe(
              referenceResolve(remaining, recipient, ctx)?.id ?? null,
            );
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
