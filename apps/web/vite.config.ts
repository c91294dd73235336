import { defaultClientConditions, defineConfig } from "vite";

/**
 * The control UI is served by the gateway at `/ui/`. Workspace packages are bundled from their
 * sources (the `@openclaw/source` condition), so the UI builds without building them first.
 */
export default defineConfig({
  base: "/ui/",
  resolve: { conditions: ["@openclaw/source", ...defaultClientConditions] },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
});
