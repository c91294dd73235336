#!/usr/bin/env node
// `pnpm openclaw …` and `pnpm start` from the repository: builds the CLI and what it depends on
// (turbo, cached: nothing is rebuilt when nothing changed) with its output captured and shown only if
// the build fails, then runs the `openclaw` CLI in this process, so its output is all you see and
// signals (Ctrl-C, SIGTERM) reach it directly.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const cli = join(root, "apps/cli/dist/main.js");
// OPENCLAW_SKIP_BUILD=1 runs the CLI as built, without asking turbo.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read by this launcher, not by a turbo task
if (process.env.OPENCLAW_SKIP_BUILD !== "1") {
  const build = spawnSync(
    join(root, "node_modules/.bin/turbo"),
    ["run", "build", "--filter=@openclaw/cli...", "--output-logs=errors-only", "--log-prefix=none"],
    {
      cwd: root,
      env: { TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1", ...process.env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (build.status !== 0) {
    process.stderr.write(build.stdout ?? "");
    process.stderr.write(build.stderr ?? "");
    process.stderr.write(
      `\nopenclaw: building the CLI failed (${build.error?.message ?? `exit code ${build.status}`}); see above\n`,
    );
    process.exit(1);
  }
}
// The repository is the home of its gateway: `pnpm start` keeps its embedded defaults here
// (./openclaw.json if present, state in ./.openclaw-state), and `pnpm openclaw …` finds it.
process.env.OPENCLAW_HOME ??= process.cwd();
process.argv = [process.argv[0] ?? process.execPath, cli, ...process.argv.slice(2)];
await import(pathToFileURL(cli).href);
