import type { Config, ConfigChangeEvent, ConfigInvalidEvent } from "@openclaw/config";
import { CloseCode, encodeError, ProtocolError } from "@openclaw/protocol";
import type { OperatorTokens } from "../auth/OperatorTokens";
import type { PairingManager } from "../auth/PairingManager";
import type { EventSink } from "../broadcast/Broadcaster";
import type { ChannelManager } from "../channels/ChannelManager";
import { withBuiltInChannels } from "../channels/webchat";
import type { Logger } from "../logging";
import type { Connection } from "../server/Connection";
import type { ConversationStore } from "../state/ConversationStore";

/** What applying a config change touches. */
export interface ConfigReactionsContext {
  readonly logger: Logger;
  readonly events: EventSink;
  /** Re-arms the heartbeat at a new interval. */
  armHeartbeat(intervalMs: number): void;
  /** Makes the scheduled tasks match `config.cron`. */
  reconcileCron(config: Config): Promise<void>;
  readonly pairing: Pick<PairingManager, "configure">;
  readonly tokens: Pick<OperatorTokens, "reload" | "level">;
  /** The connections, to end sessions whose token was rotated. */
  connections(): Iterable<Connection>;
  readonly conversations: Pick<ConversationStore, "enforceLimits">;
  /** Applies a new frame limit to new connections. */
  setMaxFrameBytes(maxFrameBytes: number): void;
  readonly channels: Pick<ChannelManager, "apply">;
}

/** The gateway's reactions to config reloads: each applied unit takes effect live. */
export class ConfigReactions {
  readonly #context: ConfigReactionsContext;

  constructor(context: ConfigReactionsContext) {
    this.#context = context;
  }

  /** An invalid config file: logged and told to operators; the active config stays. */
  readonly onInvalid = (event: ConfigInvalidEvent): void => {
    this.#context.logger.error(
      { file: event.file, issues: event.issues },
      "config file is invalid; keeping the active config",
    );
    this.#context.events.broadcast("config.invalid", event);
  };

  /** A config change: applies each unit, then tells operators `config.reloaded`. */
  readonly onChange = (event: ConfigChangeEvent): void => void this.apply(event);

  /** Applies a change's units. */
  async apply(event: ConfigChangeEvent): Promise<void> {
    const context = this.#context;
    const config: Config = event.config;
    for (const unit of event.diff.applied) {
      if (unit === "heartbeat") context.armHeartbeat(config.heartbeat.intervalMs);
      if (unit === "cron") await context.reconcileCron(config);
      if (unit === "logging") context.logger.level = config.logging.level;
      if (unit === "security") {
        context.pairing.configure(config.security.pairing);
        context.tokens.reload(config);
        this.#endRotatedSessions();
      }
      if (unit === "state.historyLimit" || unit === "conversations")
        for (const write of context.conversations.enforceLimits())
          write.catch((error: unknown) =>
            context.logger.error({ err: error }, "could not drop history beyond the new limits"),
          );
      if (unit === "gateway.maxFrameBytes") context.setMaxFrameBytes(config.gateway.maxFrameBytes);
    }
    const channels = event.diff.applied
      .filter((unit) => unit.startsWith("channels."))
      .map((unit) => unit.slice("channels.".length));
    if (channels.length > 0) await context.channels.apply(withBuiltInChannels(config.channels), channels);
    context.events.broadcast("config.reloaded", {
      hash: event.hash,
      applied: event.diff.applied,
      restartRequired: event.diff.restartRequired,
    });
    if (event.diff.restartRequired.length > 0)
      context.logger.warn(
        { restartRequired: event.diff.restartRequired },
        "config changes need a restart to take effect",
      );
  }

  /**
   * Ends the sessions whose token is no longer accepted (a reload rotated `security.token` or changed
   * `adminToken`): each gets an error frame with `details.reason: "token_rotated"` and a 1008 close.
   * Sessions whose token now grants less are closed too; they reconnect with what the new config
   * grants.
   */
  #endRotatedSessions(): void {
    const { tokens, logger } = this.#context;
    for (const connection of this.#context.connections()) {
      if (connection.state !== "ready") continue;
      if (connection.grant !== "admin" && connection.grant !== "operator") continue;
      if (tokens.level(connection.token) === connection.grant) continue;
      connection.send(
        encodeError(
          null,
          new ProtocolError("UNAUTHORIZED", "the token this session used was rotated", {
            details: { reason: "token_rotated", nextStep: "connect again with the current token" },
          }),
        ),
      );
      connection.close(CloseCode.PolicyViolation, "token rotated");
      logger.info(
        { connectionId: connection.id, address: connection.remoteAddress, grant: connection.grant },
        "session closed: its token was rotated",
      );
    }
  }
}
