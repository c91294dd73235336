import { getMetricsFromIterator, type PromMetrics } from "prom2javascript";
import { describe, expect, it } from "vitest";
import { clusterTestsAvailable, connect, poll, startInstance, TOKEN, useCluster } from "./cluster-process";
import type { GatewayProcess } from "./gateway-process";

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
});
