import { describe, expect, it } from "vitest";
import { ADMIN, clusterTestsAvailable, startInstance, TOKEN, useCluster } from "./cluster-process";
import type { GatewayProcess } from "./gateway-process";

// Issue 29 item 16, cluster part: stored /v1/responses live in Redis, so that a response created on
// one instance is read, chained and referenced on another (by its own token only), and the byte
// bounds hold across the instances.

const available = await clusterTestsAvailable();
const { newCluster } = useCluster("cluster-responses", available);

interface Answer {
  id: string;
  store: boolean;
  output: Array<{ id: string; content: Array<{ text: string }> }>;
  error?: { code: string | null; type: string };
}

const http = (instance: GatewayProcess) => instance.url.replace(/^ws/, "http");

async function create(instance: GatewayProcess, body: object, token = TOKEN) {
  const res = await fetch(`${http(instance)}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "echo", ...body }),
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

async function retrieve(instance: GatewayProcess, id: string, token = TOKEN) {
  const res = await fetch(`${http(instance)}/v1/responses/${id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

describe.skipIf(!available)("cluster mode: stored /v1/responses", () => {
  it("a response created on A is read, chained and referenced on B, by its token only", async () => {
    const setup = newCluster();
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const first = await create(a!, { input: "hello from a" });
    expect(first.status).toBe(200);
    const id = first.json.id;

    const read = await retrieve(b!, id);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ id, store: true });
    expect(read.json.output[0]!.content[0]!.text).toBe("hello from a");

    const chained = await create(b!, {
      previous_response_id: id,
      input: [
        { type: "item_reference", id: first.json.output[0]!.id },
        { role: "user", content: "and b" },
      ],
    });
    expect(chained.status).toBe(200);
    expect(chained.json.output[0]!.content[0]!.text).toBe("and b");
    expect((await retrieve(a!, chained.json.id)).status).toBe(200);

    // Another token gets the 404 of an unknown id, on either instance.
    for (const instance of [a!, b!]) {
      const theirs = await retrieve(instance, id, ADMIN);
      expect(theirs.status).toBe(404);
      expect(theirs.json.error).toMatchObject({ code: "response_not_found" });
      const chain = await create(instance, { previous_response_id: id, input: "x" }, ADMIN);
      expect(chain.status).toBe(404);
      expect(chain.json.error).toMatchObject({ code: "previous_response_not_found" });
    }
  });

  it("the byte bound holds across instances: the oldest response goes, wherever it was stored", async () => {
    // Each response of 100 KB input holds about 300 KB: three fit under 1 MB.
    const setup = newCluster({
      openai: { responses: { maxStoredBytes: 1_000_000, maxStoredBytesPerPrincipal: 1_000_000 } },
    });
    const [a, b] = await Promise.all(["a", "b"].map((id) => startInstance(setup, id)));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const made = await create(i % 2 === 0 ? a! : b!, { input: `w${i}xx `.repeat(20_000) });
      expect(made.status).toBe(200);
      ids.push(made.json.id);
    }
    for (const instance of [a!, b!]) {
      for (const id of ids.slice(0, 2)) expect((await retrieve(instance, id)).status).toBe(404);
      for (const id of ids.slice(2)) expect((await retrieve(instance, id)).status).toBe(200);
    }
    // A response larger than the bound is not stored, and says so.
    const huge = await create(a!, { input: "huge ".repeat(80_000) });
    expect(huge.json.store).toBe(false);
    expect((await retrieve(b!, huge.json.id)).status).toBe(404);
    expect((await retrieve(b!, ids[4]!)).status).toBe(200);
  });
});
