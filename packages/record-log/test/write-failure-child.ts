/**
 * Run by RecordLog.test.ts under `ulimit -f` (a real file-size limit): puts a record that cannot fit,
 * then a small one, and prints what happened as one JSON line.
 */
import { RecordLog, RecordLogError } from "@openclaw/record-log";

const [dir, bigBytes] = process.argv.slice(2);
const unhandled: string[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(String(reason)));

const log = await RecordLog.open<{ id: string; text: string }>({ dir: dir!, name: "limited" });
await log.put({ id: "before", text: "fits" });
const failure = await log.put({ id: "big", text: "x".repeat(Number(bigBytes)) }).then(
  () => undefined,
  (error: unknown) => error,
);
const bigInMemory = log.get("big") !== undefined; // a failed put leaves memory as it was
await log.put({ id: "before", text: "replaced" });
await log.delete("big"); // a small line that must land cleanly after the cut
await log.put({ id: "after", text: "fits too" });
const records = [...log.values()].map((record) => record.id);
await log.close();
const reopened = await RecordLog.open<{ id: string; text: string }>({ dir: dir!, name: "limited" });
const onDisk = [...reopened.values()].map((record) => `${record.id}:${record.text}`);
await reopened.close();
// Let any stray rejection surface: unhandled rejections are reported once the microtasks drain.
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
process.stdout.write(
  `${JSON.stringify({
    isRecordLogError: failure instanceof RecordLogError,
    code: (failure as RecordLogError | undefined)?.code,
    details: (failure as RecordLogError | undefined)?.details,
    osCode: (failure as RecordLogError | undefined)?.osCode,
    causeCode: ((failure as RecordLogError | undefined)?.cause as NodeJS.ErrnoException | undefined)?.code,
    unhandled,
    bigInMemory,
    onDisk,
    records,
  })}\n`,
);
