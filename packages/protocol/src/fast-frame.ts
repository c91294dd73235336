import { MAX_ID_LENGTH, MAX_NAME_LENGTH } from "./constants";
import type { Frame } from "./frames";
import { NAME_PATTERN, TRACEPARENT_PATTERN } from "./frames";

/**
 * The hot path of {@link parseFrame}: accepts exactly the frames `FrameSchema` accepts and
 * returns the same output, in a fraction of valibot's time. It returns `undefined` for anything
 * it does not accept, and the caller then runs `FrameSchema` to build the detailed error.
 * A differential property test (`fast-frame.test.ts`) keeps the two in agreement.
 *
 * @internal
 */
export function readFrameFast(value: Record<string, unknown>): Frame | undefined {
  switch (value.type) {
    case "req": {
      const { id, method, target, traceparent } = value;
      if (!isId(id) || !isName(method)) return undefined;
      if (target !== undefined && !isId(target)) return undefined;
      if (
        traceparent !== undefined &&
        (typeof traceparent !== "string" || !TRACEPARENT_PATTERN.test(traceparent))
      )
        return undefined;
      const frame: Frame = { type: "req", id, method };
      if ("data" in value) frame.data = value.data;
      if ("target" in value) frame.target = target as string;
      if ("traceparent" in value) frame.traceparent = traceparent as string;
      return frame;
    }
    case "res": {
      const { id } = value;
      const data = value.data === undefined ? null : value.data;
      const rawError = value.error === undefined ? null : value.error;
      if (id !== null && !isId(id)) return undefined;
      let error: { code: string; message: string; details?: unknown } | null = null;
      if (rawError !== null) {
        if (typeof rawError !== "object" || Array.isArray(rawError)) return undefined;
        const { code, message } = rawError as Record<string, unknown>;
        if (typeof code !== "string" || code.length === 0 || code.length > MAX_NAME_LENGTH) return undefined;
        if (typeof message !== "string" || message.length > 4096) return undefined;
        error = { code, message };
        if ("details" in rawError) error.details = (rawError as { details?: unknown }).details;
        if (data !== null) return undefined;
      } else if (id === null) {
        return undefined;
      }
      return { type: "res", id, data, error };
    }
    case "event": {
      const { event, seq } = value;
      if (!isName(event)) return undefined;
      if (seq !== undefined && !(Number.isSafeInteger(seq) && (seq as number) >= 0)) return undefined;
      const frame: Frame = { type: "event", event };
      if ("data" in value) frame.data = value.data;
      if ("seq" in value) frame.seq = seq as number;
      return frame;
    }
    default:
      return undefined;
  }
}

function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function isName(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length > 0 &&
    value.length <= MAX_NAME_LENGTH &&
    NAME_PATTERN.test(value)
  );
}
