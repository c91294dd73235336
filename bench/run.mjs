// Runs every benchmark (or those named on the command line) one after another.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((file) => file.endsWith(".mjs") && file !== "run.mjs" && file !== "soak.mjs")
  .filter((file) => wanted.length === 0 || wanted.includes(file.replace(/\.mjs$/, "")));
let failed = 0;
for (const file of benches) {
  console.log(`\n# ${file}`);
  const { status } = spawnSync(process.execPath, [join(here, file)], { stdio: "inherit" });
  if (status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
