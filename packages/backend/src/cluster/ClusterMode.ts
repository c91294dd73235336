import type { ClusterConfig } from "@openclaw/config";
import type { BackendOptions } from "../BackendOptions";
import type { BackendLogger } from "../logger";

/**
 * What cluster mode gives a gateway: the options that make it share its audience, nodes, state,
 * channels, deliveries and jobs with the other instances (`adapter`, the stores, leases, health…),
 * and how to release what was opened for them.
 */
export interface ClusterMode {
  /** This instance's id in the cluster. */
  readonly instanceId: string;
  /** Spread into the `Gateway`'s options. */
  readonly options: BackendOptions;
  /** Releases the cluster's connections; call it after `Gateway.stop()`. Idempotent. */
  close(): Promise<void>;
}

/** What a {@link ClusterModeLoader} is given. */
export interface ClusterModeContext {
  /** Where the cluster logs (Redis lost and back, instances down, takeovers). */
  readonly logger: BackendLogger;
}

/**
 * Builds cluster mode from the config's `cluster` section. `@openclaw/redis`'s `createCluster` is
 * one; the `openclaw` CLI passes it to `runGateway`, so the gateway itself never loads Redis.
 */
export type ClusterModeLoader = (config: ClusterConfig, context: ClusterModeContext) => Promise<ClusterMode>;
