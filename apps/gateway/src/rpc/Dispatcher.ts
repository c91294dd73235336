import {
  isMethodName,
  METHODS,
  type MethodName,
  ProtocolError,
  parseParams,
  type RequestFrame,
  type Scope,
} from "@openclaw/protocol";
import type { IdempotentRunner } from "./Idempotency";

/** How long a client is told to wait before retrying a request refused while shutting down. */
export const SHUTTING_DOWN_RETRY_AFTER_MS = 1000;

/** What the dispatcher needs of the caller. */
export interface DispatchCaller {
  readonly scopes: ReadonlySet<Scope>;
  hasAnyScope(scopes: readonly Scope[]): boolean;
}

/** A handler as the dispatcher calls it: params already validated. */
export type DispatchHandler<C> = (
  params: unknown,
  context: { connection: C; frame: RequestFrame },
) => unknown;

/** Options of {@link createDispatcher}. */
export interface DispatcherOptions<C extends DispatchCaller> {
  /** The handlers, by method; a catalogue method without one answers `METHOD_NOT_FOUND`. */
  handlers: Readonly<Partial<Record<MethodName, DispatchHandler<C>>>>;
  /** Whether requests are accepted (false while shutting down). */
  isRunning: () => boolean;
  /** Runs requests carrying an `idempotencyKey` once per key. */
  idempotency: IdempotentRunner;
}

/** Runs one request of a connected caller and resolves with its result. */
export type Dispatch<C> = (caller: C, frame: RequestFrame) => Promise<unknown>;

/**
 * The request pipeline, in order: running → not `connect` → known method → scope → params →
 * forwardable → idempotency → handler. Authorization comes before validation, so a caller without the
 * scope learns nothing about the params.
 *
 * @param options - Handlers and checks.
 * @returns The dispatch function; it rejects with typed `ProtocolError`s.
 */
export function createDispatcher<C extends DispatchCaller>(options: DispatcherOptions<C>): Dispatch<C> {
  return async (caller, frame) => {
    if (!options.isRunning())
      throw new ProtocolError("SHUTTING_DOWN", "the gateway is shutting down", {
        details: { reason: "shutting_down", retryAfterMs: SHUTTING_DOWN_RETRY_AFTER_MS },
      });
    if (frame.method === "connect")
      throw new ProtocolError("CONFLICT", "already connected", { details: { reason: "already_connected" } });
    if (!isMethodName(frame.method)) {
      throw new ProtocolError("METHOD_NOT_FOUND", `unknown method "${frame.method}"`, {
        details: { reason: "unknown_method" },
      });
    }
    const method = frame.method;
    const definition = METHODS[method];
    if (!caller.hasAnyScope(definition.scopes)) {
      throw new ProtocolError("FORBIDDEN", `${method} needs ${definition.scopes.join(" or ")}`, {
        details: {
          reason: "missing_scope",
          required: [...definition.scopes],
          granted: [...caller.scopes],
          nextStep: definition.scopes.includes("operator.admin")
            ? "connect with the admin token (OPENCLAW_ADMIN_TOKEN)"
            : "connect with a token that grants this scope",
        },
      });
    }
    const params = parseParams(method, frame.data);
    if (!params.ok) throw params.error;
    if (frame.target !== undefined && !definition.forwardable) {
      throw new ProtocolError("INVALID_PARAMS", `${method} cannot be forwarded to a node`, {
        details: { reason: "target_not_allowed" },
      });
    }
    const handler = options.handlers[method];
    if (handler === undefined)
      throw new ProtocolError("METHOD_NOT_FOUND", `${method} is not available on this gateway`, {
        details: { reason: "not_implemented" },
      });
    const key = definition.idempotent
      ? (params.value as { idempotencyKey?: unknown }).idempotencyKey
      : undefined;
    const context = { connection: caller, frame };
    if (typeof key === "string")
      return options.idempotency.run(
        frame.target === undefined ? method : `${method}@${frame.target}`,
        key,
        () => handler(params.value, context),
      );
    return handler(params.value, context);
  };
}
