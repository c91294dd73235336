// Shared benchmark harness: runs a "bare" baseline and the "subject" alternately, each in its
// own child process (bare, subject, bare, subject, …), and reports the median ratio.
import { fork } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * In a worker process: runs `fn` and sends its result (a plain object) to the parent.
 * `process.argv[2]` names the variant ("bare" or "subject"), `process.argv[3]` the case.
 */
export async function worker(variants) {
  const [variant, caseName] = process.argv.slice(2);
  const run = variants[variant];
  if (run === undefined) throw new Error(`unknown variant ${variant}`);
  const result = await run(caseName);
  process.send?.({ result });
  process.disconnect?.();
}

function runChild(script, variant, caseName) {
  return new Promise((resolve, reject) => {
    const child = fork(script, [variant, caseName], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: ["--expose-gc"],
    });
    let result;
    child.on("message", (message) => {
      result = message.result;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 && result !== undefined
        ? resolve(result)
        : reject(new Error(`${variant} ${caseName} exited with ${code}`)),
    );
  });
}

/**
 * Runs every case as `pairs` alternating bare/subject child-process runs, and returns rows with
 * the median of each metric and the median of the per-pair ratios of `metric`.
 */
export async function compare({ script, cases, pairs = 5, metric, higherIsBetter = true }) {
  const rows = [];
  for (const caseName of cases) {
    const bare = [];
    const subject = [];
    for (let i = 0; i < pairs; i++) {
      bare.push(await runChild(script, "bare", caseName));
      subject.push(await runChild(script, "subject", caseName));
    }
    const ratios = bare.map((b, i) =>
      higherIsBetter ? subject[i][metric] / b[metric] : b[metric] / subject[i][metric],
    );
    const keys = Object.keys(bare[0]).filter((key) => typeof bare[0][key] === "number");
    const summary = (runs) =>
      Object.fromEntries(keys.map((key) => [key, median(runs.map((run) => run[key]))]));
    rows.push({
      case: caseName,
      bare: summary(bare),
      subject: summary(subject),
      ratio: median(ratios),
      ratios,
    });
  }
  return rows;
}

/**
 * Writes `results/<name>.md` and `results/<name>.json` (`{name, node, date, ...data}`) and prints the
 * Markdown.
 */
export async function writeResults(name, markdown, data) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "results");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}.md`), markdown);
  const json = { name, node: process.version, date: new Date().toISOString(), ...data };
  await writeFile(join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(markdown);
}

/** Writes `results/<name>.json` and `results/<name>.md` and prints the Markdown table. */
export async function report(
  name,
  { title, metric, unit, target, rows, notes = [], labels = { bare: "bare", subject: "subject" } },
) {
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  const lines = [
    `## ${title}`,
    "",
    `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. Median of ${rows[0]?.ratios.length ?? 0} alternating ${labels.bare}/${labels.subject} runs, each in its own process.`,
    "",
    `| case | ${labels.bare} ${unit} | ${labels.subject} ${unit} | ratio (${labels.subject}/${labels.bare}) | target | per-pair ratios |`,
    "|---|---:|---:|---:|---:|---|",
    ...rows.map(
      (row) =>
        `| ${row.case} | ${fmt(row.bare[metric])} | ${fmt(row.subject[metric])} | **${row.ratio.toFixed(2)}x** | ${target > 0 ? `≥ ${target}x ${row.ratio >= target ? "✓" : "✗"}` : "–"} | ${row.ratios.map((r) => r.toFixed(2)).join(", ")} |`,
    ),
    "",
    ...notes,
  ];
  await writeResults(name, `${lines.join("\n")}\n`, { title, metric, unit, target, rows });
  return rows.every((row) => row.ratio >= target);
}
