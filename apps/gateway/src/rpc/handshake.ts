import type { ConfigManager } from "@openclaw/config";
import type { NodeRegistry } from "@openclaw/node-registry";
import {
  CloseCode,
  type ConnectParams,
  EVENT_NAMES,
  EVENTS,
  encodeError,
  encodeResult,
  METHOD_NAMES,
  METHODS,
  type MethodResult,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ProtocolError,
  parseParams,
  type RequestFrame,
  type Scope,
} from "@openclaw/protocol";
import type { AuthFailures } from "../auth/guards";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import type { Connection, Grant, Session } from "../server/Connection";
import type { ConnectionHub } from "../server/ConnectionHub";
import { RateLimiter } from "../server/RateLimiter";
import { GATEWAY_NAME, GATEWAY_VERSION } from "../version";

/** The scopes each grant gives. */
export const SCOPES_OF_GRANT: Readonly<Record<Grant, readonly Scope[]>> = {
  admin: ["operator.read", "operator.write", "operator.admin"],
  operator: ["operator.read", "operator.write"],
  node: ["node"],
  pairing: ["pairing"],
};

/** How long a device refused a pairing slot should wait before reconnecting. */
export const PAIRING_SLOT_RETRY_AFTER_MS = 5000;

/** What the handshake needs: the token check, paired devices, the node registry and the slots. */
export interface HandshakeContext {
  /** The config in force (`security`, `heartbeat`, `gateway.maxFrameBytes`). */
  readonly config: Pick<ConfigManager, "get">;
  readonly logger: Logger;
  /** The level a token grants, if any. */
  isOperatorToken(token: string | undefined): "admin" | "operator" | undefined;
  /** Paired devices. */
  readonly devices: {
    authenticate(deviceToken: string): { nodeId: string; displayName?: string } | undefined;
    touch(nodeId: string): void;
  };
  readonly registry: Pick<NodeRegistry, "register">;
  readonly hub: Pick<
    ConnectionHub,
    "pairingSlots" | "holdPairingSlot" | "reclaimPairingSlot" | "releaseSlot" | "ready"
  >;
  /** Failed logins by address: each refusal counts. */
  readonly authFailures: Pick<AuthFailures, "refuse">;
  /** Counts handshakes and refusals. @defaultValue none */
  readonly metrics?: Metrics | undefined;
}

/**
 * Answers a connection's `connect`: checks the protocol version and the credentials (operator
 * token, device token, or none to pair), grants scopes and answers `hello`, or refuses with a typed
 * error and closes.
 *
 * @param context - What the handshake needs.
 * @param connection - The handshaking connection.
 * @param frame - Its `connect` request.
 */
