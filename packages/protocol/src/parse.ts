import * as v from "valibot";
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_DEPTH, MAX_ID_LENGTH } from "./constants";
import { type ErrorCode, type ErrorDetails, ProtocolError } from "./errors";
import { EVENTS, type EventData, type EventName, isEventName } from "./events";
import { readFrameFast } from "./fast-frame";
import { FAST_PARAMS } from "./fast-params";
import { type Frame, FrameSchema } from "./frames";
import { isMethodName, METHODS, type MethodName, type MethodParams, type MethodResult } from "./methods";

/** Limits applied by {@link parseFrame}. */
export interface ParseFrameOptions {
  /**
   * Largest accepted frame, in bytes of UTF-8.
   * @defaultValue {@link DEFAULT_MAX_FRAME_BYTES} (1 MiB)
   */
  maxBytes?: number;
  /**
   * Deepest accepted nesting of objects and arrays.
   * @defaultValue {@link DEFAULT_MAX_FRAME_DEPTH} (64)
   */
  maxDepth?: number;
}

/** The defaults of {@link ParseFrameOptions}. */
export const DEFAULT_PARSE_FRAME_OPTIONS: Readonly<Required<ParseFrameOptions>> = Object.freeze({
  maxBytes: DEFAULT_MAX_FRAME_BYTES,
  maxDepth: DEFAULT_MAX_FRAME_DEPTH,
});

/** The outcome of {@link parseFrame}: a valid frame, or a typed error and whatever id could be read. */
export type ParseFrameResult =
  | { readonly ok: true; readonly frame: Frame }
  | {
      readonly ok: false;
      readonly error: ProtocolError;
      /** The frame's id when it could be read, so the error can answer the right request. */
      readonly id: string | null;
    };

/** Reasons {@link parseFrame} gives in `error.details.reason`. */
export const FrameRejectReason = {
  tooLarge: "too_large",
  invalidUtf8: "invalid_utf8",
  invalidJson: "invalid_json",
  notAnObject: "not_an_object",
  tooDeep: "too_deep",
  forbiddenKey: "forbidden_key",
  unknownType: "unknown_type",
  missingId: "missing_id",
  invalidField: "invalid_field",
} as const;

const MAX_REPORTED_ISSUES = 10;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses and validates one frame from the wire. Never throws: hostile input (invalid JSON or UTF-8,
 * oversize, deep nesting, `__proto__` keys, wrong types, unknown frame types, missing ids) yields
 * `{ ok: false }` with a {@link ProtocolError} whose `details.reason` names what was wrong.
 *
 * @param input - A text frame, or the bytes of one.
 * @param options - Size and depth limits.
 * @returns The frame, or a typed error plus the frame's id when it could be read.
 *
 * @example
 * ```ts
 * const parsed = parseFrame(message);
 * if (!parsed.ok) socket.send(encodeError(parsed.id, parsed.error));
 * ```
 */
export function parseFrame(
  input: string | Uint8Array | ArrayBuffer,
  options?: ParseFrameOptions,
): ParseFrameResult {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_FRAME_DEPTH;

  let text: string;
  if (typeof input === "string") {
    // UTF-8 never takes fewer bytes than UTF-16 code units, nor more than three per unit.
    if (input.length > maxBytes || (input.length * 3 > maxBytes && utf8ByteLength(input) > maxBytes)) {
      return tooLarge(maxBytes);
    }
    text = input;
  } else {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    if (bytes.byteLength > maxBytes) return tooLarge(maxBytes);
    try {
      text = utf8.decode(bytes);
    } catch {
      return reject("INVALID_FRAME", "frame is not valid UTF-8", FrameRejectReason.invalidUtf8);
    }
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return reject(
      "INVALID_FRAME",
      `frame is not valid JSON: ${(error as Error).message}`,
      FrameRejectReason.invalidJson,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return reject("INVALID_FRAME", "frame must be a JSON object", FrameRejectReason.notAnObject);
  }

  const structural = checkStructure(text, value, maxDepth);
  if (structural !== undefined) return { ok: false, error: structural, id: readId(value) };

  const fast = readFrameFast(value as Record<string, unknown>);
  if (fast !== undefined) return { ok: true, frame: fast };
  const result = v.safeParse(FrameSchema, value);
  if (result.success) return { ok: true, frame: result.output };
  return { ok: false, error: frameError(value, result.issues), id: readId(value) };
}

/** The outcome of validating a method's params or result against the catalogue. */
export type ValidationOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ProtocolError };

