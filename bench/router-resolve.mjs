// Benchmark: Router.resolve with 100,000 bindings (subject) versus 10 bindings (baseline), on the
// same queries. Resolution is indexed by level and key, so the target is ≥ 0.5x.
import { fileURLToPath } from "node:url";
import { Router } from "@openclaw/router";
import { compare, report, worker } from "./lib/harness.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);

/** The ten bindings every query set is answered from, at every level. */
function hotBindings(router) {
  router.bind({
    level: "peer",
    match: { userId: "u0", channel: "discord" },
    target: { channel: "telegram", address: "t0" },
  });
  router.bind({
    level: "peer",
    match: { userId: "u0", channel: "discord", peerId: "dm0" },
    target: { channel: "signal" },
  });
  router.bind({ level: "guild", match: { guildId: "g0" }, target: { channel: "slack", address: "C0" } });
  router.bind({
    level: "guild",
    match: { guildId: "g1" },
    target: { channel: "slack", address: "C1" },
    priority: 1,
  });
  router.bind({ level: "account", match: { userId: "u1" }, target: { channel: "signal", address: "+49" } });
  router.bind({
    level: "account",
    match: { userId: "u2" },
    target: { channel: "matrix", address: "@u2:m.org" },
  });
  router.bind({ level: "channel", match: { channel: "telegram" }, target: { channel: "telegram" } });
  router.bind({ level: "channel", match: { channel: "discord" }, target: { channel: "discord" } });
  router.bind({ level: "system", target: { channel: "email", address: "ops@example.com" } });
  router.bind({
    level: "system",
    match: { accountId: "bot-2" },
    target: { channel: "email", address: "bot2@example.com" },
  });
}

/** Cold bindings for other users, guilds and channels, spread over every level. */
function coldBindings(router, count) {
  const levels = ["peer", "guild", "account", "channel", "system"];
  for (let i = 0; i < count; i++) {
    const level = levels[i % levels.length];
    const match =
      level === "peer"
        ? { userId: `user-${i}`, channel: `ch-${i % 50}` }
        : level === "guild"
          ? { guildId: `guild-${i}` }
          : level === "account"
            ? { userId: `user-${i}` }
            : level === "channel"
              ? { channel: `ch-${i}` }
              : { accountId: `acct-${i}` };
    router.bind({ level, match, target: { channel: `ch-${i % 97}` } });
  }
}

const queries = [
  ["u0", { channel: "discord", peerId: "dm0" }],
  ["u0", { channel: "discord" }],
  ["u9", { guildId: "g0", channel: "discord" }],
  ["u1", { channel: "whatsapp" }],
  ["u2", {}],
  ["u7", { channel: "telegram" }],
  ["u8", { channel: "whatsapp", accountId: "bot-2" }],
  ["u9", { channel: "whatsapp", guildId: "g9" }],
];

function run(bindings) {
  const router = new Router();
  hotBindings(router);
  coldBindings(router, bindings - 10);
  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += router.resolve(...queries[i & 7]).address.length;
  globalThis.gc?.();
  let count = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(DURATION_MS) * 1_000_000n;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 1024; i++) sink += router.resolve(...queries[i & 7]).address.length;
    count += 1024;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    resolvesPerSec: count / seconds,
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
    sink: sink % 7,
  };
}

const variants = { bare: () => run(10), subject: () => run(100_000) };

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script: fileURLToPath(import.meta.url),
    cases: ["mixed queries"],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "resolvesPerSec",
  });
  const ok = await report("router-resolve", {
    title: "router: resolve/s with 100,000 bindings vs 10",
    metric: "resolvesPerSec",
    unit: "resolves/s",
    target: 0.5,
    rows,
    labels: { bare: "10 bindings", subject: "100k bindings" },
    notes: [
      "Both routers hold the same ten bindings the queries resolve to (every level, with refinements); the large one adds 99,990 bindings for other users, guilds and channels across all levels.",
    ],
  });
  if (!ok) process.exitCode = 1;
}
