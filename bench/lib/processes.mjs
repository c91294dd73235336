// Processes of the capacity benchmarks (capacity.mjs, cluster-100k.mjs): a server of
// bench/lib/server.mjs with its probes, and load-client processes of bench/lib/idle-client.mjs.
import { fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const serverScript = join(here, "server.mjs");
const clientScript = join(here, "idle-client.mjs");
const TICKS = 100; // /proc clock ticks per second on Linux
/** Extra Node flags for the server processes, e.g. BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const serverArgs = (process.env.BENCH_SERVER_ARGS ?? "").split(" ").filter(Boolean);

/** The process's descriptor limit, as /proc says (soft and hard). */
export async function descriptorLimit() {
  const limits = await readFile("/proc/self/limits", "utf8");
  const [, soft, hard] = /Max open files\s+(\S+)\s+(\S+)/.exec(limits) ?? [];
  return { soft: Number(soft), hard: Number(hard) };
}

/** The machine a run had: cores, memory, descriptor limit, load averages at its start and end. */
export function machineFacts(limit, load0, load1) {
  return { cores: cpus().length, memoryBytes: totalmem(), descriptorLimit: limit, loadavg: [load0, load1] };
}

/** The opening sentence of a result: Node, date and {@link machineFacts}. */
export function machineSentence(machine) {
  const {
    cores,
    memoryBytes,
    descriptorLimit: limit,
    loadavg: [load0, load1],
  } = machine;
  const loads = (load) => load.map((l) => l.toFixed(2)).join(" ");
  return `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. ${cores} cores, ${(memoryBytes / 2 ** 30).toFixed(1)} GiB, descriptor limit ${limit.soft} (hard ${limit.hard}) per process. Load average ${loads(load0)} at the start, ${loads(load1)} at the end (the machine is shared).`;
}

/** Starts a server process of bench/lib/server.mjs; resolves its port and probes. */
export async function startServer(variant, env = {}) {
  const child = spawn(process.execPath, ["--expose-gc", ...serverArgs, serverScript, variant], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiting = [];
  lines.on("line", (line) => {
    const value = JSON.parse(line);
    if (waiting.length > 0) waiting.shift()(value);
    else queue.push(value);
  });
  const next = () =>
    queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const { port, pid } = await Promise.race([
    next(),
    exited.then((code) => Promise.reject(new Error(`${variant} server exited with ${code}`))),
  ]);
  const ask = (command) => {
    child.stdin.write(`${command}\n`);
    return next();
  };
  return {
    port,
    pid,
    /** User + system CPU time of the server so far, in ms. */
    cpuMs() {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
      } catch {
        return Number.NaN;
      }
    },
    memory: () => ask("mem"),
    loop: () => ask("loop"),
    snapshot: (path) => ask(`snap ${path}`),
    async stop() {
      // End of stdin makes the server exit by itself (writing a --cpu-prof profile); SIGTERM if not.
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGTERM"), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Forks load-client processes holding `count` connections in all to `ports` (the i-th connection
 * of a process to `ports[i % n]`), each from the given addresses. Resolves the clients once all
 * are filled, with their fill reports. `portRange` ([start, end)) holds the source ports they pick
 * (20,000–61,000 by default); clients started apart must be given apart ranges. `fillDeadlineMs` and
 * `stormDeadlineMs`: no connect attempt starts after them (the run then reports what it holds).
 */
export async function startClients({
  ports,
  count,
  processes,
  addresses,
  concurrency,
  portRange,
  ...limits
}) {
  const clients = [];
  for (let p = 0; p < processes; p++) {
    const share = Math.floor(count / processes) + (p < count % processes ? 1 : 0);
    // Rotate the port list so that the processes together spread evenly over the instances.
    const rotated = ports.map((_, i) => ports[(i + p) % ports.length]);
    const child = fork(
      clientScript,
      [
        JSON.stringify({
          ports: rotated,
          count: share,
          addresses,
          concurrency,
          processIndex: p,
          processes,
          share: Math.ceil(count / processes),
          portRange,
          ...limits,
        }),
      ],
      { stdio: ["ignore", "inherit", "inherit", "ipc"] },
    );
    const messages = [];
    const waiting = [];
    child.on("message", (message) => {
      const i = waiting.findIndex((w) => w.type === message.type);
      if (i === -1) messages.push(message);
      else waiting.splice(i, 1)[0].resolve(message);
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const receive = (type) => {
      const i = messages.findIndex((m) => m.type === type);
      if (i !== -1) return Promise.resolve(messages.splice(i, 1)[0]);
      return Promise.race([
        new Promise((resolve) => waiting.push({ type, resolve })),
        exited.then((code) => Promise.reject(new Error(`load client exited with ${code}`))),
      ]);
    };
    clients.push({
      child,
      filled: receive("filled"),
      async ask(cmd, type = cmd) {
        child.send({ cmd });
        return receive(type);
      },
      async close() {
        if (child.exitCode !== null) return;
        child.send({ cmd: "close" });
        await exited;
      },
    });
  }
  const fills = await Promise.all(clients.map((c) => c.filled));
  return { clients, fills };
}

/** Adds up `{ type: count }` maps. */
export function sumErrors(maps) {
  const total = {};
  for (const map of maps) for (const [k, v] of Object.entries(map)) total[k] = (total[k] ?? 0) + v;
  return total;
}
