import type { Options } from "tsup";

/**
 * The one build configuration every publishable package uses: ESM with bundled `.d.ts`,
 * Node 20 target, source maps, no minification, dependencies left external.
 *
 * @param overrides - Package-specific options (extra entry points, banner, …).
 * @returns A tsup configuration.
 */
export function createTsupConfig(overrides: Options = {}): Options {
  return {
    entry: ["src/index.ts"],
    format: ["esm"],
    target: "node20",
    platform: "neutral",
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
    minify: false,
    outDir: "dist",
    ...overrides,
  };
}
