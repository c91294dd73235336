import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { EVENT_SAMPLES, METHOD_SAMPLES } from "./__fixtures__/samples";
import { ERROR_CODES } from "./errors";
import { EVENT_NAMES } from "./events";
import { protocolJsonSchema } from "./json-schema";
import { METHOD_NAMES } from "./methods";

const schema = protocolJsonSchema();
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(schema, "protocol");
const validator = (ref: string) => {
  const validate = ajv.getSchema(`protocol${ref}`);
  if (validate === undefined) throw new Error(`no schema at ${ref}`);
  return validate;
};
const meta = schema["x-openclaw"] as {
  methods: Record<string, { params: string; result: string; scopes: string[] }>;
  events: Record<string, { data: string }>;
  errorCodes: string[];
};

describe("protocolJsonSchema", () => {
  it("is a valid draft-07 schema", () => {
    expect(ajv.validateSchema(schema)).toBe(true);
  });

  it("describes a request frame's optional traceparent, as the parser reads it", () => {
    const request = validator("#/definitions/RequestFrame");
    const frame = { type: "req", id: "1", method: "ping" };
    expect(
      request({ ...frame, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }),
    ).toBe(true);
    expect(request({ ...frame, traceparent: "00-not-a-trace" })).toBe(false);
    expect(request(frame)).toBe(true);
  });

  it("lists every method, event and error code", () => {
    expect(Object.keys(meta.methods)).toEqual([...METHOD_NAMES]);
    expect(Object.keys(meta.events)).toEqual([...EVENT_NAMES]);
    expect(meta.errorCodes).toEqual([...ERROR_CODES]);
    expect(meta.methods["config.apply"]?.scopes).toEqual(["operator.admin"]);
  });

  it("accepts the three frames of the spec and rejects malformed ones", () => {
    const frame = validator("");
    expect(
      frame({
        type: "req",
        id: "req-123",
        method: "message.send",
        data: { recipient: "@user", text: "Hello" },
      }),
    ).toBe(true);
    expect(frame({ type: "res", id: "req-123", data: { messageId: "msg-456" }, error: null })).toBe(true);
    expect(frame({ type: "event", event: "tick", data: { ts: 1 }, seq: 4 })).toBe(true);
    expect(frame({ type: "req", method: "ping" })).toBe(false);
    expect(frame({ type: "bogus", id: "1" })).toBe(false);
  });

  it.each(METHOD_NAMES.map((name) => [name] as const))(
    "describes %s params and result so that the samples validate",
    (name) => {
      const entry = meta.methods[name]!;
      const params = validator(entry.params);
      expect(params(METHOD_SAMPLES[name].params), JSON.stringify(params.errors)).toBe(true);
      const result = validator(entry.result);
      expect(result(METHOD_SAMPLES[name].result), JSON.stringify(result.errors)).toBe(true);
    },
  );

  it.each(EVENT_NAMES.map((name) => [name] as const))(
    "describes the %s payload so that the sample validates",
    (name) => {
      const data = validator(meta.events[name]!.data);
      expect(data(EVENT_SAMPLES[name]), JSON.stringify(data.errors)).toBe(true);
    },
  );

  it("rejects an invalid message.send", () => {
    const params = validator(meta.methods["message.send"]!.params);
    expect(params({ recipient: 42 })).toBe(false);
  });
});
