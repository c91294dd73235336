import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const changesetBin = join(root, "node_modules", "@changesets", "cli", "bin.js");

/**
 * The peer range every channel plugin declares on `@openclaw/channel-sdk`: any 0.x release. A
 * `workspace:^` peer falls out of range at the SDK's next minor (0.1 → 0.2) and changesets then
 * releases every plugin as a major.
 */
const SDK_PEER_RANGE = "workspace:>=0.1.0 <1.0.0";

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  peerDependencies?: Record<string, string>;
}

const workspaceDirs = ["packages", "apps", "extensions"].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && readdirSync(join(root, group, entry.name)).includes("package.json"),
    )
    .map((entry) => `${group}/${entry.name}`),
);
const extensionDirs = workspaceDirs.filter((dir) => dir.startsWith("extensions/"));
const read = (base: string, dir: string) =>
  JSON.parse(readFileSync(join(base, dir, "package.json"), "utf8")) as Manifest;

/** [major, minor, patch] of a plain x.y.z version. */
const parts = (version: string) => version.split(".").map(Number) as [number, number, number];

describe("release: a minor channel-sdk change", () => {
  let scratch: string;
  const before = new Map(workspaceDirs.map((dir) => [dir, read(root, dir)]));
  let after: Map<string, Manifest>;

  beforeAll(async () => {
    // The workspace as changesets sees it: manifests, workspace list and changesets config only.
    scratch = mkdtempSync(join(tmpdir(), "openclaw-release-"));
    for (const file of ["package.json", "pnpm-workspace.yaml", ".changeset/config.json"]) {
      mkdirSync(join(scratch, file, ".."), { recursive: true });
      cpSync(join(root, file), join(scratch, file));
    }
    for (const dir of [...workspaceDirs, "tests", "bench"]) {
      try {
        mkdirSync(join(scratch, dir), { recursive: true });
        cpSync(join(root, dir, "package.json"), join(scratch, dir, "package.json"));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    writeFileSync(
      join(scratch, ".changeset", "sdk-minor.md"),
      '---\n"@openclaw/channel-sdk": minor\n---\n\nA new optional hook.\n',
    );
    await promisify(execFile)(process.execPath, [changesetBin, "version"], {
      cwd: scratch,
      env: { ...process.env, CI: "1" },
    });
    after = new Map(workspaceDirs.map((dir) => [dir, read(scratch, dir)]));
  }, 60_000);

  afterAll(() => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it("found the channel SDK and at least one extension", () => {
    expect(before.get("packages/channel-sdk")?.name).toBe("@openclaw/channel-sdk");
    expect(extensionDirs.length).toBeGreaterThan(0);
  });

  it("bumps @openclaw/channel-sdk one minor", () => {
    const [major, minor] = parts(before.get("packages/channel-sdk")!.version);
    expect(after.get("packages/channel-sdk")!.version).toBe(`${major}.${minor + 1}.0`);
  });

  it.each(extensionDirs)("%s gets at most a patch and keeps a peer range the new SDK satisfies", (dir) => {
    const old = before.get(dir)!;
    const next = after.get(dir)!;
    const [oldMajor, oldMinor] = parts(old.version);
    const [newMajor, newMinor] = parts(next.version);
    expect(
      [newMajor, newMinor],
      `${old.name} went ${old.version} → ${next.version}: its channel-sdk peer must be "${SDK_PEER_RANGE}"`,
    ).toEqual([oldMajor, oldMinor]);
    expect(next.peerDependencies?.["@openclaw/channel-sdk"], `${old.name}'s peer on channel-sdk`).toBe(
      SDK_PEER_RANGE,
    );
  });

  it.each(extensionDirs)(
    `%s declares the channel-sdk peer as "${SDK_PEER_RANGE}" in the repository`,
    (dir) => {
      expect(before.get(dir)!.peerDependencies?.["@openclaw/channel-sdk"]).toBe(SDK_PEER_RANGE);
    },
  );
});