/**
 * Validates a request's `data` against the method catalogue.
 *
 * @param method - The requested method name.
 * @param data - The request's `data`.
 * @returns The validated params (defaults applied), `METHOD_NOT_FOUND`, or `INVALID_PARAMS` with the issues.
 */
export function parseParams<M extends MethodName>(
  method: M,
  data: unknown,
): ValidationOutcome<MethodParams<M>>;
export function parseParams(method: string, data: unknown): ValidationOutcome<unknown>;
export function parseParams(method: string, data: unknown): ValidationOutcome<unknown> {
  if (!isMethodName(method)) {
    return {
      ok: false,
      error: new ProtocolError("METHOD_NOT_FOUND", `unknown method "${truncate(method)}"`, {
        details: { reason: "unknown_method", method: truncate(method) },
      }),
    };
  }
  // The hottest methods' common shapes skip valibot (a differential test keeps them equal).
  const fast = (FAST_PARAMS[method] as ((input: unknown) => unknown) | undefined)?.(data);
  if (fast !== undefined) return { ok: true, value: fast };
  const result = v.safeParse(METHODS[method].params, data);
  if (result.success) return { ok: true, value: result.output };
  return {
    ok: false,
    error: issuesError("INVALID_PARAMS", `invalid params for ${method}`, "invalid_params", result.issues),
  };
}

/**
 * Validates a response's `data` against the method catalogue (clients use it to check servers).
 *
 * @param method - The method that was called.
 * @param data - The response's `data`.
 * @returns The validated result, or `INVALID_FRAME` with the issues.
 */
export function parseResult<M extends MethodName>(
  method: M,
  data: unknown,
): ValidationOutcome<MethodResult<M>> {
  const result = v.safeParse(METHODS[method].result, data);
  if (result.success) return { ok: true, value: result.output as MethodResult<M> };
  return {
    ok: false,
    error: issuesError("INVALID_FRAME", `invalid result for ${method}`, "invalid_result", result.issues),
  };
}

/**
 * Validates an event's `data` against the event catalogue.
 *
 * @param event - The event name.
 * @param data - The event's `data`.
 * @returns The validated payload, or `INVALID_FRAME` (unknown event or wrong payload).
 */
export function parseEventData<E extends EventName>(event: E, data: unknown): ValidationOutcome<EventData<E>>;
export function parseEventData(event: string, data: unknown): ValidationOutcome<unknown>;
export function parseEventData(event: string, data: unknown): ValidationOutcome<unknown> {
  if (!isEventName(event)) {
    return {
      ok: false,
      error: new ProtocolError("INVALID_FRAME", `unknown event "${truncate(event)}"`, {
        details: { reason: "unknown_event" },
      }),
    };
  }
  const result = v.safeParse(EVENTS[event].data, data);
  if (result.success) return { ok: true, value: result.output };
  return {
    ok: false,
    error: issuesError("INVALID_FRAME", `invalid payload for event ${event}`, "invalid_event", result.issues),
  };
}

function reject(code: ErrorCode, message: string, reason: string, extra?: ErrorDetails): ParseFrameResult {
  return { ok: false, error: new ProtocolError(code, message, { details: { reason, ...extra } }), id: null };
}

