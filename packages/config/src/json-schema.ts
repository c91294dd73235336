import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "./schema";

/**
 * The JSON Schema (draft-07) of `openclaw.json`, for editors. Also shipped prebuilt as
 * `@openclaw/config/schema.json`. Cross-field rules (unique cron ids, the default agent existing)
 * are checked by the gateway, not by the schema.
 *
 * @returns The schema document.
 */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...(toJsonSchema(ConfigSchema, { errorMode: "ignore" }) as Record<string, unknown>),
    $id: "https://openclaw.dev/schemas/openclaw.json",
    title: "openclaw.json: OpenClaw Gateway configuration",
  };
}
