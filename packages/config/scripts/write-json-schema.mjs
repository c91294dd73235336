// Writes dist/config.schema.json, the JSON Schema of openclaw.json for editors
// (`"$schema": "./node_modules/@openclaw/config/dist/config.schema.json"`).
import { writeFile } from "node:fs/promises";
import { configJsonSchema } from "../dist/index.js";

await writeFile(
  new URL("../dist/config.schema.json", import.meta.url),
  `${JSON.stringify(configJsonSchema(), null, 2)}\n`,
);
