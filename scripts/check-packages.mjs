// Checks every publishable workspace package as it would be published: packs it with pnpm
// (which applies publishConfig), then runs publint on the packed files and
// are-the-types-wrong on the tarball. Run after `turbo run build`. Exits non-zero on any problem.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const root = resolve(import.meta.dirname, "..");
const pnpm = ["-y", "pnpm@10.34.8"];
const groups = ["packages", "extensions", "apps"];

const packageDirs = groups
  .flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group)).map((name) => join(root, group, name))
      : [],
  )
  .filter((dir) => existsSync(join(dir, "package.json")))
  .filter((dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).private !== true);

let failures = 0;
for (const dir of packageDirs) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const out = mkdtempSync(join(tmpdir(), "openclaw-pack-"));
  try {
    execFileSync("npx", [...pnpm, "pack", "--pack-destination", out], { cwd: dir, stdio: "pipe" });
    const tarball = readdirSync(out).find((file) => file.endsWith(".tgz"));
    if (tarball === undefined) throw new Error("pnpm pack produced no tarball");
    execFileSync("tar", ["xzf", tarball], { cwd: out });
    const packed = join(out, "package");

    const { messages, pkg: packedPkg } = await publint({
      pkgDir: packed,
      level: "suggestion",
      strict: true,
      pack: false,
    });
    const problems = messages.map(
      (message) => `  publint ${message.type}: ${formatMessage(message, packedPkg)}`,
    );

    try {
      execFileSync("npx", ["attw", join(out, tarball), "--profile", "esm-only", "--format", "ascii"], {
        cwd: root,
        stdio: "pipe",
      });
    } catch (error) {
      problems.push(`  attw:\n${String(error.stdout ?? error.message)}`);
    }

    if (problems.length === 0) console.log(`ok   ${pkg.name}`);
    else {
      failures += 1;
      console.log(`FAIL ${pkg.name}\n${problems.join("\n")}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
console.log(
  `${packageDirs.length - failures} of ${packageDirs.length} packages pass publint and are-the-types-wrong`,
);
process.exit(failures === 0 ? 0 : 1);
