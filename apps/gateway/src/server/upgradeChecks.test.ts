import { describe, expect, it } from "vitest";
import { checkUpgrade, refusalResponse, UPGRADE_RETRY_AFTER_MS, type UpgradeFacts } from "./upgradeChecks";

const limits = {
  security: { allowedOrigins: ["https://app.example"], allowedHosts: ["localhost", "127.0.0.1"] },
  gateway: { maxHandshakesPerSource: 2 },
};
const fine: UpgradeFacts = {
  running: true,
  origin: undefined,
  host: "127.0.0.1:18789",
  blockedForMs: 0,
  connections: 0,
  maxConnections: 10,
  extraConnections: 0,
  handshakesFromSource: 0,
};

describe("checkUpgrade", () => {
  it("accepts a request within every limit, with or without an allowed origin", () => {
    expect(checkUpgrade(fine, limits)).toBeNull();
    expect(checkUpgrade({ ...fine, origin: "https://app.example" }, limits)).toBeNull();
    expect(checkUpgrade({ ...fine, origin: "http://127.0.0.1:18789" }, limits)).toBeNull();
    expect(checkUpgrade({ ...fine, connections: 9, handshakesFromSource: 1 }, limits)).toBeNull();
  });

  it("refuses while shutting down, before anything else", () => {
    const refusal = checkUpgrade(
      { ...fine, running: false, origin: "https://evil.example", connections: 99 },
      limits,
    );
    expect(refusal?.error.code).toBe("SHUTTING_DOWN");
    expect(refusal?.retryAfterMs).toBe(UPGRADE_RETRY_AFTER_MS.shuttingDown);
  });

  it("refuses an origin that is neither listed nor the same allowed host, with no Retry-After", () => {
    const refusal = checkUpgrade({ ...fine, origin: "https://evil.example", blockedForMs: 5000 }, limits);
    expect(refusal?.error.code).toBe("FORBIDDEN");
    expect(refusal?.error.details).toMatchObject({ reason: "origin_not_allowed" });
    expect(refusal?.retryAfterMs).toBeUndefined();
    expect(
      checkUpgrade({ ...fine, origin: "http://other:18789", host: "other:18789" }, limits)?.error.code,
    ).toBe("FORBIDDEN");
  });

  it("refuses an address blocked for failed logins for as long as it is blocked", () => {
    const refusal = checkUpgrade({ ...fine, blockedForMs: 4200, connections: 99 }, limits);
    expect(refusal?.error.code).toBe("RATE_LIMITED");
    expect(refusal?.error.details).toMatchObject({ reason: "too_many_failed_logins", retryAfterMs: 4200 });
    expect(refusal?.retryAfterMs).toBe(4200);
  });

  it("refuses at the connection limit, then at the handshake limit per address", () => {
    const full = checkUpgrade({ ...fine, connections: 10, handshakesFromSource: 2 }, limits);
    expect(full?.error.details).toMatchObject({ reason: "too_many_connections", limit: 10 });
    expect(full?.error.code).toBe("OVERLOADED");
    const handshakes = checkUpgrade({ ...fine, handshakesFromSource: 2 }, limits);
    expect(handshakes?.error.details).toMatchObject({ reason: "too_many_handshakes_from_source", limit: 2 });
    expect(handshakes?.retryAfterMs).toBe(UPGRADE_RETRY_AFTER_MS.tooManyHandshakes);
  });

  it("lets an admin's upgrade use its extra slots beyond the cap, and no more", () => {
    expect(checkUpgrade({ ...fine, connections: 10, extraConnections: 2 }, limits)).toBeNull();
    expect(checkUpgrade({ ...fine, connections: 11, extraConnections: 2 }, limits)).toBeNull();
    const full = checkUpgrade({ ...fine, connections: 12, extraConnections: 2 }, limits);
    expect(full?.error.details).toMatchObject({ reason: "too_many_connections", limit: 10 });
  });
});

describe("refusalResponse", () => {
  it("answers the error's HTTP status, a JSON body and Retry-After in whole seconds (at least 1)", () => {
    const refusal = checkUpgrade({ ...fine, blockedForMs: 1500 }, limits)!;
    const response = refusalResponse(refusal);
    expect(response).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(response).toContain("Retry-After: 2\r\n");
    const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as { error: { code: string } };
    expect(body.error.code).toBe("RATE_LIMITED");
    expect(refusalResponse({ ...refusal, retryAfterMs: 10 })).toContain("Retry-After: 1\r\n");
    expect(refusalResponse({ error: refusal.error })).not.toContain("Retry-After");
  });
});
