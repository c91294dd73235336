import { describe, expect, it } from "vitest";
import { EVENT_SAMPLES, METHOD_SAMPLES } from "./__fixtures__/samples";
import { encodeEvent, encodeRequest, encodeResult } from "./encode";
import { EVENT_NAMES } from "./events";
import { METHOD_NAMES, METHODS, type MethodName } from "./methods";
import { parseEventData, parseFrame, parseParams, parseResult } from "./parse";

/** The method and event names SPEC.md section 2 requires at least. */
const SPEC_METHODS = [
  "connect",
  "ping",
  "system.status",
  "message.send",
  "message.broadcast",
  "channel.list",
  "channel.status",
  "agent.run",
  "node.list",
  "node.invoke",
  "pairing.start",
  "pairing.approve",
  "pairing.reject",
  "pairing.list",
  "device.list",
  "device.revoke",
  "task.schedule",
  "task.execute",
  "task.cancel",
  "task.list",
  "binding.add",
  "binding.remove",
  "binding.list",
  "route.resolve",
  "config.get",
  "config.validate",
  "config.apply",
  "conversation.list",
  "conversation.history",
];
const SPEC_EVENTS = [
  "channel.message.received",
  "channel.message.sent",
  "node.online",
  "node.offline",
  "task.started",
  "task.completed",
  "task.failed",
  "config.reloaded",
  "config.invalid",
  "pairing.requested",
  "pairing.approved",
  "conversation.updated",
  "tick",
];

describe("method catalogue", () => {
  it("offers every method the spec requires", () => {
    expect(METHOD_NAMES).toEqual(expect.arrayContaining(SPEC_METHODS));
  });

  it("offers every event the spec requires", () => {
    expect(EVENT_NAMES).toEqual(expect.arrayContaining(SPEC_EVENTS));
  });

  it("has a sample for every method and event", () => {
    expect(Object.keys(METHOD_SAMPLES).sort()).toEqual([...METHOD_NAMES].sort());
    expect(Object.keys(EVENT_SAMPLES).sort()).toEqual([...EVENT_NAMES].sort());
  });

  it("requires the admin scope for the sensitive operations of SPEC.md section 6", () => {
    for (const name of [
      "config.apply",
      "pairing.approve",
      "device.revoke",
      "binding.add",
      "binding.remove",
      "binding.list",
    ] as const) {
      expect(METHODS[name].scopes).toEqual(["operator.admin"]);
    }
  });

  it("marks the side-effecting methods of SPEC.md section 10 as idempotent", () => {
    for (const name of ["message.send", "task.schedule", "agent.run"] as const)
      expect(METHODS[name].idempotent).toBe(true);
    expect(METHODS["agent.run"].forwardable).toBe(true);
  });

  describe.each(METHOD_NAMES.map((name) => [name] as const))("%s", (name: MethodName) => {
    const sample = METHOD_SAMPLES[name];

    it("round-trips its params through a req frame", () => {
      const parsed = parseFrame(encodeRequest("req-1", name, sample.params));
      expect(parsed.ok).toBe(true);
      if (!parsed.ok || parsed.frame.type !== "req") throw new Error("not a request");
      expect(parsed.frame.method).toBe(name);
      const params = parseParams(name, parsed.frame.data);
      expect(params).toMatchObject({ ok: true });
      if (params.ok) expect(params.value).toMatchObject(sample.params as object);
    });

    it("round-trips its result through a res frame", () => {
      const parsed = parseFrame(encodeResult("req-1", sample.result));
      if (!parsed.ok || parsed.frame.type !== "res") throw new Error("not a response");
      expect(parsed.frame.error).toBeNull();
      const result = parseResult(name, parsed.frame.data);
      expect(result).toEqual({ ok: true, value: sample.result });
    });

    it("rejects params of the wrong type with INVALID_PARAMS", () => {
      const result = parseParams(name, "not an object");
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe("INVALID_PARAMS");
        expect(result.error.details?.issues?.length).toBeGreaterThan(0);
      }
    });

    it("rejects a result of the wrong type", () => {
      expect(parseResult(name, 42).ok).toBe(false);
    });
  });

  describe.each(EVENT_NAMES.map((name) => [name] as const))("event %s", (name) => {
    it("round-trips its payload through an event frame", () => {
      const parsed = parseFrame(encodeEvent(name, EVENT_SAMPLES[name], 7));
      if (!parsed.ok || parsed.frame.type !== "event") throw new Error("not an event");
      expect(parsed.frame.seq).toBe(7);
      expect(parseEventData(name, parsed.frame.data)).toEqual({ ok: true, value: EVENT_SAMPLES[name] });
    });

    it("rejects a payload of the wrong type", () => {
      expect(parseEventData(name, [1, 2, 3]).ok).toBe(false);
    });
  });
});

describe("parseParams", () => {
  it("answers an unknown method with METHOD_NOT_FOUND", () => {
    const result = parseParams("message.sned", {});
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe("METHOD_NOT_FOUND");
      expect(result.error.details?.reason).toBe("unknown_method");
    }
  });

  it("does not treat Object.prototype members as methods", () => {
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      const result = parseParams(name, {});
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe("METHOD_NOT_FOUND");
    }
  });

  it("names the path of each invalid field", () => {
    const result = parseParams("message.send", { recipient: "", text: 5 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const paths = result.error.details?.issues?.map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(["recipient", "text"]));
  });

  it("applies defaults for methods whose params may be omitted", () => {
    expect(parseParams("system.status", undefined)).toEqual({ ok: true, value: {} });
    expect(parseParams("ping", undefined)).toEqual({ ok: true, value: {} });
  });

  it("enforces cross-field rules", () => {
    expect(parseParams("message.send", { recipient: "alice", text: "a", content: { text: "b" } }).ok).toBe(
      false,
    );
    expect(parseParams("message.send", { recipient: "alice" }).ok).toBe(false);
    expect(parseParams("task.schedule", { type: "x", cron: "* * * * *", every: 5000 }).ok).toBe(false);
    expect(
      parseParams("binding.add", { level: "peer", match: { userId: "a" }, target: { channel: "telegram" } })
        .ok,
    ).toBe(false);
    expect(parseParams("binding.add", { level: "system", target: { channel: "telegram" } }).ok).toBe(true);
  });

  it("strips unknown keys from params rather than passing them through", () => {
    const result = parseParams("binding.remove", { id: "b-1", extra: "ignored" });
    expect(result).toEqual({ ok: true, value: { id: "b-1" } });
  });
});
