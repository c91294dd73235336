// A gateway instance of a benchmark cluster, run from the sources (`node --conditions=@openclaw/source
// --import tsx cluster-server.mjs <redisUrl> <namespace> <instanceId> <stateDir>`): the real Gateway
// on 127.0.0.1:0 with the Redis adapter, node bus, membership and device store of `@openclaw/redis`.
// Prints `{"port":…,"pid":…}` once it listens; stops on SIGTERM.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigManager } from "@openclaw/config";
import { createLogger, Gateway } from "@openclaw/gateway";
import {
  ClusterMembership,
  connectRedisStoreClient,
  RedisAdapter,
  RedisDeviceStore,
  RedisNodeBus,
} from "@openclaw/redis";
import { BENCH_ADMIN_TOKEN, BENCH_TOKEN } from "./server.mjs";

const [redisUrl, namespace, instanceId, stateDir] = process.argv.slice(2);
const configFile = join(stateDir, "openclaw.json");
// The same limits as the single-process benchmark server (lib/server.mjs): the load comes from one place.
await writeFile(
  configFile,
  JSON.stringify({
    security: { rateLimit: { requestsPerSecond: 10_000_000, burst: 10_000_000 } },
    heartbeat: { intervalMs: 60_000 },
    gateway: { maxConnections: 50_000, maxHandshakesPerSource: 50_000 },
    logging: { level: "warn" },
  }),
);
const config = new ConfigManager({
  path: configFile,
  env: {
    OPENCLAW_PORT: "0",
    OPENCLAW_STATE_DIR: stateDir,
    OPENCLAW_GATEWAY_TOKEN: BENCH_TOKEN,
    OPENCLAW_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
  },
});
await config.load();
const redis = await connectRedisStoreClient(redisUrl);
const membership = new ClusterMembership({ redis, instanceId, namespace });
await membership.start();
const adapter = new RedisAdapter({ redisUrl, instanceId, namespace });
await adapter.ready();
const remoteNodes = new RedisNodeBus({ redisUrl, instanceId, namespace, membership });
const gateway = new Gateway({
  config,
  logger: createLogger("warn"),
  adapter,
  deviceStore: new RedisDeviceStore(redis, { namespace }),
  remoteNodes,
});
await gateway.start();
process.stdout.write(`${JSON.stringify({ port: gateway.address.port, pid: process.pid })}\n`);
process.once("SIGTERM", async () => {
  await gateway.stop({ drainTimeoutMs: 200 });
  await membership.stop();
  redis.disconnect();
  await config.close();
  process.exit(0);
});
