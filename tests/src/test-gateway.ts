import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import { GatewayClient } from "@openclaw/protocol";
import { WebSocket } from "ws";

export const TOKEN = "operator-token-0123456789";
export const ADMIN = "admin-token-0123456789abc";

/** A gateway running in this process on 127.0.0.1:0, with its own state dir and config file. */
export interface TestGateway {
  gateway: Gateway;
  /** `ws://127.0.0.1:<port>`. */
  url: string;
  /** `http://127.0.0.1:<port>`. */
  http: string;
  /** A connected client (operator token unless another is given); closed by `stop`. */
  client(token?: string): Promise<GatewayClient>;
  stop(): Promise<void>;
}

/**
 * Starts the real gateway with these channel plugins and `openclaw.json` contents. The operator
 * token is {@link TOKEN}, the admin token {@link ADMIN}; `env` adds variables for `${VAR}`s.
 */
export async function startTestGateway(options: {
  config: object;
  plugins: ChannelPluginFactory[];
  env?: Record<string, string>;
  uiDir?: string;
}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), "openclaw-e2e-"));
  await writeFile(join(dir, "openclaw.json"), JSON.stringify(options.config));
  const config = new ConfigManager({
    path: join(dir, "openclaw.json"),
    env: {
      OPENCLAW_PORT: "0",
      OPENCLAW_STATE_DIR: join(dir, "state"),
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      OPENCLAW_ADMIN_TOKEN: ADMIN,
      ...options.env,
    },
  });
  await config.load();
  const gateway = new Gateway({
    config,
    channels: options.plugins,
    logger: createLogger("silent"),
    ...(options.uiDir === undefined ? {} : { uiDir: options.uiDir }),
  });
  const { url } = await gateway.start();
  const clients: GatewayClient[] = [];
  return {
    gateway,
    url,
    http: url.replace(/^ws/, "http"),
    async client(token = TOKEN) {
      const client = new GatewayClient({ url, token, WebSocket, reconnect: false });
      clients.push(client);
      await client.connect();
      return client;
    },
    async stop() {
      await Promise.all(clients.map((client) => client.close()));
      await gateway.stop({ drainTimeoutMs: 500 });
      await config.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
