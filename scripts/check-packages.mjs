// Checks every publishable workspace package as it would be published: packs it with pnpm
// (which applies publishConfig), then runs publint on the packed files and
// are-the-types-wrong on the tarball, and checks that every `bin` is in the package as a Node script
// and that the files a package must ship are there (the gateway's control UI). The service and the
// CLI (`@openclaw/gateway`, `@openclaw/cli`) must be among the packages checked. Run after
// `turbo run build`. Exits non-zero on any problem. Package names as arguments check only those.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const root = resolve(import.meta.dirname, "..");
const pnpm = ["-y", "pnpm@10.34.8"];
const groups = ["packages", "extensions", "apps"];

const only = process.argv.slice(2);
const packageDirs = groups
  .flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group)).map((name) => join(root, group, name))
      : [],
  )
  .filter((dir) => existsSync(join(dir, "package.json")))
  .filter((dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).private !== true)
  .filter(
    (dir) =>
      only.length === 0 || only.includes(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name),
  );

/** Packages that must be published, and files each must ship besides its entry points. */
const REQUIRED = {
  "@openclaw/gateway": ["dist/ui/index.html"],
  "@openclaw/cli": [],
};

let failures = 0;
const checked = packageDirs.map((dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name);
for (const name of only.length === 0 ? Object.keys(REQUIRED) : [])
  if (!checked.includes(name)) {
    failures += 1;
    console.log(`FAIL ${name}\n  is not a publishable workspace package (private, or missing)`);
  }
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
    const bins = typeof packedPkg.bin === "string" ? { [pkg.name]: packedPkg.bin } : (packedPkg.bin ?? {});
    for (const [command, file] of Object.entries(bins)) {
      const path = join(packed, file);
      if (!existsSync(path)) problems.push(`  bin ${command}: ${file} is not in the package`);
      else if (!readFileSync(path, "utf8").startsWith("#!/usr/bin/env node"))
        problems.push(`  bin ${command}: ${file} does not start with #!/usr/bin/env node`);
      else if ((statSync(path).mode & 0o111) === 0)
        problems.push(`  bin ${command}: ${file} is not executable`);
    }
    for (const file of REQUIRED[pkg.name] ?? [])
      if (!existsSync(join(packed, file))) problems.push(`  ${file} is not in the package (build it first)`);

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