function tooLarge(maxBytes: number): ParseFrameResult {
  return reject("PAYLOAD_TOO_LARGE", `frame exceeds ${maxBytes} bytes`, FrameRejectReason.tooLarge, {
    maxBytes,
  });
}

function readId(value: object): string | null {
  const id = (value as { id?: unknown }).id;
  return typeof id === "string" && id.length > 0 && id.length <= MAX_ID_LENGTH ? id : null;
}

function frameError(value: object, issues: readonly v.BaseIssue<unknown>[]): ProtocolError {
  const frame = value as { type?: unknown; id?: unknown };
  if (frame.type !== "req" && frame.type !== "res" && frame.type !== "event") {
    return new ProtocolError("INVALID_FRAME", 'frame "type" must be "req", "res" or "event"', {
      details: { reason: FrameRejectReason.unknownType },
    });
  }
  if (frame.type !== "event" && frame.id === undefined) {
    return new ProtocolError("INVALID_FRAME", `a "${frame.type}" frame needs an "id"`, {
      details: { reason: FrameRejectReason.missingId },
    });
  }
  return issuesError(
    "INVALID_FRAME",
    `invalid "${frame.type}" frame`,
    FrameRejectReason.invalidField,
    issues,
  );
}

function issuesError(
  code: ErrorCode,
  message: string,
  reason: string,
  issues: readonly v.BaseIssue<unknown>[],
): ProtocolError {
  const reported = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => ({
    path: v.getDotPath(issue) ?? "",
    message: issue.message,
  }));
  const first = reported[0];
  const summary =
    first === undefined
      ? message
      : `${message}: ${first.path === "" ? "" : `${first.path}: `}${first.message}`;
  return new ProtocolError(code, summary, { details: { reason, issues: reported } });
}

/**
 * Rejects nesting deeper than `maxDepth` and keys that enable prototype pollution
 * (`__proto__`, and `prototype` under `constructor`). Cheap text scans decide whether the
 * parsed value needs walking at all, so ordinary frames pay almost nothing.
 */
function checkStructure(text: string, value: object, maxDepth: number): ProtocolError | undefined {
  const mayBeTooDeep = countOpenings(text, maxDepth + 1) > maxDepth;
  const mayHaveForbiddenKey =
    text.includes("__proto__") || text.includes("prototype") || text.includes("\\u");
  if (!mayBeTooDeep && !mayHaveForbiddenKey) return undefined;

  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > maxDepth) {
      return new ProtocolError("INVALID_FRAME", `frame nests deeper than ${maxDepth} levels`, {
        details: { reason: FrameRejectReason.tooDeep, maxDepth },
      });
    }
    if (Array.isArray(node)) {
      for (const item of node) {
        if (typeof item === "object" && item !== null) stack.push({ node: item, depth: depth + 1 });
      }
      continue;
    }
    for (const key of Object.keys(node)) {
      const child = (node as Record<string, unknown>)[key];
      if (
        key === "__proto__" ||
        (key === "constructor" && isObject(child) && Object.hasOwn(child, "prototype"))
      ) {
        return new ProtocolError("INVALID_FRAME", `frame contains forbidden key "${key}"`, {
          details: { reason: FrameRejectReason.forbiddenKey, key },
        });
      }
      if (isObject(child)) stack.push({ node: child, depth: depth + 1 });
    }
  }
  return undefined;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}

/** Counts `{` and `[` in `text`, stopping once `limit` is reached. */
function countOpenings(text: string, limit: number): number {
  let count = 0;
  let at = text.indexOf("{");
  while (at !== -1 && count < limit) {
    count += 1;
    at = text.indexOf("{", at + 1);
  }
  at = text.indexOf("[");
  while (at !== -1 && count < limit) {
    count += 1;
    at = text.indexOf("[", at + 1);
  }
  return count;
}

/** UTF-8 length of a string without allocating (lone surrogates count as the 3-byte U+FFFD). */
function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
