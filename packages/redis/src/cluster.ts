import { hostname } from "node:os";
import type {
  BackendOptions,
  ClusterHealthReport,
  ClusterMode,
  ClusterModeContext,
  ConversationRecord,
} from "@openclaw/backend";
import type { ClusterConfig } from "@openclaw/config";
import type { Redis } from "ioredis";
import { ClusterMembership } from "./ClusterMembership";
import { RedisAdapter } from "./RedisAdapter";
import { RedisChangeFeed } from "./RedisChangeFeed";
import { RedisDeliveryQueue } from "./RedisDeliveryQueue";
import { RedisLeases } from "./RedisLeases";
import { RedisNodeBus } from "./RedisNodeBus";
import { RedisTaskClaims } from "./RedisTaskClaims";
import { RedisBindingStore } from "./stores/RedisBindingStore";
import { RedisDeviceStore } from "./stores/RedisDeviceStore";
import { RedisKeyStore } from "./stores/RedisKeyStore";
import { RedisRecordStore } from "./stores/RedisRecordStore";
import { RedisResponseStore } from "./stores/RedisResponseStore";
import { RedisTaskStore } from "./stores/RedisTaskStore";
import { connectRedisStoreClient } from "./stores/redisStoreClient";

/** The task queue's record (this package types its task store structurally, see `RedisTaskStore`). */
type TaskRecordOf = Parameters<Awaited<ReturnType<NonNullable<BackendOptions["taskStore"]>>>["put"]>[0];

/** The cluster mode {@link createCluster} builds, with its parts for tests and embedders. */
export interface RedisCluster extends ClusterMode {
  /** The broadcast adapter (events everywhere, node presence). */
  readonly adapter: RedisAdapter;
  /** Which instances are alive. */
  readonly membership: ClusterMembership;
  /** Leases with fencing tokens (channels, delivery queues, jobs). */
  readonly leases: RedisLeases;
  /** The client the stores, leases and membership write through. */
  readonly redis: Redis;
  /** The health report `/ready` and `system.status` show. */
  health(): ClusterHealthReport;
}

/**
 * The default instance id: the host name and the process id, so that instances on one machine
 * differ and a restarted process is a new instance.
 */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

/**
 * Builds cluster mode on Redis from the config's `cluster` section: connects (rejects with
 * `UNAVAILABLE` / `redis_unavailable` when Redis cannot be reached at start), starts the heartbeat,
 * and returns the gateway options that share everything through Redis. It is the
 * `ClusterModeLoader` the `openclaw` CLI gives `runGateway`.
 *
 * @param config - The `cluster` section.
 * @param context - Where to log.
 * @returns The cluster mode; `close()` it after the gateway stopped.
 *
 * @example
 * ```ts
 * const cluster = await createCluster({ redisUrl: "redis://127.0.0.1:6379", namespace: "openclaw", leaseTtlMs: 10_000, instanceTtlMs: 5_000 }, { logger });
 * const gateway = new Gateway({ config, logger, ...cluster.options });
 * ```
 */
export async function createCluster(
  config: ClusterConfig,
  context: ClusterModeContext,
): Promise<RedisCluster> {
  const { logger } = context;
  const instanceId = config.instanceId ?? defaultInstanceId();
  const namespace = config.namespace;
  const redis = await connectRedisStoreClient(config.redisUrl);
  const opened: Array<() => Promise<void> | void> = [() => void redis.disconnect()];
  const closeAll = async () => {
    for (const close of opened.splice(0).reverse()) await Promise.resolve(close()).catch(() => {});
  };
  try {
    const membership = new ClusterMembership({ redis, instanceId, namespace, ttlMs: config.instanceTtlMs });
    await membership.start();
    opened.push(() => membership.stop());
    membership.on("down", (id) => logger.warn({ instance: id }, "cluster: an instance stopped answering"));
    membership.on("up", (id) => logger.info({ instance: id }, "cluster: an instance joined"));
    membership.on("alive", (alive) =>
      alive
        ? logger.info("cluster: this instance's heartbeat reaches Redis again")
        : logger.error("cluster: this instance cannot reach Redis; the others see it as down"),
    );
    const adapter = new RedisAdapter({ redis, instanceId, namespace, logger });
    await adapter.ready();
    const leases = new RedisLeases({ redis, instanceId, namespace, ttlMs: config.leaseTtlMs });
    opened.push(() => leases.close());
    const health = (): ClusterHealthReport => {
      const instances = membership.members();
      if (adapter.state !== "ready" || redis.status !== "ready" || !membership.selfAlive) {
        return { instanceId, state: "degraded", instances, reason: "Redis is unreachable" };
      }
      return { instanceId, state: "ready", instances };
    };
    // Other instances' writes reach this one's mirrors (devices, bindings, history, keys) here.
    const feed = new RedisChangeFeed(redis, { namespace, logger });
    opened.push(() => feed.close());
    await feed.ready();
    const stores = { namespace, feed, logger };
    const options: RedisCluster["options"] = {
      adapter,
      cluster: { health },
      // Channels that hold a connection run on the lease holder only; cron ticks are claimed once.
      leases,
      taskClaims: new RedisTaskClaims({ redis, instanceId, namespace }),
      // One task store for all: a task runs on some live instance whichever accepted it.
      taskStore: () => new RedisTaskStore<TaskRecordOf>(redis, stores),
      // Node calls with a target on another instance are forwarded there (the gateway closes it).
      remoteNodes: new RedisNodeBus({ redis, instanceId, namespace, membership, logger }),
      bindingStore: new RedisBindingStore(redis, stores),
      deviceStore: new RedisDeviceStore(redis, stores),
      idempotencyStore: ({ name, limits }) => RedisKeyStore.open(redis, { ...stores, name, limits }),
      dedupeStore: ({ name, limits }) => RedisKeyStore.open(redis, { ...stores, name, limits }),
      historyStore: ({ name }) => RedisRecordStore.open<ConversationRecord>(redis, { ...stores, name }),
      // Stored /v1/responses: read, chained and referenced on every instance.
      responseStore: ({ limits }) => new RedisResponseStore(redis, { namespace, limits }),
      // The queue has its own records and notices (not the feed): see RedisDeliveryQueue.
      deliveryQueue: RedisDeliveryQueue.factory({ redis, instanceId, namespace, leases }),
    } satisfies BackendOptions;
    return {
      instanceId,
      options,
      adapter,
      membership,
      leases,
      redis,
      health,
      // The gateway closes the adapter when it stops; the rest is closed here.
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
