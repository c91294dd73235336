// Benchmark (issue 17, "nodes anywhere"): node RPC from instance A of a cluster to a node held by
// instance B (subject) against the same call to a node held by A itself (baseline), over loopback.
// Both runs have the same cluster: one redis-server, gateways A and B (each its own process, run
// from the sources with their Redis adapter, node bus and membership), one operator on A sending
// `node.invoke`, and an echo node in this process; only where the node connects differs. Target:
// subject ≥ 0.5x baseline round trips/s.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect, connectEchoNode } from "./lib/client.mjs";
import { compare, median, report, worker } from "./lib/harness.mjs";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);
const script = fileURLToPath(import.meta.url);
const here = dirname(script);
const tsx = createRequire(join(here, "..", "package.json")).resolve("tsx");

/** Every process this run started, killed if it ends early (a failed run must not leave them behind). */
const children = new Set();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A free loopback port (for redis-server, which needs one named). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of this run: no persistence, its own temp dir. */
async function startRedis(dir) {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.add(child);
  await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** One gateway instance of the cluster, as its own process. */
async function startInstance(redisUrl, namespace, instanceId, dir) {
  const child = spawn(
    process.execPath,
    [
      "--conditions=@openclaw/source",
      "--import",
      tsx,
      join(here, "lib", "cluster-server.mjs"),
      ...[redisUrl, namespace, instanceId, dir],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.add(child);
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`instance ${instanceId} exited with ${code}`)));
  });
  return { ...JSON.parse(line), child };
}

function stop(child) {
  if (child.exitCode !== null) return Promise.resolve();
  child.kill("SIGTERM");
  return new Promise((resolve) => child.once("exit", resolve));
}

/** `node.invoke` round trips from an operator on A, `depth` in flight, to a node on A or B. */
async function nodeRpc(variant, depth) {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-bench-cluster-"));
  const redis = await startRedis(dir);
  const namespace = "bench";
  const [a, b] = await Promise.all(
    ["gw-a", "gw-b"].map(async (id) => {
      const stateDir = join(dir, id);
      await mkdir(stateDir);
      return startInstance(redis.url, namespace, id, stateDir);
    }),
  );
  const nodeOn = variant === "bare" ? a : b;
  const node = await connectEchoNode(nodeOn.port, "gateway", "bench-node");
  const payload = { input: "run the daily summary", options: { stream: false, lang: "en" } };
  const pending = new Map();
  let seq = 0;
  const client = await connect(a.port, (data) => {
    const frame = JSON.parse(String(data));
    if (frame.type !== "res") return;
    const settle = pending.get(frame.id);
    pending.delete(frame.id);
    settle?.(frame);
  });
  const call = (method, data) =>
    new Promise((resolve) => {
      const id = `n-${++seq}`;
      pending.set(id, resolve);
      client.send(JSON.stringify({ type: "req", id, method, data }));
    });
  // A sees the node (its own, or B's through the presence notices) before the clock starts.
  for (let tries = 0; ; tries++) {
    const listed = await call("node.list", {});
    if (listed.data?.nodes?.some((n) => n.nodeId === "bench-node")) break;
    if (tries > 500) throw new Error("instance A never saw the node");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const invoke = async () => {
    const frame = await call("node.invoke", { node: "bench-node", method: "agent.run", data: payload });
    if (frame.error !== null) throw new Error(`node.invoke failed: ${frame.error.message}`);
  };
  const loop = async (until, latencies) => {
    let done = 0;
    const lane = async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await invoke();
        latencies?.push(performance.now() - started);
        done += 1;
      }
    };
    await Promise.all(Array.from({ length: depth }, lane));
    return done;
  };
  await loop(performance.now() + 300); // warm-up
  const latencies = [];
  const t0 = performance.now();
  const done = await loop(t0 + DURATION_MS, latencies);
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((x, y) => x - y);
  client.terminate();
  node.terminate();
  await Promise.all([stop(a.child), stop(b.child)]);
  await stop(redis.child);
  await rm(dir, { recursive: true, force: true });
  return {
    roundTripsPerSec: done / seconds,
    p50Ms: median(latencies),
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
}

const depthOf = (caseName) => Number(caseName.split(" ")[0]);

const variants = {
  bare: (caseName) => nodeRpc("bare", depthOf(caseName)),
  subject: (caseName) => nodeRpc("subject", depthOf(caseName)),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script,
    cases: ["1 in flight", "100 in flight"],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "roundTripsPerSec",
  });
  const ok = await report("cluster-node-rpc", {
    title: "cluster: node RPC from instance A to a node on instance B vs the same call to a node on A",
    metric: "roundTripsPerSec",
    unit: "round trips/s",
    target: 0.5,
    rows,
    labels: { bare: "same instance", subject: "A → B" },
    notes: [
      "One redis-server and two gateway instances (each its own process, from the sources, with `RedisAdapter`, `RedisNodeBus` and `ClusterMembership`) in both runs; an operator on A sends `node.invoke` to an echo node (in the load process) connected to A (baseline) or to B (subject). A → B adds two pub/sub hops (request to B's channel, answer to A's); a message goes out at once when nothing to that instance awaits Redis's ack, else batched per turn of the event loop.",
      "",
      "| case | same instance p50 / p99 ms | A → B p50 / p99 ms | added p50 ms |",
      "|---|---:|---:|---:|",
      ...rows.map(
        (row) =>
          `| ${row.case} | ${row.bare.p50Ms.toFixed(3)} / ${row.bare.p99Ms.toFixed(3)} | ${row.subject.p50Ms.toFixed(3)} / ${row.subject.p99Ms.toFixed(3)} | ${(row.subject.p50Ms - row.bare.p50Ms).toFixed(3)} |`,
      ),
    ],
  });
  if (!ok) process.exitCode = 1;
}
