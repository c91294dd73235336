import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { EXIT } from "./commands";
import { DEFAULT_SERVICE_OPTIONS } from "./service";

/** The defaults of `openclaw logs`. */
export const DEFAULT_LOGS_OPTIONS = Object.freeze({
  /** How many of the last lines are printed. */
  lines: 100,
});

/**
 * `openclaw logs [-f] [-n N]`: the gateway service's log. The service (`openclaw gateway install`)
 * logs to the systemd journal, read with `journalctl --user -u openclaw-gateway.service`; a gateway
 * run in the foreground logs to its own terminal.
 *
 * @param options - `follow` keeps printing; `lines` how many of the last lines (default 100).
 * @returns The exit code: journalctl's, 2 for a bad `-n`, 1 when there is no journal to read.
 */
export async function logsCommand(options: { follow: boolean; lines: string | undefined }): Promise<number> {
  const lines = options.lines === undefined ? DEFAULT_LOGS_OPTIONS.lines : Number(options.lines);
  if (!Number.isInteger(lines) || lines < 0) {
    process.stderr.write(`error: -n must be a whole number of lines, got "${options.lines}"\n`);
    return EXIT.USAGE;
  }
  const journalctl = (process.env.PATH ?? "")
    .split(delimiter)
    .map((dir) => join(dir, "journalctl"))
    .find((path) => path !== "journalctl" && existsSync(path));
  if (journalctl === undefined) {
    process.stderr.write(
      `error: no systemd journal here (journalctl not found): the gateway service logs to the journal; a gateway started with \`openclaw gateway\` logs to its own terminal (one JSON line per event)\n`,
    );
    return EXIT.ERROR;
  }
  const args = ["--user", "-u", DEFAULT_SERVICE_OPTIONS.unitName, "-n", String(lines), "-o", "cat"];
  if (options.follow) args.push("-f");
  return new Promise((resolve) => {
    const child = spawn(journalctl, args, { stdio: "inherit" });
    // Ctrl-C reaches journalctl too (same process group); wait for it to end.
    const ignore = () => {};
    process.on("SIGINT", ignore);
    child.once("error", (error) => {
      process.off("SIGINT", ignore);
      process.stderr.write(`error: cannot run ${journalctl}: ${error.message}\n`);
      resolve(EXIT.ERROR);
    });
    child.once("exit", (code, signal) => {
      process.off("SIGINT", ignore);
      resolve(signal === "SIGINT" ? EXIT.OK : (code ?? EXIT.ERROR));
    });
  });
}
