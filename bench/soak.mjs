// Soak test (not part of `pnpm bench` or CI): the gateway under steady load with connection churn
// for SOAK_MINUTES (default 10), printing its memory and event-loop delay every SOAK_REPORT_S
// seconds (default 10) and a summary at the end. Load: SOAK_CONNECTIONS connections (default 200)
// sending `ping`s at SOAK_RATE per second in all (default 43,000: half the 86,000 round trips/s
// bench/gateway.mjs measured at 100 connections on the 2-core CI machine); every second SOAK_CHURN
// of them (default 5%)
// disconnect and new ones connect.
//
//   npx -y pnpm@10.34.8 build && node bench/soak.mjs
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect } from "./lib/client.mjs";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const REPORT_S = Number(process.env.SOAK_REPORT_S ?? 10);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 200);
const RATE = Number(process.env.SOAK_RATE ?? 43_000);
const CHURN = Number(process.env.SOAK_CHURN ?? 0.05);

const VARIANT = process.env.SOAK_SERVER ?? "gateway";
const server = spawn(
  process.execPath,
  ["--expose-gc", fileURLToPath(new URL("./lib/server.mjs", import.meta.url)), VARIANT],
  {
    stdio: ["pipe", "pipe", "inherit"],
  },
);
const lines = createInterface({ input: server.stdout });
const next = () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))));
const { port } = await next();

let answered = 0;
let errors = 0;
/** A connection that counts the answers it gets. */
const open = () =>
  connect(port, (data) => {
    const text = String(data);
    if (!text.includes('"type":"res"')) return;
    answered++;
    if (text.includes('"error":{')) errors++;
  });

const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, open));
let seq = 0;
const tickMs = 10;
const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
const load = setInterval(() => {
  for (let i = 0; i < perTick; i++) {
    const ws = sockets[seq % sockets.length];
    if (ws.readyState === WebSocket.OPEN) ws.send(`{"type":"req","id":"s${seq}","method":"ping","data":{}}`);
    seq++;
  }
}, tickMs);
let stopping = false;
let churning = Promise.resolve();
let connectFailures = 0;
const churn = setInterval(() => {
  churning = (async () => {
    const count = Math.max(1, Math.round(sockets.length * CHURN));
    for (let i = 0; i < count && !stopping; i++) {
      const index = Math.floor(Math.random() * sockets.length);
      sockets[index].close();
      sockets[index] = await open();
    }
  })().catch(() => {
    if (!stopping) connectFailures++;
  });
}, 1000);

const samples = [];
const started = Date.now();
console.log(
  `soak (${VARIANT}): ${MINUTES} min, ${CONNECTIONS} connections, ${RATE} pings/s, ${CHURN * 100}% churn/s`,
);
console.log("t(s)\trss MB\theap MB\theap total MB\texternal MB\tloop p99 ms\tanswered/s\terrors");
let lastAnswered = 0;
while (Date.now() - started < MINUTES * 60_000) {
  await new Promise((resolve) => setTimeout(resolve, REPORT_S * 1000));
  server.stdin.write("mem\n");
  const mem = await next();
  const sample = {
    t: Math.round((Date.now() - started) / 1000),
    rssMB: mem.rss / 1048576,
    heapMB: mem.heapUsed / 1048576,
    heapTotalMB: mem.heapTotal / 1048576,
    externalMB: mem.external / 1048576,
    loopP99Ms: mem.loopDelayP99Ms ?? Number.NaN,
    answeredPerSec: (answered - lastAnswered) / REPORT_S,
  };
  lastAnswered = answered;
  samples.push(sample);
  console.log(
    `${sample.t}\t${sample.rssMB.toFixed(1)}\t${sample.heapMB.toFixed(1)}\t${sample.heapTotalMB.toFixed(1)}\t${sample.externalMB.toFixed(1)}\t${sample.loopP99Ms.toFixed(2)}\t${Math.round(sample.answeredPerSec)}\t${errors}`,
  );
}
stopping = true;
clearInterval(load);
clearInterval(churn);
await churning;
for (const ws of sockets) ws.terminate();
server.stdin.end();
server.kill("SIGTERM");
const half = Math.floor(samples.length / 2);
const avg = (list, key) => list.reduce((sum, s) => sum + s[key], 0) / Math.max(1, list.length);
console.log(
  `\nheap: first half ${avg(samples.slice(0, half), "heapMB").toFixed(1)} MB, second half ${avg(samples.slice(half), "heapMB").toFixed(1)} MB; ` +
    `event-loop p99 max ${Math.max(...samples.map((s) => s.loopP99Ms)).toFixed(2)} ms; errors ${errors}; failed reconnects ${connectFailures}`,
);
process.exit(errors === 0 && connectFailures === 0 ? 0 : 1);
