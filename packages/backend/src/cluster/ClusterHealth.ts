/**
 * The health seam of cluster mode: what `/ready` and `system.status` say about the link between
 * this instance and the rest of the cluster. A single gateway has none.
 */

/** The state of this instance's cluster link. */
export interface ClusterHealthReport {
  /** This instance's id in the cluster. */
  instanceId: string;
  /**
   * `ready`, or `degraded` while the shared backend (Redis) cannot be reached: local clients stay
   * connected, what needs the backend answers `UNAVAILABLE` (`redis_unavailable`, retryable).
   */
  state: "ready" | "degraded";
  /** The instances seen alive, this one included when its heartbeat is current. */
  instances: string[];
  /** Why it is degraded, when it is. */
  reason?: string;
}

/** Reports the cluster link's health (cheap: read on every `/ready` and `system.status`). */
export interface ClusterHealth {
  /** The report as of now. */
  health(): ClusterHealthReport;
}
