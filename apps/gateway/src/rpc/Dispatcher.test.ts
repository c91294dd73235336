import { ProtocolError, type RequestFrame, type Scope } from "@openclaw/protocol";
import { describe, expect, it } from "vitest";
import { createDispatcher, type DispatchCaller, type DispatchHandler } from "./Dispatcher";
import type { IdempotentRunner } from "./Idempotency";

class Caller implements DispatchCaller {
  readonly scopes: ReadonlySet<Scope>;
  constructor(scopes: Scope[]) {
    this.scopes = new Set(scopes);
  }
  hasAnyScope(scopes: readonly Scope[]): boolean {
    return scopes.some((scope) => this.scopes.has(scope));
  }
}

const operator = new Caller(["operator.read", "operator.write"]);
const frame = (method: string, data?: unknown, extra: Partial<RequestFrame> = {}): RequestFrame =>
  ({ type: "req", id: "1", method, data, ...extra }) as RequestFrame;

/** A runner that records the keys it saw and runs each request. */
class RecordingRunner implements IdempotentRunner {
  readonly keys: string[] = [];
  async run(scope: string, key: string, run: () => unknown): Promise<unknown> {
    this.keys.push(`${scope}/${key}`);
    return run();
  }
}

function setup(running = true) {
  const calls: Array<{ method: string; params: unknown }> = [];
  const handler =
    (method: string): DispatchHandler<Caller> =>
    (params) => {
      calls.push({ method, params });
      return { ok: method };
    };
  const idempotency = new RecordingRunner();
  const dispatch = createDispatcher<Caller>({
    handlers: {
      ping: handler("ping"),
      "message.send": handler("message.send"),
      "config.apply": handler("config.apply"),
      "agent.run": handler("agent.run"),
    },
    isRunning: () => running,
    idempotency,
  });
  return { dispatch, calls, idempotency };
}

async function failure(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

describe("createDispatcher", () => {
  it("runs a known method with its validated params", async () => {
    const { dispatch, calls } = setup();
    await expect(dispatch(operator, frame("ping", { ts: 5 }))).resolves.toEqual({ ok: "ping" });
    expect(calls).toEqual([{ method: "ping", params: { ts: 5 } }]);
  });

  it("refuses everything while shutting down, connect and unknown methods included", async () => {
    const { dispatch, calls } = setup(false);
    expect((await failure(dispatch(operator, frame("nope")))).code).toBe("SHUTTING_DOWN");
    expect((await failure(dispatch(operator, frame("ping")))).details).toMatchObject({ retryAfterMs: 1000 });
    expect(calls).toEqual([]);
  });

  it("answers CONFLICT to a second connect and METHOD_NOT_FOUND to an unknown method", async () => {
    const { dispatch } = setup();
    expect((await failure(dispatch(operator, frame("connect", {})))).code).toBe("CONFLICT");
    expect((await failure(dispatch(operator, frame("no.such")))).details).toMatchObject({
      reason: "unknown_method",
    });
  });

  it("checks the scope before the params: a caller without it learns nothing about them", async () => {
    const { dispatch, calls } = setup();
    const error = await failure(dispatch(operator, frame("config.apply", { nonsense: true })));
    expect(error.code).toBe("FORBIDDEN");
    expect(error.details).toMatchObject({ reason: "missing_scope", required: ["operator.admin"] });
    expect(calls).toEqual([]);
  });

  it("checks the params before forwarding and forwarding before the handler", async () => {
    const { dispatch, calls } = setup();
    const badParams = await failure(
      dispatch(operator, frame("message.send", { text: 1 }, { target: "phone" })),
    );
    expect(badParams.code).toBe("INVALID_PARAMS");
    expect(badParams.details).not.toMatchObject({ reason: "target_not_allowed" });
    const forwarded = await failure(dispatch(operator, frame("ping", {}, { target: "phone" })));
    expect(forwarded.details).toMatchObject({ reason: "target_not_allowed" });
    expect(calls).toEqual([]);
  });

  it("answers not_implemented for a catalogue method without a handler", async () => {
    const { dispatch } = setup();
    const error = await failure(dispatch(operator, frame("node.list", {})));
    expect(error.code).toBe("METHOD_NOT_FOUND");
    expect(error.details).toMatchObject({ reason: "not_implemented" });
  });

  it("runs a request with an idempotency key through the runner, keyed by method and target", async () => {
    const { dispatch, calls, idempotency } = setup();
    await dispatch(operator, frame("message.send", { recipient: "u1", text: "hi", idempotencyKey: "k1" }));
    await dispatch(operator, frame("agent.run", { input: "hi", idempotencyKey: "k2" }, { target: "phone" }));
    await dispatch(operator, frame("message.send", { recipient: "u1", text: "no key" }));
    expect(idempotency.keys).toEqual(["message.send/k1", "agent.run@phone/k2"]);
    expect(calls.map((call) => call.method)).toEqual(["message.send", "agent.run", "message.send"]);
  });
});
