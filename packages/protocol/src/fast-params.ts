import { MAX_ID_LENGTH } from "./constants";
import type { MethodName, MethodParams } from "./methods";

type Fast<M extends MethodName> = (data: unknown) => MethodParams<M> | undefined;

const CHANNEL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SEND_KEYS: ReadonlySet<string> = new Set(["recipient", "channel", "text", "replyTo", "idempotencyKey"]);

const isString = (value: unknown, min: number, max: number): value is string =>
  typeof value === "string" && value.length >= min && value.length <= max;

/**
 * Hand-written validators for the hottest methods' common shapes, used by {@link parseParams}
 * before valibot. Each accepts a subset of what the method's schema accepts and returns exactly the
 * schema's output for it, or `undefined` to let the schema decide (and build the detailed error).
 * A differential property test (`fast-params.test.ts`) keeps them equal to the schemas.
 *
 * @internal
 */
export const FAST_PARAMS: { readonly [M in MethodName]?: Fast<M> } = {
  ping: (data) => {
    if (data === undefined) return {};
    if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
    const keys = Object.keys(data);
    if (keys.length === 0) return {};
    if (keys.length !== 1 || keys[0] !== "ts") return undefined;
    const ts = (data as { ts: unknown }).ts;
    return Number.isSafeInteger(ts) && (ts as number) >= 0 ? { ts: ts as number } : undefined;
  },

  // The common shape: recipient, text, and optionally channel, replyTo and idempotencyKey.
  "message.send": (data) => {
    if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
    const d = data as Record<string, unknown>;
    for (const key in d) if (!SEND_KEYS.has(key)) return undefined;
    const { recipient, channel, text, replyTo, idempotencyKey } = d;
    if (!isString(recipient, 1, 512) || !isString(text, 1, 100_000)) return undefined;
    const out: MethodParams<"message.send"> = { recipient };
    if ("channel" in d) {
      if (typeof channel !== "string" || !CHANNEL_NAME.test(channel)) return undefined;
      out.channel = channel;
    }
    out.text = text;
    if ("replyTo" in d) {
      if (!isString(replyTo, 1, MAX_ID_LENGTH)) return undefined;
      out.replyTo = replyTo;
    }
    if ("idempotencyKey" in d) {
      if (!isString(idempotencyKey, 1, 200)) return undefined;
      out.idempotencyKey = idempotencyKey;
    }
    return out;
  },
};
