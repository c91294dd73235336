import type { ChannelState, InboundMessage } from "@openclaw/protocol";
import { ChannelError } from "../ChannelError";
import type { ChannelContext, ChannelLogger } from "../types";

/** A {@link ChannelContext} for tests that records what the plugin does with it. */
export interface TestContext<C> extends ChannelContext<C> {
  /** Every message emitted and taken, in order (a refused emit is not here). */
  readonly emitted: InboundMessage[];
  /** Every message whose emit was refused (see {@link TestContext.refuseNextEmits}), in order. */
  readonly refused: InboundMessage[];
  /** Every status reported, in order. */
  readonly statuses: ChannelState[];
  /** Every log line, in order. */
  readonly logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  /** Aborts `signal`, as the gateway does when it destroys the channel. */
  abort(): void;
  /**
   * Makes the next `count` emits reject with `HOST_UNAVAILABLE`, as the gateway's do when it cannot
   * record a message (a full disk): the plugin must have the platform redeliver them.
   *
   * @param count - How many emits to refuse.
   */
  refuseNextEmits(count: number): void;
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
  const refused: InboundMessage[] = [];
  let refusing = 0;
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
    refused,
    statuses,
    logs,
    logger,
    signal: controller.signal,
    emit: (message) => {
      if (refusing > 0) {
        refusing--;
        refused.push(message as InboundMessage);
        return Promise.reject(
          new ChannelError("HOST_UNAVAILABLE", "the test host refuses this message (as on a full disk)"),
        );
      }
      emitted.push(message as InboundMessage);
      return Promise.resolve();
    },
    setStatus: (state) => statuses.push(state),
    abort: () => controller.abort(),
    refuseNextEmits: (count) => {
      refusing += count;
    },
  };
}
