import {
  type ChannelCapability,
  type ChannelState,
  InboundMessageSchema,
  type MessageContent,
  MessageContentSchema,
} from "@openclaw/protocol";
import * as v from "valibot";
import { ChannelError, toChannelError } from "./ChannelError";
import { degradeContent, splitText } from "./content";
import { isHostUnavailable } from "./emitRetry";
import type {
  ChannelContext,
  ChannelHealth,
  ChannelLimits,
  ChannelPlacement,
  ChannelPlugin,
  ChannelPluginFactory,
  SendOptions,
  SendResult,
  WebhookRequest,
  WebhookResponse,
} from "./types";

/** The per-instance part a plugin author writes; `defineChannel` wraps it. */
export interface ChannelImplementation<C> {
  /** Connect, start polling, or register the webhook. Throw a `ChannelError` to fail. */
  start(context: ChannelContext<C>): Promise<void> | void;
  /**
   * Send one message. The content is already adapted to the channel's capabilities and its text
   * is at most `limits.maxTextLength` long (longer text arrives as several calls).
   */
  send(recipient: string, content: MessageContent, options: SendOptions): Promise<SendResult> | SendResult;
  /** Handle a webhook; verify its signature first (see the signature helpers). */
  webhook?(request: WebhookRequest): Promise<WebhookResponse> | WebhookResponse;
  /** Release everything: abort requests, close sockets, clear timers. */
  stop(): Promise<void> | void;
  /** Extra facts for `channel.status` (no secrets). */
  details?(): Record<string, unknown>;
}

/** What `defineChannel` needs to know about a plugin. */
export interface ChannelDefinition<S extends v.GenericSchema> {
  /** The plugin's name, e.g. `telegram`. */
  name: string;
  capabilities: readonly ChannelCapability[];
  limits?: ChannelLimits;
  /** Schema of the channel's settings; the gateway validates each configured channel with it. */
  config: S;
  /** Whether the plugin receives webhooks (then `create()` must return a `webhook` handler). */
  webhooks?: boolean;
  /**
   * Where the channel runs in a cluster of gateway instances (see {@link ChannelPlacement}): a
   * placement or a function of the validated settings.
   * @defaultValue `"leased"`: one instance at a time
   */
  placement?: ChannelPlacement | ((config: v.InferOutput<S>) => ChannelPlacement);
  /** Makes the per-instance implementation. Called once per `create()`. */
  create(): ChannelImplementation<v.InferOutput<S>>;
}

/**
 * Builds a channel plugin factory from a small definition. The plugin it makes:
 * - validates its settings with `config` (`ChannelError` `INVALID_CONFIG` naming each path);
 * - adapts content to `capabilities` (Markdown to plain text, buttons to text, media to links) and
 *   splits long text at `limits.maxTextLength`;
 * - tracks health (`connecting` → `ready`, `down` with the last error, `stopped`);
 * - turns anything thrown into a `ChannelError`;
 * - refuses sends before `initialize` and after `destroy`, and makes `destroy` idempotent.
 *
 * @param definition - Name, capabilities, limits, settings schema and the implementation factory.
 * @returns The factory an extension exports.
 *
 * @example
 * ```ts
 * export default defineChannel({
 *   name: "echo-http",
 *   capabilities: ["text"],
 *   limits: { maxTextLength: 2000 },
 *   config: v.object({ url: v.pipe(v.string(), v.url()) }),
 *   create: () => ({
 *     start() {},
 *     async send(recipient, content) {
 *       const res = await fetch(config.url, { method: "POST", body: JSON.stringify({ recipient, text: content.text }) });
 *       return { messageId: (await res.json()).id };
 *     },
 *     stop() {},
 *   }),
 * });
 * ```
 */
export function defineChannel<S extends v.GenericSchema>(
  definition: ChannelDefinition<S>,
): ChannelPluginFactory<v.InferOutput<S>> {
  type C = v.InferOutput<S>;
  return {
    name: definition.name,
    capabilities: definition.capabilities,
    configSchema: definition.config as unknown as v.GenericSchema<unknown, C>,
    ...placementOf(definition.placement),
    create(): ChannelPlugin<C> {
      return new DefinedChannel<C>(definition as unknown as ChannelDefinition<v.GenericSchema<unknown, C>>);
    },
  };
}

