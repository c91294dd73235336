import { createServer } from "node:net";
import { type RedisServer, startRedisServer } from "@openclaw/redis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterTestsAvailable, startInstance, useCluster } from "./cluster-process";

// Issue 29, item 13: when cluster mode cannot reach Redis at start, the gateway says why (no
// password, a wrong one, nothing listening, a name that does not resolve) instead of "Connection is
// closed.", and never prints the password of the URL.

const available = await clusterTestsAvailable();
const cluster = useCluster("start", available);
const PASSWORD = "right-pass-0123";

/** A loopback port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts an instance on `redisUrl` and returns what it printed when it exited. */
async function failedStart(redisUrl: string): Promise<string> {
  const setup = { ...cluster.newCluster(), redisUrl };
  const error = await startInstance(setup, "a").then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error, "the gateway started without Redis").toBeInstanceOf(Error);
  return (error as Error).message;
}

describe.skipIf(!available)("cluster mode: Redis at start", () => {
  let secured: RedisServer;
  beforeAll(async () => {
    secured = await startRedisServer({ password: PASSWORD });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  it("says which of: no password, wrong password, refused port, unknown host; and redacts the password", async () => {
    const host = `127.0.0.1:${secured.port}`;
    const noPassword = await failedStart(`redis://${host}`);
    const wrongPassword = await failedStart(`redis://:wrong-pass@${host}`);
    const refused = await failedStart(`redis://:wrong-pass@127.0.0.1:${await closedPort()}`);
    const unknown = await failedStart("redis://user:wrong-pass@openclaw-test.invalid:6379");
    for (const output of [noPassword, wrongPassword, refused, unknown]) {
      expect(output).not.toContain("Connection is closed");
      expect(output).not.toContain("wrong-pass");
    }
    expect(noPassword).toMatch(/Redis requires a password/);
    expect(wrongPassword).toMatch(/Redis refused the password/);
    expect(wrongPassword).toContain(`redis://:[redacted]@${host}`);
    expect(refused).toMatch(/nothing accepts connections at 127\.0\.0\.1:\d+ \(connection refused\)/);
    expect(unknown).toMatch(/the host openclaw-test\.invalid cannot be resolved/);
    expect(unknown).toContain("redis://user:[redacted]@openclaw-test.invalid:6379");
    // And with the right password it starts.
    const setup = { ...cluster.newCluster(), redisUrl: `redis://:${PASSWORD}@${host}` };
    const instance = await startInstance(setup, "a");
    expect(instance.output()).not.toContain(PASSWORD);
  }, 60_000);
});
