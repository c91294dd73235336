import { defineConfig } from "tsup";
import { createTsupConfig } from "../../tsup.config.base";

export default defineConfig(createTsupConfig({ entry: ["src/main.ts"], platform: "node", dts: false }));
