import { METHOD_NAMES, METHODS, type Scope } from "@openclaw/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type Harness, pairNode, type RawSocket, startGateway } from "./harness";

/**
 * Every method × every kind of connection, generated from the method catalogue: a method added to
 * the catalogue is covered here without anyone writing a rule for it.
 */
const ROLES: Record<string, readonly Scope[]> = {
  "unauthenticated node": ["pairing"],
  "paired node": ["node"],
  operator: ["operator.read", "operator.write"],
  admin: ["operator.read", "operator.write", "operator.admin"],
};

let h: Harness;
const sockets: Record<string, RawSocket> = {};

beforeAll(async () => {
  h = await startGateway();
  const { deviceToken } = await pairNode(h, "matrix-node", () => ({ runId: "r", output: "ok" }));
  sockets["unauthenticated node"] = await h.raw();
  await sockets["unauthenticated node"].connect({ role: "node" });
  sockets["paired node"] = await h.raw();
  await sockets["paired node"].connect({ role: "node", deviceToken });
  sockets.operator = await h.raw();
  await sockets.operator.connect();
  sockets.admin = await h.raw();
  await sockets.admin.connect({ token: ADMIN });
});
afterAll(async () => {
  await h.stop();
});

const cases = Object.keys(ROLES).flatMap((role) =>
  METHOD_NAMES.filter((method) => method !== "connect").map((method) => [role, method] as const),
);

describe("authorization matrix", () => {
  it.each(cases)("%s calling %s", async (role, method) => {
    const allowed = METHODS[method].scopes.some((scope) => ROLES[role]!.includes(scope));
    // Empty params: methods with required params stop at validation, the others are harmless reads.
    const res = await sockets[role]!.request(
      `${role}-${method}`,
      method,
      method === "pairing.start" ? { code: "bad code" } : {},
    );
    const code = (res.error as { code?: string } | null)?.code;
    if (allowed) expect(code, JSON.stringify(res.error)).not.toBe("FORBIDDEN");
    else expect(res.error).toMatchObject({ code: "FORBIDDEN", details: { reason: "missing_scope" } });
  });

  it("answers an unknown method with METHOD_NOT_FOUND whatever the role", async () => {
    for (const socket of Object.values(sockets)) {
      expect((await socket.request(`x-${Math.random()}`, "no.such", {})).error).toMatchObject({
        code: "METHOD_NOT_FOUND",
      });
    }
  });
});
