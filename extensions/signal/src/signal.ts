import {
  type Attachment,
  type ChannelContext,
  ChannelError,
  defineChannel,
  emitUntilTaken,
  type MessageContent,
  v,
} from "@openclaw/channel-sdk";
import { attachmentKind, interpretReceive } from "./envelope";
import { RecentIds } from "./RecentIds";
import { messageId, parseMessageId, parseRecipient, type SignalTarget, targetParams } from "./recipient";
import { SignalCliClient, type SignalCliEvent } from "./SignalCliClient";
import { toChannelError } from "./SignalCliError";
import { SignalEventStream, type SignalStreamChange } from "./SignalEventStream";
import type { SignalSendParams } from "./types";

/**
 * The longest text the plugin puts in one Signal message. Signal clients send longer text as a
 * "long text" attachment; splitting at 2000 characters keeps every piece an ordinary message.
 */
export const SIGNAL_MAX_TEXT = 2000;

/** Defaults of the channel's settings (see {@link SignalConfigSchema}). */
export const SIGNAL_DEFAULTS = Object.freeze({
  daemonUrl: "http://127.0.0.1:8080",
  multiAccount: false,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  reconnectInitialDelayMs: 1000,
  reconnectMaxDelayMs: 30_000,
  typingIndicator: true,
  typingOnInbound: false,
  typingTimeoutMs: 2000,
  downloadAttachments: true,
  maxAttachmentBytes: 10 * 1024 * 1024,
  dedupeCapacity: 5000,
  maxEventChars: 4 * 1024 * 1024,
});

const E164_OR_UUID = /^(\+[1-9]\d{6,14}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const ms = (min: number, max: number, fallback: number) =>
  v.optional(v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max)), fallback);

/** Settings of a Signal channel (`channels.<name>` in openclaw.json). */
export const SignalConfigSchema = v.object({
  /**
   * The base URL of `signal-cli daemon --http=HOST:PORT`.
   * @defaultValue `http://127.0.0.1:8080`
   */
  daemonUrl: v.optional(v.pipe(v.string(), v.url()), SIGNAL_DEFAULTS.daemonUrl),
  /** The account the channel runs as: its phone number in E.164 form, or its ACI (UUID) when it has none. */
  account: v.pipe(
    v.string(),
    v.regex(
      E164_OR_UUID,
      "must be the account's phone number in E.164 form (+15550001111) or its ACI (UUID)",
    ),
  ),
  /**
   * Whether the daemon runs in multi-account mode (started without `-a`): then every call names the
   * account (`params.account`, `?account=` on the event stream).
   * @defaultValue false
   */
  multiAccount: v.optional(v.boolean(), SIGNAL_DEFAULTS.multiAccount),
  /** Time limit of one JSON-RPC call. @defaultValue 30,000 */
  requestTimeoutMs: ms(100, 600_000, SIGNAL_DEFAULTS.requestTimeoutMs),
  /** Time limit for the event stream to answer. @defaultValue 10,000 */
  connectTimeoutMs: ms(100, 600_000, SIGNAL_DEFAULTS.connectTimeoutMs),
  /**
   * Watchdog of a silent event stream: one that delivers no event and no keepalive (signal-cli sends
   * one every 15 s) for this long is closed and opened again. @defaultValue 60,000
   */
  idleTimeoutMs: ms(50, 3_600_000, SIGNAL_DEFAULTS.idleTimeoutMs),
  /** First delay before reopening the event stream; it doubles after each failure. @defaultValue 1,000 */
  reconnectInitialDelayMs: ms(10, 600_000, SIGNAL_DEFAULTS.reconnectInitialDelayMs),
  /** Longest delay between attempts to reopen the event stream. @defaultValue 30,000 */
  reconnectMaxDelayMs: ms(10, 3_600_000, SIGNAL_DEFAULTS.reconnectMaxDelayMs),
  /** Show the typing indicator just before each send (best effort). @defaultValue true */
  typingIndicator: v.optional(v.boolean(), SIGNAL_DEFAULTS.typingIndicator),
  /**
   * Show the typing indicator as soon as a message arrives (for channels an agent answers; Signal
   * hides it after 15 s or when the answer arrives). @defaultValue false
   */
  typingOnInbound: v.optional(v.boolean(), SIGNAL_DEFAULTS.typingOnInbound),
  /** The longest a send waits for its typing indicator. @defaultValue 2,000 */
  typingTimeoutMs: ms(10, 60_000, SIGNAL_DEFAULTS.typingTimeoutMs),
  /** Download received attachments (`getAttachment`) into the message as base64. @defaultValue true */
  downloadAttachments: v.optional(v.boolean(), SIGNAL_DEFAULTS.downloadAttachments),
  /**
   * The largest attachment downloaded from Signal or fetched from a URL to send, in bytes; bigger
   * received ones are passed on by reference only, bigger ones to send are refused.
   * @defaultValue 10,485,760 (10 MiB)
   */
  maxAttachmentBytes: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100 * 1024 * 1024)),
    SIGNAL_DEFAULTS.maxAttachmentBytes,
  ),
  /** How many recent message ids are remembered to drop redelivered events. @defaultValue 5,000 */
  dedupeCapacity: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)),
    SIGNAL_DEFAULTS.dedupeCapacity,
  ),
  /**
   * The largest event the stream parser buffers, in characters; a longer one is dropped as it
   * arrives and skipped, and its id counts as seen (a reconnect resumes after it). @defaultValue 4,194,304
   */
  maxEventChars: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(256 * 1024 * 1024)),
    SIGNAL_DEFAULTS.maxEventChars,
  ),
});

