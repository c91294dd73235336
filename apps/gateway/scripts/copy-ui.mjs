// Build step: copies the control UI's built assets (@openclaw/web's dist, built before this package
// by turbo's ^build) into dist/ui, so the published gateway serves /ui/ with no separate install.
import { cpSync, existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

const packageDir = resolve(import.meta.dirname, "..");
const webDir = dirname(createRequire(join(packageDir, "package.json")).resolve("@openclaw/web/package.json"));
const source = join(webDir, "dist");
const target = join(packageDir, "dist", "ui");
if (!existsSync(join(source, "index.html"))) {
  console.error(`copy-ui: ${source}/index.html is missing; build @openclaw/web first (turbo run build does)`);
  process.exit(1);
}
rmSync(target, { recursive: true, force: true });
// Source maps stay out of the package: they only help while developing the UI.
cpSync(source, target, { recursive: true, filter: (path) => !path.endsWith(".map") });
console.log(`copy-ui: ${source} -> ${target}`);
