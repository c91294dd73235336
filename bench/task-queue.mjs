// Benchmark: schedule + execute of 100,000 no-op tasks, tasks/s with the memory store (baseline)
// and with the file store (subject), at two concurrency limits. Reported, not targeted: the ratio is
// the price of durability (every task is fsync'd three times, in group commits).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileTaskStore, MemoryTaskStore, TaskQueue } from "@openclaw/task-queue";
import { compare, report, worker } from "./lib/harness.mjs";

const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);

async function run(kind, caseName) {
  const concurrency = Number(caseName.split(" ")[1]);
  const dir = await mkdtemp(join(tmpdir(), "openclaw-bench-tasks-"));
  const store = kind === "memory" ? new MemoryTaskStore() : await FileTaskStore.open({ dir });
  const queue = new TaskQueue({ store, concurrency });
  let done = 0;
  let finish;
  const all = new Promise((resolve) => {
    finish = resolve;
  });
  queue.register("noop", () => {
    if (++done === TASKS) finish();
  });
  await queue.start();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const batch = 1000;
  for (let i = 0; i < TASKS; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, TASKS - i) }, () => queue.schedule({ type: "noop" })),
    );
  }
  await all;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await queue.stop();
  await rm(dir, { recursive: true, force: true });
  return { tasksPerSec: TASKS / seconds, cpuUsPerTask: (cpu.user + cpu.system) / TASKS };
}

const variants = {
  bare: (caseName) => run("memory", caseName),
  subject: (caseName) => run("file", caseName),
};

if (process.argv[2] !== undefined) {
  await worker(variants);
} else {
  const rows = await compare({
    script: fileURLToPath(import.meta.url),
    cases: ["concurrency 4", "concurrency 64"],
    pairs: Number(process.env.BENCH_PAIRS ?? 3),
    metric: "tasksPerSec",
  });
  await report("task-queue", {
    title: `task-queue: schedule + execute of ${TASKS.toLocaleString("en-US")} no-op tasks, file store vs memory store`,
    metric: "tasksPerSec",
    unit: "tasks/s",
    target: 0,
    rows,
    labels: { bare: "memory store", subject: "file store" },
    notes: [
      "Tasks are scheduled in batches of 1,000 concurrent `schedule` calls (each resolves once durable) and run as soon as possible. The file store fsyncs the log (group commit) for the schedule, the running mark and the outcome of every task, plus the pruning of finished tasks beyond `maxFinishedTasks`. No target: this measures the price of durability.",
    ],
  });
}
