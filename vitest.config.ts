import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/**
 * One test run for the whole workspace. Workspace packages resolve to their TypeScript
 * sources through the `@openclaw/source` export condition, so no test needs a prior build.
 */
const SOURCE_CONDITION = "@openclaw/source";

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ["{packages,apps,extensions}/*/{src,test}/**/*.test.ts", "tests/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    environment: "node",
    // In CI a JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".vitest-report.json" }]] : ["default"],
    // The AI SDK imports @opentelemetry/api, whose "module" export is an ESM build with extension-less
    // imports that Node cannot load (the resolve conditions reach Node too): vite transforms them.
    server: { deps: { inline: ["ai", /@ai-sdk\//, /@opentelemetry\/api/] } },
    testTimeout: 20_000,
    hookTimeout: 20_000,
    typecheck: {
      enabled: true,
      include: ["{packages,apps,extensions}/*/{src,test}/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
  },
});
