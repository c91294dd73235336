import { describe, expect, it } from "vitest";
import { ClusterMembership, connectRedisStoreClient } from "../src/index";
import { freshNamespace, skipRedis, useRedis } from "./storesHarness";

type Events = { up: string; down: string; alive: boolean };

/** Resolves with the first `event` the membership emits. */
function next<E extends keyof Events>(membership: ClusterMembership, event: E): Promise<Events[E]> {
  return new Promise((resolve) => membership.once(event, resolve as never));
}

describe.skipIf(skipRedis)("ClusterMembership", () => {
  const fixture = useRedis();
  const timing = { ttlMs: 600, heartbeatMs: 100 };

  it("sees another instance come up, and go down when it cannot renew its entry", async () => {
    const namespace = freshNamespace();
    const a = new ClusterMembership({ redis: fixture.redis, instanceId: "a", namespace, ...timing });
    const bRedis = await connectRedisStoreClient(fixture.server.url);
    const b = new ClusterMembership({ redis: bRedis, instanceId: "b", namespace, ...timing });
    await a.start();
    const up = next(a, "up");
    await b.start();
    expect(await up).toBe("b");
    expect(a.isAlive("b")).toBe(true);
    await b.refresh();
    expect(b.members().sort()).toEqual(["a", "b"]);
    expect(b.selfAlive).toBe(true);

    // b loses its link to Redis: it learns it is cut off, and a sees it go down.
    const down = next(a, "down");
    const cutOff = next(b, "alive");
    bRedis.disconnect();
    expect(await down).toBe("b");
    expect(a.isAlive("b")).toBe(false);
    expect(await cutOff).toBe(false);
    expect(b.selfAlive).toBe(false);
    await b.stop();
    await a.stop();
  });

  it("removes its entry when stopped, so the others see it leave at the next heartbeat", async () => {
    const namespace = freshNamespace();
    const a = new ClusterMembership({ redis: fixture.redis, instanceId: "a", namespace, ...timing });
    const b = new ClusterMembership({ redis: fixture.redis, instanceId: "b", namespace, ...timing });
    await b.start();
    await a.start();
    expect(a.isAlive("b")).toBe(true);
    const down = next(a, "down");
    await b.stop();
    expect(await down).toBe("b");
    expect(await fixture.redis.zrange(a.key, 0, -1)).toEqual(["a"]);
    await a.stop();
  });

  it("fails to start when Redis cannot be reached", async () => {
    const redis = await connectRedisStoreClient(fixture.server.url);
    redis.disconnect();
    const membership = new ClusterMembership({ redis, instanceId: "x", namespace: freshNamespace() });
    await expect(membership.start()).rejects.toThrow();
  });
});
