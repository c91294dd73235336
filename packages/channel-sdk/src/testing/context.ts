import type { ChannelState, InboundMessage } from "@openclaw/protocol";
import type { ChannelContext, ChannelLogger } from "../types";

/** A {@link ChannelContext} for tests that records what the plugin does with it. */
export interface TestContext<C> extends ChannelContext<C> {
  /** Every message emitted, in order. */
  readonly emitted: InboundMessage[];
  /** Every status reported, in order. */
  readonly statuses: ChannelState[];
  /** Every log line, in order. */
  readonly logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  /** Aborts `signal`, as the gateway does when it destroys the channel. */
  abort(): void;
}

/**
 * Makes a context that records emits, statuses and logs.
 *
 * @param channel - The channel's name.
 * @param config - Its settings.
 * @returns The recording context.
 */
export function createTestContext<C>(channel: string, config: C): TestContext<C> {
  const controller = new AbortController();
  const emitted: InboundMessage[] = [];
  const statuses: ChannelState[] = [];
  const logs: TestContext<C>["logs"] = [];
  const log =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      logs.push(fields === undefined ? { level, message } : { level, message, fields });
    };
  const logger: ChannelLogger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
  return {
    channel,
    config,
    emitted,
    statuses,
    logs,
    logger,
    signal: controller.signal,
    emit: (message) => {
      emitted.push(message as InboundMessage);
      return Promise.resolve();
    },
    setStatus: (state) => statuses.push(state),
    abort: () => controller.abort(),
  };
}
