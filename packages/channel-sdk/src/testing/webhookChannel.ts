import * as v from "valibot";
import { ChannelError } from "../ChannelError";
import { defineChannel } from "../defineChannel";
import { verifyHmacSha256Hex } from "../signatures";
import type { ChannelContext, InboundMessageInput } from "../types";

const ConfigSchema = v.object({
  baseUrl: v.pipe(v.string(), v.url()),
  token: v.pipe(v.string(), v.minLength(16)),
  signingSecret: v.pipe(v.string(), v.minLength(16)),
  requestTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100)), 10_000),
});
/** Settings of {@link webhookChannel}. */
export type WebhookChannelConfig = v.InferOutput<typeof ConfigSchema>;

const InboundSchema = v.object({
  id: v.pipe(v.string(), v.minLength(1)),
  chat: v.pipe(v.string(), v.minLength(1)),
  from: v.object({ id: v.pipe(v.string(), v.minLength(1)), name: v.optional(v.string()) }),
  text: v.string(),
  ts: v.optional(v.number()),
  replyTo: v.optional(v.string()),
});

/**
 * The SDK's reference plugin, a plain HTTP channel, for testing hosts (the gateway's tests) and as
 * an example: outbound messages are POSTed as JSON (`{to, text, replyTo}`) to `<baseUrl>/messages`
 * with `Authorization: Bearer <token>` (and `Idempotency-Key` when the host gives one) and answered `{id}`; `start` calls `GET <baseUrl>/health`;
 * inbound messages arrive as webhooks `{id, chat, from: {id, name?}, text, ts?, replyTo?}` signed
 * with `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. Pair it with {@link FakePlatform}.
 */
export const webhookChannel = defineChannel({
  name: "webhook",
  capabilities: ["text"],
  limits: { maxTextLength: 500 },
  webhooks: true,
  // Webhooks in, HTTP calls out, no connection held: every instance of a cluster runs it.
  placement: "everywhere",
  config: ConfigSchema,
  create() {
    let context: ChannelContext<WebhookChannelConfig>;
    const call = async (path: string, init: RequestInit = {}) => {
      const { baseUrl, token, requestTimeoutMs } = context.config;
      let response: Response;
      try {
        response = await fetch(new URL(path, baseUrl), {
          ...init,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
          signal: AbortSignal.any([context.signal, AbortSignal.timeout(requestTimeoutMs)]),
        });
      } catch (error) {
        throw new ChannelError("PLATFORM_UNAVAILABLE", `cannot reach ${baseUrl}`, { cause: error });
      }
      if (response.ok) return (await response.json()) as Record<string, unknown>;
      const retryAfter = Number(response.headers.get("retry-after"));
      await response.body?.cancel();
      if (response.status === 429)
        throw new ChannelError("RATE_LIMITED", "rate limited", {
          retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 1000,
          platformCode: 429,
        });
      if (response.status === 401 || response.status === 403)
        throw new ChannelError("AUTH_FAILED", "the token was refused", { platformCode: response.status });
      if (response.status === 404)
        throw new ChannelError("RECIPIENT_NOT_FOUND", "no such chat", { platformCode: 404 });
      throw new ChannelError("PLATFORM_UNAVAILABLE", `the platform answered ${response.status}`, {
        platformCode: response.status,
      });
    };
    return {
      async start(ctx) {
        context = ctx;
        await call("/health");
      },
      async send(recipient, content, { replyTo, idempotencyKey }) {
        const body = await call("/messages", {
          method: "POST",
          body: JSON.stringify({ to: recipient, text: content.text, replyTo }),
          ...(idempotencyKey === undefined ? {} : { headers: { "idempotency-key": idempotencyKey } }),
        });
        return { messageId: String(body.id) };
      },
      async webhook(request) {
        const check = verifyHmacSha256Hex({
          secret: context.config.signingSecret,
          payload: request.body,
          signature: request.headers["x-signature-256"]?.replace(/^sha256=/, ""),
        });
        if (!check.ok)
          return {
            status: 401,
            body: { error: { code: "UNAUTHORIZED", message: `signature check failed: ${check.reason}` } },
          };
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(request.body));
        } catch {
          return { status: 400, body: { error: { code: "INVALID_PARAMS", message: "body is not JSON" } } };
        }
        const parsed = v.safeParse(InboundSchema, json);
        if (!parsed.success)
          return {
            status: 400,
            body: { error: { code: "INVALID_PARAMS", message: parsed.issues[0]?.message } },
          };
        const m = parsed.output;
        const message: InboundMessageInput = {
          id: m.id,
          conversationId: m.chat,
          peerId: m.chat,
          sender: m.from.name === undefined ? { id: m.from.id } : { id: m.from.id, name: m.from.name },
          text: m.text,
          raw: json,
        };
        if (m.ts !== undefined) message.timestamp = m.ts;
        if (m.replyTo !== undefined) message.replyTo = m.replyTo;
        // Acknowledged only once the gateway has it: a refusal (HOST_UNAVAILABLE) answers 503.
        await context.emit(message);
        return { status: 200, body: { ok: true } };
      },
      stop() {},
    };
  },
});