/** Validated Signal settings. */
export type SignalConfig = v.InferOutput<typeof SignalConfigSchema>;

/** How received attachments that were not downloaded are referenced: `signal-cli:attachment/<id>`. */
export const ATTACHMENT_REFERENCE_PREFIX = "signal-cli:attachment/";

/**
 * The Signal channel plugin, talking to a signal-cli daemon over HTTP: JSON-RPC 2.0 for sends,
 * typing indicators and attachment downloads, server-sent events for what arrives. The event
 * stream reconnects with backoff, is restarted when it falls silent, and resumes with
 * `Last-Event-ID`; an unreachable daemon shows the channel `down` with the URL it tried.
 *
 * Recipients are phone numbers (E.164), ACIs (UUIDs) or `group:<base64 id>`; message ids are
 * `<author>:<timestamp>`, and a send with `replyTo` one of them quotes that message.
 */
export const signalChannel = defineChannel({
  name: "signal",
  capabilities: ["text", "media", "typing"],
  limits: { maxTextLength: SIGNAL_MAX_TEXT },
  config: SignalConfigSchema,
  create() {
    let context: ChannelContext<SignalConfig>;
    let client: SignalCliClient;
    let stream: SignalEventStream | undefined;
    let daemonVersion: string | undefined;
    let lastEventAt: number | undefined;
    let seen: RecentIds;
    const pending = new Set<Promise<unknown>>();
    const track = (work: Promise<unknown>) => {
      const settled = work.catch(() => {}).finally(() => pending.delete(settled));
      pending.add(settled);
    };

    const typing = async (target: SignalTarget): Promise<void> => {
      const { typingTimeoutMs } = context.config;
      try {
        await client.sendTyping(targetParams(target), {
          signal: AbortSignal.any([context.signal, AbortSignal.timeout(typingTimeoutMs)]),
        });
      } catch (error) {
        context.logger.debug("the typing indicator failed (ignored)", {
          error: (error as Error).message,
        });
      }
    };

    const refreshVersion = () =>
      track(
        client.version({ signal: context.signal }).then((result) => {
          if (typeof result?.version === "string") daemonVersion = result.version;
        }),
      );

    const onState = (change: SignalStreamChange) => {
      if (context.signal.aborted) return;
      if (change.state === "open") {
        context.setStatus("ready", { details: { url: client.eventsUrl } });
        if (daemonVersion === undefined) refreshVersion();
        return;
      }
      const error = toChannelError(change.error);
      const details = { url: change.error.url ?? client.eventsUrl, retryInMs: change.retryInMs };
      if (change.problem === "unreachable") {
        context.logger.warn("the signal-cli daemon is unreachable", {
          url: details.url,
          error: error.message,
          retryInMs: change.retryInMs,
        });
        context.setStatus("down", { error, details });
      } else {
        context.logger.warn("signal-cli's event stream ended; reconnecting", {
          problem: change.problem,
          error: error.message,
          retryInMs: change.retryInMs,
        });
        context.setStatus("degraded", { error, details });
      }
    };

    const download = async (
      attachment: {
        id?: string | null;
        contentType?: string;
        filename?: string | null;
        size?: number | null;
        caption?: string | null;
      },
      from: { recipient: string } | { groupId: string },
    ): Promise<Attachment> => {
      const { downloadAttachments, maxAttachmentBytes } = context.config;
      const id = attachment.id!;
      const described: Omit<Attachment, "url" | "data"> = { kind: attachmentKind(attachment.contentType) };
      if (attachment.contentType) described.mimeType = attachment.contentType.slice(0, 255);
      if (attachment.filename) described.filename = attachment.filename.slice(0, 255);
      if (typeof attachment.size === "number" && attachment.size >= 0) described.sizeBytes = attachment.size;
      if (attachment.caption) described.caption = attachment.caption;
      const reference = { ...described, url: `${ATTACHMENT_REFERENCE_PREFIX}${encodeURIComponent(id)}` };
      if (!downloadAttachments) return reference;
      if ((attachment.size ?? 0) > maxAttachmentBytes) {
        context.logger.warn(
          "a received attachment is larger than maxAttachmentBytes; passed on by reference",
          {
            id,
            size: attachment.size,
          },
        );
        return reference;
      }
      try {
        const data = await client.getAttachment({ id, ...from }, { signal: context.signal });
        if (Math.floor((data.length * 3) / 4) > maxAttachmentBytes + 2) return reference;
        return { ...described, data };
      } catch (error) {
        context.logger.warn("could not download a received attachment; passed on by reference", {
          id,
          error: (error as Error).message,
        });
        return reference;
      }
    };

    const onEvent = async (event: SignalCliEvent): Promise<void> => {
      lastEventAt = Date.now();
      if (event.event !== undefined && event.event !== "receive") return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        context.logger.warn("signal-cli sent an event whose data is not JSON; skipped", {
          event: event.event,
          id: event.id,
        });
        return;
      }
      const outcome = interpretReceive(data, context.config.account);
      if (outcome.kind === "ignored") {
        context.logger.debug("signal event ignored", { reason: outcome.reason, id: event.id });
        return;
      }
      const { message } = outcome;
      if (seen.has(message.id)) {
        context.logger.debug("signal message delivered again; dropped", { id: message.id });
        return;
      }
      if (outcome.attachments.length > 0) {
        const attachments: Attachment[] = [];
        for (const attachment of outcome.attachments.slice(0, 32))
          attachments.push(await download(attachment, outcome.from));
        message.attachments = attachments;
      }
      // Held here until the gateway records it (a full disk: emitted again with backoff): the
      // stream's Last-Event-ID does not move past it, and the events after it wait in order.
      try {
        await emitUntilTaken(context, message);
      } catch (error) {
        if (context.signal.aborted) throw error;
        context.logger.error("could not hand a Signal message to the gateway", {
          id: message.id,
          error: (error as Error).message,
        });
      }
      seen.add(message.id);
      if (context.config.typingOnInbound && message.text !== "" && !context.signal.aborted) {
        try {
          track(typing(parseRecipient(outcome.conversation)));
        } catch {
          // A conversation that cannot be addressed gets no typing indicator.
        }
      }
    };

    const toDataUri = async (attachment: Attachment, signal: AbortSignal | undefined): Promise<string> => {
      const { maxAttachmentBytes, requestTimeoutMs } = context.config;
      let data = attachment.data;
      let mimeType = attachment.mimeType;
      if (data === undefined) {
        const url = attachment.url!;
        let response: Response;
        try {
          response = await fetch(url, {
            signal: AbortSignal.any(
              [context.signal, AbortSignal.timeout(requestTimeoutMs), signal].filter(
                (s): s is AbortSignal => s !== undefined,
              ),
            ),
          });
        } catch (error) {
          throw new ChannelError("PLATFORM_UNAVAILABLE", `could not fetch the attachment ${url}`, {
            cause: error,
          });
        }
        if (!response.ok) {
          await response.body?.cancel();
          throw new ChannelError(
            response.status >= 500 ? "PLATFORM_UNAVAILABLE" : "UNSUPPORTED_CONTENT",
            `fetching the attachment ${url} answered HTTP ${response.status}`,
          );
        }
        const bytes = await readAtMost(response, maxAttachmentBytes);
        if (bytes === undefined)
          throw new ChannelError(
            "UNSUPPORTED_CONTENT",
            `the attachment ${url} is larger than maxAttachmentBytes (${maxAttachmentBytes})`,
          );
        data = bytes.toString("base64");
        mimeType ??= response.headers.get("content-type")?.split(";")[0]?.trim() || undefined;
      } else if (Math.floor((data.length * 3) / 4) > maxAttachmentBytes + 2) {
        throw new ChannelError(
          "UNSUPPORTED_CONTENT",
          `an attachment is larger than maxAttachmentBytes (${maxAttachmentBytes})`,
        );
      }
      if (data === "") throw new ChannelError("UNSUPPORTED_CONTENT", "an attachment is empty");
      const type = mimeType ?? (attachment.kind === "image" ? "image/jpeg" : "application/octet-stream");
      const filename =
        attachment.filename ?? (attachment.url === undefined ? undefined : lastPathSegment(attachment.url));
      const parameter = filename === undefined ? "" : `;filename=${encodeURIComponent(filename)}`;
      return `data:${type}${parameter};base64,${data}`;
    };

    return {
      async start(ctx) {
        context = ctx;
        const config = ctx.config;
        seen = new RecentIds(config.dedupeCapacity);
        client = new SignalCliClient({
          baseUrl: config.daemonUrl,
          account: config.multiAccount ? config.account : undefined,
          requestTimeoutMs: config.requestTimeoutMs,
          connectTimeoutMs: config.connectTimeoutMs,
          maxEventChars: config.maxEventChars,
          maxResponseBytes: Math.ceil((config.maxAttachmentBytes * 4) / 3) + 64 * 1024,
          signal: ctx.signal,
        });
        // The RPC side first: a daemon without this account is a settings error, not an outage.
        try {
          daemonVersion = (await client.version({ signal: ctx.signal }))?.version;
        } catch (error) {
          const failure = toChannelError(error);
          if (failure.code === "AUTH_FAILED") throw failure;
        }
        stream = new SignalEventStream({
          client,
          onEvent,
          onState,
          onSkipped: (event) =>
            context.logger.warn("signal-cli sent an event longer than maxEventChars; skipped", event),
          idleTimeoutMs: config.idleTimeoutMs,
          reconnectInitialDelayMs: config.reconnectInitialDelayMs,
          reconnectMaxDelayMs: config.reconnectMaxDelayMs,
          signal: ctx.signal,
        });
        // Resolves after the first attempt; an unreachable daemon leaves the channel `down` while
        // the stream keeps retrying in the background.
        await stream.start();
      },

      async send(recipient, content: MessageContent, { replyTo, signal }) {
        const target = parseRecipient(recipient);
        const params: SignalSendParams = { ...targetParams(target) };
        if (content.text !== undefined && content.text !== "") params.message = content.text;
        if (content.attachments !== undefined && content.attachments.length > 0) {
          const uris: string[] = [];
          for (const attachment of content.attachments) uris.push(await toDataUri(attachment, signal));
          params.attachments = uris;
        }
        if (replyTo !== undefined) {
          const quoted = parseMessageId(replyTo);
          if (quoted === undefined)
            context.logger.debug("replyTo is not a Signal message id; not quoted", { replyTo });
          else {
            params.quoteTimestamp = quoted.timestamp;
            params.quoteAuthor = quoted.author;
          }
        }
        if (context.config.typingIndicator) await typing(target);
        let result: Awaited<ReturnType<SignalCliClient["send"]>>;
        try {
          result = await client.send(params, signal === undefined ? {} : { signal });
        } catch (error) {
          throw toChannelError(error);
        }
        if (typeof result?.timestamp !== "number")
          throw new ChannelError("INTERNAL", "signal-cli answered send without a timestamp");
        const failed = (result.results ?? []).filter((r) => r.type !== "SUCCESS");
        if (failed.length > 0)
          context.logger.warn("Signal did not deliver to every recipient", {
            failed: failed.map((r) => ({
              recipient: r.recipientAddress?.number ?? r.recipientAddress?.uuid,
              type: r.type,
            })),
          });
        return { messageId: messageId(context.config.account, result.timestamp) };
      },

      async stop() {
        await stream?.stop();
        await Promise.all([...pending]);
      },

      details: () => ({
        daemonUrl: context?.config.daemonUrl,
        account: context?.config.account,
        daemonVersion,
        lastEventAt,
        lastActivityAt: stream?.lastActivityAt,
        reconnects: stream?.reconnects ?? 0,
      }),
    };
  },
});

/** Reads at most `limit` bytes of a body; `undefined` when it is longer. */
async function readAtMost(response: Response, limit: number): Promise<Buffer | undefined> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) return undefined; // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The file name at the end of a URL's path, if any. */
function lastPathSegment(url: string): string | undefined {
  try {
    const name = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
    return name === "" ? undefined : name.slice(0, 255);
  } catch {
    return undefined;
  }
}
