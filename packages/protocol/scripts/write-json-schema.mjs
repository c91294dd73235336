// Writes dist/protocol.schema.json from the built package, so clients in other languages
// can fetch the protocol's JSON Schema as `@openclaw/protocol/schema.json`.
import { writeFile } from "node:fs/promises";
import { protocolJsonSchema } from "../dist/index.js";

const target = new URL("../dist/protocol.schema.json", import.meta.url);
await writeFile(target, `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`);
