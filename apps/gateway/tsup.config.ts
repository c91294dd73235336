import { defineConfig } from "tsup";
import { createTsupConfig } from "../../tsup.config.base";

export default defineConfig(
  createTsupConfig({
    entry: ["src/index.ts", "src/main.ts", "src/testing.ts"],
    platform: "node",
    dts: true,
    external: ["vitest"],
  }),
);
