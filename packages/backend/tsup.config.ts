import { defineConfig } from "tsup";
import { createTsupConfig } from "../../tsup.config.base";

export default defineConfig(
  createTsupConfig({ platform: "node", entry: ["src/index.ts", "src/testing/index.ts"] }),
);
