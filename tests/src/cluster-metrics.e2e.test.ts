import { FAKE_BOT_USER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import { getMetricsFromIterator, type PromMetrics } from "prom2javascript";
import { describe, expect, it } from "vitest";
import { clusterTestsAvailable, connect, poll, startInstance, TOKEN, useCluster } from "./cluster-process";
import { type GatewayProcess, kill9 } from "./gateway-process";

// `/metrics` in cluster mode: real `openclaw gateway` processes on one real redis-server. Every
// series carries the instance id, and the cluster link's gauges are there.

const available = await clusterTestsAvailable();
const { newCluster } = useCluster("cluster-metrics", available);

/** Scrapes an instance's `/metrics` and parses it (NaN samples left out: the parser takes none). */
async function scrape(instance: GatewayProcess): Promise<PromMetrics> {
  const response = await fetch(`${instance.url.replace(/^ws/, "http")}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.status).toBe(200);
  const lines = (await response.text()).split("\n").filter((line) => !/ Nan$/i.test(line));
  return getMetricsFromIterator(lines[Symbol.iterator]());
}

describe.skipIf(!available)("metrics in cluster mode", () => {
  it("labels every series with the instance id and reports the cluster link", async () => {
    const setup = newCluster();
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const client = await connect(setup, a!);
    await client.request("ping", {});
    const instances = (metrics: PromMetrics) =>
      (metrics.openclaw_cluster_instances?.data[0] as { value: number } | undefined)?.value ?? 0;
    const onA = await poll(
      () => scrape(a!),
      (metrics) => instances(metrics) === 2,
    );
    expect(instances(onA)).toBe(2);
    expect(onA.openclaw_cluster_healthy?.data[0]).toMatchObject({ labels: { instance: "a" }, value: 1 });
    // Every sample of every family, the process's own included, is instance a's.
    for (const [name, family] of Object.entries(onA))
      for (const sample of family.data) expect(sample.labels.instance, name).toBe("a");
    expect(onA.openclaw_request_duration_seconds?.data).toContainEqual(
      expect.objectContaining({ labels: { method: "ping", code: "OK", instance: "a" }, count: 1 }),
    );
    const onB = await scrape(b!);
    expect(onB.openclaw_connections?.data.every((sample) => sample.labels.instance === "b")).toBe(true);
  });

  it("counts a leased channel's lease where it is acquired, and again where it moves", async () => {
    const accessToken = "syt_b3BlbmNsYXc_fake_access_token";
    const fake = await FakeMatrix.start({ accessToken });
    try {
      const setup = newCluster({
        channels: { matrix: { homeserverUrl: fake.baseUrl, userId: FAKE_BOT_USER, accessToken } },
      });
      const instances = new Map(
        await Promise.all(["a", "b"].map(async (id) => [id, await startInstance(setup, id)] as const)),
      );
      const acquired = async (instance: GatewayProcess) => {
        const samples = (await scrape(instance)).openclaw_lease_changes_total?.data ?? [];
        const sample = samples.find(
          (m) => m.labels.lease === "channel:matrix" && m.labels.change === "acquired",
        ) as { value: number } | undefined;
        return sample?.value ?? 0;
      };
      const counts = async () => Promise.all([...instances.values()].map(acquired));
      const first = await poll(counts, (values) => values[0]! + values[1]! === 1);
      expect(first.sort()).toEqual([0, 1]);
      // The holder dies: the lease moves to the other one, which counts it.
      const holderId = (await acquired(instances.get("a")!)) === 1 ? "a" : "b";
      const otherId = holderId === "a" ? "b" : "a";
      await kill9(instances.get(holderId)!.child);
      const other = instances.get(otherId)!;
      expect(
        await poll(
          () => acquired(other),
          (value) => value === 1,
        ),
      ).toBe(1);
    } finally {
      await fake.close();
    }
  });
});
