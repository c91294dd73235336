import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import parse from "@changesets/parse";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const dir = join(root, ".changeset");

/** Names of the publishable workspace packages. */
const publishable = new Set(
  ["packages", "extensions", "apps"].flatMap((group) =>
    readdirSync(join(root, group)).flatMap((name) => {
      const manifest = JSON.parse(readFileSync(join(root, group, name, "package.json"), "utf8")) as {
        name: string;
        private?: boolean;
      };
      return manifest.private === true ? [] : [manifest.name];
    }),
  ),
);

describe("changesets", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md");

  it.each(files)("%s parses and names publishable packages", (file) => {
    const changeset = parse(readFileSync(join(dir, file), "utf8"));
    expect(changeset.releases.length, "a changeset names at least one package").toBeGreaterThan(0);
    for (const release of changeset.releases) {
      expect(publishable, `${release.name} is not a publishable package`).toContain(release.name);
      expect(["major", "minor", "patch"]).toContain(release.type);
    }
    expect(changeset.summary.trim().length).toBeGreaterThan(0);
  });
});
