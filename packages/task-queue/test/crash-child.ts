// A process that uses a FileTaskStore and gets killed with SIGKILL by crash.test.ts.
// Modes:
//   schedule <dir>        schedule tasks forever, printing "ACK <id>" once each is acknowledged
//   hang <dir> <marker>   schedule one "job" whose handler appends "START" to <marker> and never returns
//   cancel <dir>          schedule a task due in 300 ms, cancel it, print "CANCELLED <id>"
import { appendFileSync } from "node:fs";
import { FileTaskStore, TaskQueue } from "@openclaw/task-queue";

const [mode, dir, marker] = process.argv.slice(2);
if (mode === undefined || dir === undefined) throw new Error("usage: crash-child <mode> <dir> [marker]");

const queue = new TaskQueue({ store: await FileTaskStore.open({ dir, compactMinLines: 200 }) });
await queue.start();

if (mode === "schedule") {
  for (let i = 0; ; i++) {
    const id = await queue.schedule({ type: "later", payload: { i } }, { delayMs: 3_600_000 });
    process.stdout.write(`ACK ${id}\n`);
  }
} else if (mode === "hang") {
  if (marker === undefined) throw new Error("hang needs a marker file");
  queue.register("job", () => {
    appendFileSync(marker, `START ${process.pid}\n`);
    return new Promise(() => {});
  });
  await queue.schedule({ type: "job", payload: { important: true } });
} else if (mode === "cancel") {
  const id = await queue.schedule({ type: "never" }, { delayMs: 300 });
  await queue.cancel(id);
  process.stdout.write(`CANCELLED ${id}\n`);
  setInterval(() => {}, 1000);
}