/** The factory's `placement` method for a definition's `placement` (a value, a function, or none). */
function placementOf<C>(
  placement: ChannelPlacement | ((config: C) => ChannelPlacement) | undefined,
): Pick<ChannelPluginFactory<C>, "placement"> {
  if (placement === undefined) return {};
  return { placement: typeof placement === "function" ? placement : () => placement };
}

class DefinedChannel<C> implements ChannelPlugin<C> {
  readonly name: string;
  readonly capabilities: readonly ChannelCapability[];
  readonly limits: Readonly<ChannelLimits>;
  readonly #definition: ChannelDefinition<v.GenericSchema<unknown, C>>;
  #impl: ChannelImplementation<C> | undefined;
  #health: ChannelHealth = { state: "stopped", since: Date.now() };
  #phase: "new" | "starting" | "running" | "destroyed" = "new";
  #controller = new AbortController();
  #destroying: Promise<void> | undefined;

  constructor(definition: ChannelDefinition<v.GenericSchema<unknown, C>>) {
    this.#definition = definition;
    this.name = definition.name;
    this.capabilities = Object.freeze([...definition.capabilities]);
    this.limits = Object.freeze({ ...definition.limits });
  }

  async initialize(config: C, context: ChannelContext<C>): Promise<void> {
    if (this.#phase !== "new")
      throw new ChannelError("NOT_READY", `${this.name} was already initialized; create a new instance`);
    const parsed = v.safeParse(this.#definition.config, config);
    if (!parsed.success) {
      const issues = parsed.issues.map(
        (issue) =>
          `${v.getDotPath(issue) ?? "(root)"}: ${issue.expected === null ? issue.message : `expected ${issue.expected}`}`,
      );
      throw new ChannelError("INVALID_CONFIG", `invalid ${context.channel} settings: ${issues.join("; ")}`);
    }
    this.#phase = "starting";
    this.#setHealth("connecting");
    const signal = this.#controller.signal;
    const own: ChannelContext<C> = {
      channel: context.channel,
      config: parsed.output,
      logger: context.logger,
      signal: AbortSignal.any([signal, context.signal]),
      emit: (message) => {
        const full = { timestamp: Date.now(), ...message, channel: context.channel };
        const checked = v.safeParse(InboundMessageSchema, full);
        if (!checked.success) {
          const issue = checked.issues[0];
          throw new ChannelError(
            "INTERNAL",
            `${this.name} emitted an invalid message: ${v.getDotPath(issue!) ?? ""} ${issue?.message}`,
          );
        }
        // Whatever the host's emit rejects with, the plugin sees one typed refusal to act on.
        return context.emit(checked.output).catch((error: unknown) => {
          throw error instanceof ChannelError && error.code === "HOST_UNAVAILABLE"
            ? error
            : new ChannelError("HOST_UNAVAILABLE", "the gateway could not record the message", {
                cause: error,
              });
        });
      },
      setStatus: (state, detail) => {
        this.#setHealth(state, detail?.error, detail?.details);
        context.setStatus(state, detail);
      },
    };
    this.#impl = this.#definition.create();
    try {
      await this.#impl.start(own);
    } catch (error) {
      const failure = toChannelError(error);
      this.#setHealth("down", failure);
      this.#phase = "destroyed";
      await Promise.resolve(this.#impl.stop()).catch(() => {});
      this.#setHealth("down", failure);
      throw failure;
    }
    if (this.#phase === "starting") {
      this.#phase = "running";
      if (this.#health.state === "connecting") this.#setHealth("ready");
    }
  }

  async send(recipient: string, content: MessageContent, options: SendOptions = {}): Promise<SendResult> {
    const impl = this.#impl;
    if (this.#phase !== "running" || impl === undefined) {
      throw new ChannelError(
        "NOT_READY",
        `${this.name} is ${this.#phase === "destroyed" ? "stopped" : "not started"}`,
      );
    }
    if (typeof recipient !== "string" || recipient.length === 0)
      throw new ChannelError("RECIPIENT_NOT_FOUND", "the recipient is empty");
    const checked = v.safeParse(MessageContentSchema, content);
    if (!checked.success)
      throw new ChannelError("UNSUPPORTED_CONTENT", `invalid content: ${checked.issues[0]?.message}`);
    const adapted = degradeContent(checked.output, this.capabilities);
    const max = this.limits.maxTextLength;
    const pieces =
      adapted.text === undefined || max === undefined ? [adapted.text] : splitText(adapted.text, max);
    const ids: string[] = [];
    try {
      for (const [index, text] of pieces.entries()) {
        const last = index === pieces.length - 1;
        // Attachments and buttons ride on the last piece; replies thread from the first.
        const piece: MessageContent = {};
        if (text !== undefined) piece.text = text;
        if (adapted.format !== undefined) piece.format = adapted.format;
        if (last && adapted.attachments !== undefined) piece.attachments = adapted.attachments;
        if (last && adapted.buttons !== undefined) piece.buttons = adapted.buttons;
        const pieceOptions: SendOptions = { ...options };
        if (index > 0) delete pieceOptions.replyTo;
        if (index > 0 && options.idempotencyKey !== undefined)
          pieceOptions.idempotencyKey = `${options.idempotencyKey}.${index}`;
        const result = await impl.send(recipient, piece, pieceOptions);
        if (typeof result?.messageId !== "string" || result.messageId === "") {
          throw new ChannelError("INTERNAL", `${this.name} returned no message id`);
        }
        ids.push(result.messageId);
      }
    } catch (error) {
      const failure = toChannelError(error);
      if (failure.code === "AUTH_FAILED") this.#setHealth("down", failure);
      else if (failure.code === "PLATFORM_UNAVAILABLE") this.#setHealth("degraded", failure);
      throw failure;
    }
    if (this.#health.state === "degraded") this.#setHealth("ready");
    return ids.length > 1 ? { messageId: ids[0]!, messageIds: ids } : { messageId: ids[0]! };
  }

  get handleWebhook(): ((request: WebhookRequest) => Promise<WebhookResponse>) | undefined {
    if (this.#definition.webhooks !== true) return undefined;
    return async (request) => {
      const impl = this.#impl;
      if (this.#phase !== "running" || impl?.webhook === undefined)
        return {
          status: 503,
          body: { error: { code: "CHANNEL_UNAVAILABLE", message: `${this.name} is not running` } },
        };
      try {
        return await impl.webhook(request);
      } catch (error) {
        // Not recorded: a 5xx, which every webhook platform redelivers.
        if (isHostUnavailable(error))
          return {
            status: 503,
            headers: { "retry-after": "5" },
            body: {
              error: { code: "UNAVAILABLE", message: "the message could not be recorded; redeliver it" },
            },
          };
        const failure = toChannelError(error);
        return {
          status: failure.code === "INTERNAL" ? 500 : 400,
          body: { error: { code: failure.toProtocolError().code, message: failure.message } },
        };
      }
    };
  }

  status(): ChannelHealth {
    const details = this.#impl?.details?.();
    return details === undefined
      ? { ...this.#health }
      : { ...this.#health, details: { ...this.#health.details, ...details } };
  }

  destroy(): Promise<void> {
    if (this.#destroying !== undefined) return this.#destroying;
    this.#destroying = (async () => {
      const wasRunning = this.#phase === "running" || this.#phase === "starting";
      this.#phase = "destroyed";
      this.#controller.abort(new ChannelError("NOT_READY", `${this.name} is stopping`));
      if (wasRunning && this.#impl !== undefined) {
        try {
          await this.#impl.stop();
        } catch (error) {
          this.#setHealth("stopped", toChannelError(error));
          return;
        }
      }
      this.#setHealth("stopped");
    })();
    return this.#destroying;
  }

  #setHealth(state: ChannelState, error?: unknown, details?: Record<string, unknown>): void {
    const now = Date.now();
    const next: ChannelHealth = { state, since: state === this.#health.state ? this.#health.since : now };
    const lastError =
      error === undefined
        ? this.#health.lastError
        : { code: toChannelError(error).code, message: toChannelError(error).message, at: now };
    if (lastError !== undefined) next.lastError = lastError;
    const merged = details ?? this.#health.details;
    if (merged !== undefined) next.details = merged;
    this.#health = next;
  }
}
