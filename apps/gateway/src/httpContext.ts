import type { ClusterHealth, ResponseStore } from "@openclaw/backend";
import type { ConfigManager } from "@openclaw/config";
import type { AgentRunContext } from "./agents";
import type { AuthFailures } from "./auth/guards";
import type { ChannelManager } from "./channels/ChannelManager";
import type { Logger } from "./logging";
import type { Metrics } from "./metrics/Metrics";

/** What the HTTP app needs of the gateway. */
export interface HttpContext {
  readonly config: ConfigManager;
  readonly logger: Logger;
  readonly startedAt: number;
  readonly channels: ChannelManager;
  /** The cluster link's health, in cluster mode. */
  readonly cluster: ClusterHealth | undefined;
  /** The built control UI, when there is one. */
  readonly uiDir: string | undefined;
  /** Failed logins by address (WebSocket and HTTP alike). */
  readonly authFailures: AuthFailures;
  /** The gateway's metrics (`undefined` while `metrics.enabled` was off at start). */
  readonly metrics?: Metrics | undefined;
  /** Whether `/metrics` is served on the gateway's port (not on a `metrics.port` of its own). */
  readonly metricsOnGatewayPort: boolean;
  /** The level a token grants, if any. */
  isOperatorToken(token: string | undefined): "admin" | "operator" | undefined;
  /** The registry, `agent.chunk` subscription and abort signal an agent run needs. */
  agentContext(signal: AbortSignal): AgentRunContext;
  /** Where `/v1/responses` are stored. */
  readonly responseStore: ResponseStore;
}
