import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { configJsonSchema } from "./json-schema";

describe("configJsonSchema", () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(configJsonSchema());

  it("accepts a full config and an empty one", () => {
    expect(validate({})).toBe(true);
    const full = {
      $schema: "./node_modules/@openclaw/config/dist/config.schema.json",
      gateway: { host: "127.0.0.1", port: 18789, maxFrameBytes: 1_048_576 },
      heartbeat: { intervalMs: 15_000 },
      security: {
        token: "${OPENCLAW_GATEWAY_TOKEN}",
        allowedOrigins: ["http://localhost:5173"],
        rateLimit: { requestsPerSecond: 50, burst: 100 },
      },
      channels: { telegram: { botToken: "${TELEGRAM_BOT_TOKEN}", mode: "webhook" } },
      webhooks: { basePath: "/webhook" },
      cron: [
        {
          id: "standup",
          schedule: "0 9 * * 1-5",
          timezone: "Europe/Berlin",
          type: "message.send",
          payload: { recipient: "team" },
        },
      ],
      agents: {
        default: "gpt",
        list: { gpt: { provider: "openai", baseUrl: "https://api.example.com/v1", model: "gpt-4o" } },
      },
      logging: { level: "debug" },
      state: { dir: "/var/lib/openclaw" },
    };
    expect(validate(full), JSON.stringify(validate.errors)).toBe(true);
  });

  it("rejects what the gateway would reject", () => {
    expect(validate({ gateway: { port: "18789" } })).toBe(false);
    expect(validate({ channels: { "Bad Name": {} } })).toBe(false);
    expect(validate({ agents: { list: { x: { provider: "carrier-pigeon" } } } })).toBe(false);
  });
});
