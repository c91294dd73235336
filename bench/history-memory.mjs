// History memory under an inbound flood (the hardening issue, item 11): 300,000 inbound messages of
// 1 KB across 11,000 chats, posted to the bench channel's webhook, against the gateway with its
// default `conversations` limits and against the bare server (which keeps nothing). Reports the
// resident set after the flood (after a GC) and its peak, and fails when the gateway's exceeds the
// target. Environment: HISTORY_MESSAGES (default 300000), HISTORY_CHATS (default 11000).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const serverScript = join(here, "lib", "server.mjs");
const MESSAGES = Number(process.env.HISTORY_MESSAGES ?? 300_000);
const CHATS = Number(process.env.HISTORY_CHATS ?? 11_000);
const SIZE = 1024;
const PER_POST = 20;
const CONCURRENCY = 16;
/** The gateway's resident set after the flood must stay under this. */
const TARGET_RSS_BYTES = 250 * 1024 * 1024;
/** Idle time before the settled measurement. */
const SETTLE_MS = Number(process.env.HISTORY_SETTLE_MS ?? 10_000);

function peakRss(pid) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) * 1024;
}

async function run(variant) {
  const child = spawn(process.execPath, ["--expose-gc", serverScript, variant], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const next = () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))));
  const { port, pid } = await next();
  const memory = () => {
    child.stdin.write("mem\n");
    return next();
  };
  const before = await memory();
  const started = performance.now();
  let from = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (from < MESSAGES) {
        const batch = from;
        from += PER_POST;
        const response = await fetch(
          `http://127.0.0.1:${port}/webhook/bench?n=${Math.min(PER_POST, MESSAGES - batch)}&size=${SIZE}&from=${batch}&chats=${CHATS}&durable=1`,
          { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
        );
        if (!response.ok) failed += 1;
        await response.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await memory();
  // What the process keeps: V8 hands unused heap pages back to the OS once the flood has been
  // quiet for a while (its memory reducer), so the settled figure is measured after an idle pause.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  await memory();
  const settled = await memory();
  const peak = peakRss(pid);
  child.stdin.end();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  return {
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapAfter: after.heapUsed,
    rssSettled: settled.rss,
    heapTotalAfter: after.heapTotal,
    externalAfter: after.external,
    peak,
    seconds,
    failed,
  };
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const bare = await run("bare");
const gateway = await run("gateway");
const ok = gateway.rssSettled < TARGET_RSS_BYTES && gateway.failed === 0;
const markdown = `## history memory: ${MESSAGES.toLocaleString("en-US")} inbound 1 KB messages across ${CHATS.toLocaleString("en-US")} chats

Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. One run each, in its own process; resident set after a GC once the flood is answered, again after ${SETTLE_MS / 1000} s idle (what the process keeps; the target applies to it), and the peak (VmHWM). The gateway runs with the default \`conversations\` limits (32 MiB of history, 10,000 conversations, 200 messages each); bare keeps nothing (it appends each message to a file, the same fsync'd I/O).

| server | RSS before | RSS after | RSS settled | peak RSS | heap used / total after | external after | flood time | failed POSTs | target |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| bare | ${mb(bare.rssBefore)} | ${mb(bare.rssAfter)} | ${mb(bare.rssSettled)} | ${mb(bare.peak)} | ${mb(bare.heapAfter)} / ${mb(bare.heapTotalAfter)} | ${mb(bare.externalAfter)} | ${bare.seconds.toFixed(1)} s | ${bare.failed} | – |
| gateway | ${mb(gateway.rssBefore)} | ${mb(gateway.rssAfter)} | ${mb(gateway.rssSettled)} | ${mb(gateway.peak)} | ${mb(gateway.heapAfter)} / ${mb(gateway.heapTotalAfter)} | ${mb(gateway.externalAfter)} | ${gateway.seconds.toFixed(1)} s | ${gateway.failed} | < ${mb(TARGET_RSS_BYTES)} ${ok ? "✓" : "✗"} |
`;
const results = join(here, "results");
await mkdir(results, { recursive: true });
await writeFile(join(results, "history-memory.md"), markdown);
await writeFile(
  join(results, "history-memory.json"),
  `${JSON.stringify({ name: "history-memory", node: process.version, date: new Date().toISOString(), messages: MESSAGES, chats: CHATS, targetRssBytes: TARGET_RSS_BYTES, bare, gateway }, null, 2)}\n`,
);
process.stdout.write(markdown);
process.exit(ok ? 0 : 1);
