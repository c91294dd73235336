import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EventName, GatewayClient } from "@openclaw/protocol";
import { type RedisServer, redisAvailable, startRedisServer } from "@openclaw/redis/testing";
import { afterAll, afterEach, beforeAll } from "vitest";
import { WebSocket } from "ws";
import { type GatewayProcess, kill9, startGatewayProcess } from "./gateway-process";

/** The operator and admin tokens of every cluster instance in the tests. */
export const TOKEN = "operator-token-0123456789";
export const ADMIN = "admin-token-0123456789abc";

/**
 * Whether the cluster tests can run: `redis-server` is installed. Without it they are skipped with a
 * warning, except in CI, where its absence is an error (the cluster tests never skip there).
 */
export async function clusterTestsAvailable(): Promise<boolean> {
  const available = await redisAvailable();
  if (!available) {
    if (process.env.CI)
      throw new Error("redis-server is required in CI (the cluster tests never skip there)");
    console.warn("redis-server not found: the cluster e2e tests are skipped");
  }
  return available;
}

/** One test file's Redis and cluster processes (see {@link useCluster}). */
export interface ClusterFixture {
  /** The file's redis-server (valid inside tests). */
  readonly redis: RedisServer;
  /** A new cluster setup on a namespace of its own, with `config` in every instance's file. */
  newCluster(config?: object): ClusterSetup;
}

/**
 * Starts one redis-server for the calling test file (when `available`) and a temporary root for
 * its instances' dirs; after each test closes its clients and SIGKILLs its gateway processes.
 *
 * @param name - Names the file's temporary root and its namespaces.
 * @param available - From {@link clusterTestsAvailable}.
 */
export function useCluster(name: string, available: boolean): ClusterFixture {
  let redis: RedisServer | undefined;
  let root = "";
  let run = 0;
  const children: ChildProcess[] = [];
  const clients: GatewayClient[] = [];
  beforeAll(async () => {
    if (available) redis = await startRedisServer();
    root = await mkdtemp(join(tmpdir(), `openclaw-${name}-`));
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close().catch(() => {});
    await Promise.all(children.splice(0).map((child) => kill9(child)));
  });
  afterAll(async () => {
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });
  return {
    get redis() {
      if (redis === undefined) throw new Error("redis-server is not started");
      return redis;
    },
    newCluster(config = {}) {
      if (redis === undefined) throw new Error("redis-server is not started");
      const namespace = `${name}-${process.pid}-${++run}`;
      return { root, redisUrl: redis.url, namespace, config, children, clients };
    },
  };
}

/** What the instances of one test's cluster share (each has its own dir and state). */
export interface ClusterSetup {
  /** Where each instance's dir is made. */
  root: string;
  redisUrl: string;
  /** The cluster's Redis namespace: unique per test. */
  namespace: string;
  /** The rest of every instance's `openclaw.json`. */
  config: object;
  children: ChildProcess[];
  clients: GatewayClient[];
}

/**
 * Starts instance `id` as its own `openclaw gateway` process (the CLI, which loads cluster mode)
 * with short TTLs: an instance is seen down 2 s after it stops, a lease moves 3 s after its holder
 * stopped renewing it.
 */
export async function startInstance(setup: ClusterSetup, id: string): Promise<GatewayProcess> {
  const dir = join(setup.root, `${setup.namespace}-${id}`);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "openclaw.json"),
    JSON.stringify({
      logging: { level: "info" },
      security: { rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } },
      ...setup.config,
      cluster: {
        redisUrl: setup.redisUrl,
        instanceId: id,
        namespace: setup.namespace,
        instanceTtlMs: 2000,
        leaseTtlMs: 3000,
      },
    }),
  );
  return startGatewayProcess(
    dir,
    { OPENCLAW_GATEWAY_TOKEN: TOKEN, OPENCLAW_ADMIN_TOKEN: ADMIN },
    setup.children,
    { cli: true },
  );
}

/** An operator (or, with {@link ADMIN}, admin) client of an instance, closed after the test. */
export async function connect(
  setup: ClusterSetup,
  instance: GatewayProcess,
  token = TOKEN,
): Promise<GatewayClient> {
  const client = new GatewayClient({ url: instance.url, token, WebSocket, reconnect: false });
  await client.connect();
  setup.clients.push(client);
  return client;
}

/** Collects the events of one name a client receives. */
export function collect(client: GatewayClient, event: EventName): unknown[] {
  const seen: unknown[] = [];
  client.on(event as never, ((data: unknown) => seen.push(data)) as never);
  return seen;
}

/** `GET /ready` of an instance. */
export async function ready(
  instance: GatewayProcess,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${instance.url.replace(/^ws/, "http")}/ready`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls `probe` every 50 ms until `accept` takes its value (at most `timeoutMs`); returns the last value. */
export async function poll<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let value = await probe();
  while (!accept(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await probe();
  }
  return value;
}
