import type { ChannelPluginFactory } from "@openclaw/channel-sdk";
import type { Gateway } from "@openclaw/gateway";
import { ADMIN, startGateway, TOKEN } from "@openclaw/gateway/testing";
import type { GatewayClient } from "@openclaw/protocol";

export { ADMIN, TOKEN };

/**
 * A gateway running in this process on 127.0.0.1:0, with its own state dir and config file: the
 * shared harness of `@openclaw/gateway/testing`, without its "test" channel.
 */
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
  const h = await startGateway({
    config: options.config,
    plugins: options.plugins,
    testChannel: false,
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.uiDir === undefined ? {} : { uiDir: options.uiDir }),
  });
  return {
    gateway: h.gateway,
    url: h.url,
    http: h.http,
    client: (token = TOKEN) => h.client({ token }),
    stop: () => h.stop(),
  };
}