export async function handshake(
  context: HandshakeContext,
  connection: Connection,
  frame: RequestFrame,
): Promise<void> {
  const refuse = (error: ProtocolError) => {
    context.metrics?.refused("handshake", error.details?.reason ?? error.code.toLowerCase());
    connection.send(encodeError(frame.id, error));
    connection.close(
      error.code === "OVERLOADED" ? CloseCode.TryAgainLater : CloseCode.PolicyViolation,
      error.code === "UNSUPPORTED_PROTOCOL"
        ? "unsupported protocol"
        : error.code === "OVERLOADED"
          ? "too many connections"
          : "unauthorized",
    );
  };
  const tooOld = (protocol: number) =>
    new ProtocolError(
      "UNSUPPORTED_PROTOCOL",
      `protocol ${protocol} is not supported (this gateway speaks ${MIN_PROTOCOL_VERSION}-${PROTOCOL_VERSION})`,
      { details: { reason: "protocol_too_old", supported: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] } },
    );
  // The version is checked before the rest, so an old or bogus one gets its own answer.
  const requested = (frame.data as { protocol?: unknown } | undefined)?.protocol;
  if (typeof requested === "number" && (requested < MIN_PROTOCOL_VERSION || !Number.isInteger(requested)))
    return refuse(tooOld(requested));
  const parsed = parseParams("connect", frame.data);
  if (!parsed.ok) return refuse(parsed.error);
  const params: ConnectParams = parsed.value;
  if (params.protocol < MIN_PROTOCOL_VERSION) return refuse(tooOld(params.protocol));
  const config = context.config.get();
  let grant: Grant;
  let nodeId: string | undefined;
  let token: string | undefined;
  let displayName = params.displayName;
  if (params.role === "operator") {
    token = params.token ?? connection.bearerToken;
    const level = context.isOperatorToken(token);
    if (level === undefined) {
      const reason = token === undefined ? "token_missing" : "token_mismatch";
      loginFailed(context, connection, reason);
      return refuse(
        new ProtocolError("UNAUTHORIZED", token === undefined ? "a token is required" : "token rejected", {
          details: {
            reason,
            nextStep:
              "set OPENCLAW_GATEWAY_TOKEN or pass the token in connect (it is in the gateway's state dir, file gateway-token)",
          },
        }),
      );
    }
    grant = level;
  } else if (params.deviceToken !== undefined) {
    const device = context.devices.authenticate(params.deviceToken);
    if (device === undefined || (params.nodeId !== undefined && params.nodeId !== device.nodeId)) {
      loginFailed(context, connection, "device_token_invalid");
      return refuse(
        new ProtocolError("UNAUTHORIZED", "device token rejected", {
          details: {
            reason: "device_token_invalid",
            nextStep: "pair this device again: connect without a device token and call pairing.start",
          },
        }),
      );
    }
    grant = "node";
    nodeId = device.nodeId;
    displayName ??= device.displayName;
  } else {
    // Unauthenticated, to pair: limited in number, per source and in all (shared fairly among the
    // sources: a source holding fewer than the busiest one takes the busiest one's oldest), in time.
    const limits = config.security.pairing;
    const slots = context.hub.pairingSlots;
    if (slots.from(connection.source) >= limits.maxConnectionsPerSource)
      return refuse(
        new ProtocolError("OVERLOADED", "too many pairing connections from this address", {
          details: {
            reason: "too_many_pairing_connections_from_source",
            limit: limits.maxConnectionsPerSource,
            retryAfterMs: PAIRING_SLOT_RETRY_AFTER_MS,
          },
        }),
      );
    if (slots.total >= limits.maxConnections && !context.hub.reclaimPairingSlot(connection.source))
      return refuse(
        new ProtocolError("OVERLOADED", "too many pairing connections", {
          details: {
            reason: "too_many_pairing_connections",
            limit: limits.maxConnections,
            retryAfterMs: PAIRING_SLOT_RETRY_AFTER_MS,
          },
        }),
      );
    grant = "pairing";
  }
  if (grant === "pairing") {
    context.hub.holdPairingSlot(connection);
    const perMinute = config.security.pairing.startsPerMinute;
    connection.pairingLimiter = new RateLimiter(perMinute / 60, perMinute);
    // A pairing connection lives as long as a code does; the device reconnects to try again.
    const ttlMs = config.security.pairing.codeTtlMs;
    clearTimeout(connection.handshakeTimer);
    connection.handshakeTimer = setTimeout(() => {
      connection.send(
        encodeError(
          null,
          new ProtocolError("UNAUTHORIZED", `pairing connections last ${ttlMs} ms`, {
            details: { reason: "pairing_expired", nextStep: "reconnect and start pairing again" },
          }),
        ),
      );
      connection.close(CloseCode.PolicyViolation, "pairing window expired");
    }, ttlMs);
    connection.handshakeTimer.unref?.();
  } else {
    context.hub.releaseSlot(connection);
    clearTimeout(connection.handshakeTimer);
  }
  const session: Session = {
    grant,
    token,
    role: params.role,
    scopes: new Set(SCOPES_OF_GRANT[grant]),
    client: params.client,
    nodeId,
  };
  context.hub.ready(connection, session);
  if (nodeId !== undefined) {
    context.devices.touch(nodeId);
    context.registry.register(
      nodeId,
      connection.socket,
      params.capabilities ?? [],
      displayName === undefined ? { client: params.client } : { client: params.client, displayName },
    );
  }
  const hello: MethodResult<"connect"> = {
    protocol: Math.min(params.protocol, PROTOCOL_VERSION),
    server: { name: GATEWAY_NAME, version: GATEWAY_VERSION },
    connectionId: connection.id,
    role: params.role,
    scopes: [...connection.scopes],
    methods: METHOD_NAMES.filter(
      (name) => name === "connect" || connection.hasAnyScope(METHODS[name].scopes),
    ),
    events: EVENT_NAMES.filter((name) => connection.hasAnyScope(EVENTS[name].scopes)),
    heartbeatMs: config.heartbeat.intervalMs,
    limits: { maxFrameBytes: config.gateway.maxFrameBytes },
  };
  if (nodeId !== undefined) hello.nodeId = nodeId;
  connection.send(encodeResult(frame.id, hello));
  // Debug, not info: a connect storm of thousands of clients must not become a log storm.
  context.logger.debug(
    { connectionId: connection.id, role: params.role, grant, client: params.client.name, nodeId },
    "client connected",
  );
}

/** Counts a refused login against the source, and logs it. */
function loginFailed(context: HandshakeContext, connection: Connection, reason: string): void {
  context.authFailures.refuse(connection.source, reason, "websocket");
}
