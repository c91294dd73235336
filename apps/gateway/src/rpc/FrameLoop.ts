import type { EventFrame, RequestFrame, ResponseFrame } from "@openclaw/protocol";
import {
  CloseCode,
  encodeError,
  encodeResult,
  isMethodName,
  ProtocolError,
  parseFrame,
  toProtocolError,
} from "@openclaw/protocol";
import type { Logger } from "../logging";
import type { Metrics } from "../metrics/Metrics";
import type { Connection } from "../server/Connection";
import { contextOf, failSpan, runWithin, SpanKind, startSpan, tracingActive } from "../telemetry/tracing";
import type { Dispatch } from "./Dispatcher";

/** Options of a {@link FrameLoop}. */
export interface FrameLoopOptions {
  readonly logger: Logger;
  /** The largest frame accepted, read at each frame. */
  maxFrameBytes(): number;
  /** Answers the first frame, a `connect`. */
  handshake(connection: Connection, frame: RequestFrame): Promise<void>;
  /** Runs a request of a connected client. */
  dispatch: Dispatch<Connection>;
  /** A node's answer to a call the gateway made. */
  onNodeResponse(nodeId: string, frame: ResponseFrame): void;
  /** An event a node sent. */
  onNodeEvent(nodeId: string, frame: EventFrame): void;
  /** Records handshakes and each request's latency by method and outcome code. @defaultValue none */
  readonly metrics?: Pick<Metrics, "request" | "handshake"> | undefined;
}

/**
 * Each connection's frames: rejects binary and malformed frames, requires `connect` first, routes
 * nodes' responses and events, rate-limits requests, dispatches them and answers, counting the
 * requests in flight so that a shutdown can wait for them.
 */
export class FrameLoop {
  readonly #options: FrameLoopOptions;
  #inflight = 0;
  #idle: (() => void) | undefined;

  constructor(options: FrameLoopOptions) {
    this.#options = options;
  }

  /** Requests being answered now. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Resolves once no request is in flight, or after `timeoutMs`, whichever comes first.
   *
   * @param timeoutMs - The longest wait.
   */
  async drained(timeoutMs: number): Promise<void> {
    if (this.#inflight === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolveIdle) => {
        this.#idle = resolveIdle;
      }),
      new Promise<void>((resolveTimeout) => {
        timer = setTimeout(resolveTimeout, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Handles one message of a connection. Never rejects. */
  async receive(connection: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    if (connection.state === "closed") return;
    const handshaking = connection.state === "handshaking";
    if (isBinary) {
      connection.send(
        encodeError(
          null,
          new ProtocolError("INVALID_FRAME", "binary frames are not accepted; send JSON text frames", {
            details: { reason: "binary_frame" },
          }),
        ),
      );
      if (handshaking) connection.close(CloseCode.PolicyViolation, "binary frame before connect");
      return;
    }
    const parsed = parseFrame(data, { maxBytes: this.#options.maxFrameBytes() });
    if (!parsed.ok) {
      connection.send(encodeError(parsed.id, parsed.error));
      if (handshaking) connection.close(CloseCode.PolicyViolation, "invalid frame before connect");
      return;
    }
    const frame = parsed.frame;
    if (handshaking) {
      if (frame.type !== "req" || frame.method !== "connect") {
        const id = frame.type === "event" ? null : frame.id;
        connection.send(
          encodeError(
            id,
            new ProtocolError("UNAUTHORIZED", "the first frame must be a connect request", {
              details: {
                reason: "connect_first",
                nextStep: 'send {type:"req", method:"connect", ...} first',
              },
            }),
          ),
        );
        connection.close(CloseCode.PolicyViolation, "connect first");
        return;
      }
      await this.#options.handshake(connection, frame);
      if (connection.grant !== undefined) this.#options.metrics?.handshake(connection.role);
      return;
    }
    if (frame.type === "res") {
      if (connection.nodeId !== undefined) this.#options.onNodeResponse(connection.nodeId, frame);
      return;
    }
    if (frame.type === "event") {
      if (connection.nodeId !== undefined) this.#options.onNodeEvent(connection.nodeId, frame);
      return;
    }
    const metrics = this.#options.metrics;
    const startedAt = metrics === undefined ? 0 : performance.now();
    const wait = connection.limiter.take();
    if (wait > 0) {
      connection.send(
        encodeError(
          frame.id,
          new ProtocolError("RATE_LIMITED", "too many requests on this connection", {
            details: { reason: "connection_rate_limit", retryAfterMs: wait },
          }),
        ),
      );
      metrics?.request(frame.method, "RATE_LIMITED", startedAt);
      return;
    }
    this.#inflight += 1;
    let code = "OK";
    // `rpc <method>`, a child of the caller's `traceparent` when it sent one.
    const traced = tracingActive()
      ? startSpan(
          `rpc ${isMethodName(frame.method) ? frame.method : "other"}`,
          {
            "rpc.system": "openclaw",
            "rpc.method": isMethodName(frame.method) ? frame.method : "other",
            "openclaw.connection.role": connection.role ?? "unknown",
          },
          { kind: SpanKind.SERVER, parent: contextOf(frame.traceparent) },
        )
      : undefined;
    try {
      const result =
        traced === undefined
          ? await this.#options.dispatch(connection, frame)
          : await runWithin(traced.context, () => this.#options.dispatch(connection, frame));
      connection.send(encodeResult(frame.id, result));
    } catch (error) {
      const failure = toProtocolError(error);
      code = failure.code;
      if (failure.code === "INTERNAL")
        this.#options.logger.error({ err: error, method: frame.method }, "method failed");
      connection.send(encodeError(frame.id, failure));
      if (traced !== undefined) failSpan(traced.span, failure);
    } finally {
      if (traced !== undefined) {
        traced.span.setAttribute("openclaw.outcome", code);
        traced.span.end();
      }
      metrics?.request(frame.method, code, startedAt);
      this.#inflight -= 1;
      if (this.#inflight === 0) this.#idle?.();
    }
  }
}
