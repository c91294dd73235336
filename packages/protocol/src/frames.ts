import * as v from "valibot";
import { MAX_ID_LENGTH, MAX_NAME_LENGTH } from "./constants";
import { ERROR_CODES } from "./errors";

/** A frame id: 1 to {@link MAX_ID_LENGTH} characters, chosen by the sender, echoed in the response. */
export const FrameIdSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ID_LENGTH));

/** The form of a method or event name: dotted lowerCamel words. */
export const NAME_PATTERN = /^[a-z][a-zA-Z0-9]*(?:\.[a-z][a-zA-Z0-9]*)*$/;

/** A method or event name: dotted lower-camel words, e.g. `message.send`. */
export const NameSchema = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_NAME_LENGTH),
  v.regex(NAME_PATTERN, "must be dotted lowerCamel words"),
);

/** `res.error` on the wire. `code` is any string so that codes added by a newer server still parse. */
export const ErrorShapeSchema = v.object({
  code: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_NAME_LENGTH)),
  message: v.pipe(v.string(), v.maxLength(4096)),
  details: v.optional(v.unknown()),
});

/** Error codes known to this version, as a valibot picklist (used in the JSON Schema). */
export const ErrorCodeSchema = v.picklist(ERROR_CODES);

/**
 * The form of a W3C trace context `traceparent`: version, 32-hex trace id, 16-hex parent span id,
 * flags, lower-case (`00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`).
 */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A W3C trace context `traceparent` ({@link TRACEPARENT_PATTERN}). */
export const TraceparentSchema = v.pipe(
  v.string(),
  v.regex(TRACEPARENT_PATTERN, "must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"),
);

/** A request: client → server, or server → node. */
export const RequestFrameSchema = v.object({
  type: v.literal("req"),
  id: FrameIdSchema,
  method: NameSchema,
  data: v.optional(v.unknown()),
  /** For forwarded calls such as `agent.run`: the node that should execute it. */
  target: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ID_LENGTH))),
  /**
   * The W3C trace context of the caller's span, when it traces: the gateway sets it on the calls it
   * makes to nodes (`node.invoke`, forwarded `agent.run`) so that a node's own spans join the trace;
   * a client may set it on its requests, and the gateway's span for the request is then its child.
   */
  traceparent: v.optional(TraceparentSchema),
});

/**
 * A response to the request with the same `id`. On failure `data` is null and `error` is set.
 * `id` is null only on an error answering a frame whose id could not be read (as in JSON-RPC).
 */
export const ResponseFrameSchema = v.pipe(
  v.object({
    type: v.literal("res"),
    id: v.nullable(FrameIdSchema),
    data: v.optional(v.unknown(), null),
    error: v.optional(v.nullable(ErrorShapeSchema), null),
  }),
  v.check((f) => f.error === null || f.data === null, "a failed response must have data: null"),
  v.check((f) => f.id !== null || f.error !== null, "only an error response may have id: null"),
);

/** A one-way notification, in either direction. `seq` increases per connection when present. */
export const EventFrameSchema = v.object({
  type: v.literal("event"),
  event: NameSchema,
  data: v.optional(v.unknown()),
  seq: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))),
});

/** Any frame, discriminated by `type`. */
export const FrameSchema = v.variant("type", [RequestFrameSchema, ResponseFrameSchema, EventFrameSchema]);

/** A request frame. */
export type RequestFrame = v.InferOutput<typeof RequestFrameSchema>;
/** A response frame. */
export type ResponseFrame = v.InferOutput<typeof ResponseFrameSchema>;
/** An event frame. */
export type EventFrame = v.InferOutput<typeof EventFrameSchema>;
/** Any frame. */
export type Frame = v.InferOutput<typeof FrameSchema>;
/** The three frame types. */
export type FrameType = Frame["type"];
