import { toJsonSchema } from "@valibot/to-json-schema";
import { PROTOCOL_VERSION } from "./constants";
import { ERROR_CODES } from "./errors";
import { EVENTS } from "./events";
import { ErrorShapeSchema, EventFrameSchema, RequestFrameSchema, ResponseFrameSchema } from "./frames";
import type { AnySchema } from "./methods";
import { METHODS } from "./methods";

/** A JSON Schema document (draft-07). */
export type JsonSchema = Record<string, unknown>;

const convert = (schema: AnySchema): JsonSchema =>
  // Refinements valibot cannot express in JSON Schema (cross-field checks) are described in
  // the summaries and enforced by the server; the structural schema is still exact.
  toJsonSchema(schema, { errorMode: "ignore" }) as JsonSchema;

const pascal = (name: string): string =>
  name
    .split(/[.\-_]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");

/**
 * Builds a JSON Schema (draft-07) of the whole protocol, for clients written in other
 * languages: the three frames under `definitions`, every method's params and result as
 * `<Method>Params` / `<Method>Result`, every event's payload as `<Event>Event`, and an
 * `x-openclaw` block listing methods (with scopes), events and error codes. The package also
 * ships it prebuilt as `@openclaw/protocol/schema.json`.
 *
 * @returns The schema document.
 */
export function protocolJsonSchema(): JsonSchema {
  const definitions: Record<string, JsonSchema> = {
    RequestFrame: strip(convert(RequestFrameSchema)),
    ResponseFrame: strip(convert(ResponseFrameSchema)),
    EventFrame: strip(convert(EventFrameSchema)),
    ErrorShape: strip(convert(ErrorShapeSchema)),
  };
  const methods: Record<
    string,
    {
      params: string;
      result: string;
      scopes: readonly string[];
      summary: string;
      idempotent: boolean;
      forwardable: boolean;
    }
  > = {};
  for (const [name, def] of Object.entries(METHODS)) {
    const base = pascal(name);
    definitions[`${base}Params`] = strip(convert(def.params));
    definitions[`${base}Result`] = strip(convert(def.result));
    methods[name] = {
      params: `#/definitions/${base}Params`,
      result: `#/definitions/${base}Result`,
      scopes: def.scopes,
      summary: def.summary,
      idempotent: def.idempotent,
      forwardable: def.forwardable,
    };
  }
  const events: Record<string, { data: string; summary: string }> = {};
  for (const [name, def] of Object.entries(EVENTS)) {
    const key = `${pascal(name)}Event`;
    definitions[key] = strip(convert(def.data));
    events[name] = { data: `#/definitions/${key}`, summary: def.summary };
  }
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: `https://openclaw.dev/schemas/protocol-v${PROTOCOL_VERSION}.json`,
    title: `OpenClaw Gateway protocol v${PROTOCOL_VERSION}`,
    description: "A frame is one JSON text message on the WebSocket.",
    oneOf: [
      { $ref: "#/definitions/RequestFrame" },
      { $ref: "#/definitions/ResponseFrame" },
      { $ref: "#/definitions/EventFrame" },
    ],
    definitions,
    "x-openclaw": { protocol: PROTOCOL_VERSION, methods, events, errorCodes: ERROR_CODES },
  };
}

function strip(schema: JsonSchema): JsonSchema {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}
