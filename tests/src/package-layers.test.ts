import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// Issue 30, item 1: dependencies point one way. Nothing under packages/ depends on an app (the
// backend contracts live in @openclaw/backend, which the gateway and @openclaw/redis both use), and
// the backend's main entry point does not load vitest (only its /testing entry does).

const root = resolve(import.meta.dirname, "../..");

/** The names of the workspace's apps. */
const apps = readdirSync(join(root, "apps")).map(
  (dir) =>
    (JSON.parse(readFileSync(join(root, "apps", dir, "package.json"), "utf8")) as { name: string }).name,
);

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name === "dist") return [];
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** The modules a file imports by name (static, dynamic and type-only imports, and re-exports). */
function importedModules(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((match) => match[1] ?? "");
  return specifiers.filter((specifier) => !specifier.startsWith("."));
}

const packageDirs = readdirSync(join(root, "packages")).map((dir) => join(root, "packages", dir));

describe("package layers", () => {
  it("finds the apps, the packages and their sources (the checks below have something to check)", () => {
    expect(apps).toEqual(expect.arrayContaining(["@openclaw/gateway", "@openclaw/cli"]));
    expect(packageDirs.map((dir) => relative(root, dir))).toEqual(
      expect.arrayContaining(["packages/backend", "packages/redis"]),
    );
    expect(sources(join(root, "packages/redis")).length).toBeGreaterThan(10);
  });

  it.each(packageDirs.map((dir) => [relative(root, dir), dir]))(
    "%s depends on no app (dependencies, peer or dev dependencies)",
    (_name, dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<
        string,
        Record<string, string> | undefined
      >;
      const named = ["dependencies", "peerDependencies", "devDependencies", "optionalDependencies"].flatMap(
        (field) => Object.keys(manifest[field] ?? {}),
      );
      expect(named.filter((name) => apps.includes(name))).toEqual([]);
    },
  );

  it.each(packageDirs.map((dir) => [relative(root, dir), dir]))(
    "%s imports no app in its sources",
    (_name, dir) => {
      const offending = sources(dir).flatMap((file) =>
        importedModules(file)
          .filter((specifier) => apps.some((app) => specifier === app || specifier.startsWith(`${app}/`)))
          .map((specifier) => `${relative(root, file)}: ${specifier}`),
      );
      expect(offending).toEqual([]);
    },
  );

  it("keeps vitest out of @openclaw/backend's main entry point (only /testing loads it)", () => {
    const backend = join(root, "packages/backend/src");
    /** The files an entry point loads, and the modules they import by name. */
    const closure = (entry: string) => {
      const files = new Set<string>();
      const modules = new Set<string>();
      const visit = (file: string): void => {
        if (files.has(file)) return;
        files.add(file);
        for (const module of importedModules(file)) modules.add(module);
        const text = readFileSync(file, "utf8");
        for (const match of text.matchAll(/from\s+"(\.[^"]+)"/g))
          visit(resolve(file, "..", `${match[1]}.ts`));
      };
      visit(entry);
      return { files, modules };
    };
    const main = closure(join(backend, "index.ts"));
    expect(main.files.size).toBeGreaterThan(10);
    expect([...main.modules]).not.toContain("vitest");
    expect([...closure(join(backend, "testing/index.ts")).modules]).toContain("vitest");
  });
});
