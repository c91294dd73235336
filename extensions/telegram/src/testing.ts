/**
 * @packageDocumentation
 * A loopback fake of the Telegram Bot API for testing bots and the gateway with grammY, without
 * Telegram. Needs vitest (it builds on `@openclaw/channel-sdk/testing`).
 */
import { FakePlatform, type RecordedRequest } from "@openclaw/channel-sdk/testing";

/** One Bot API call the fake received, with its parameters (from JSON or multipart). */
export interface BotApiCall {
  method: string;
  params: Record<string, unknown>;
  multipart: boolean;
}

interface HeldPoll {
  resolve: () => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A loopback fake of the Telegram Bot API, enough for grammY: `getMe`, `getUpdates` (long polling with
 * offsets, held until an update arrives or the timeout passes), `setWebhook` / `deleteWebhook`,
 * `sendMessage`, `sendPhoto`, `sendDocument` (JSON or multipart). It checks the bot token, answers
 * Telegram's error shapes, and records every call.
 */
export class FakeTelegram {
  readonly calls: BotApiCall[] = [];
  webhook: { url: string; secret_token?: string } | undefined;
  /** When true, `getUpdates` calls are held and never answered (a stalled long poll). */
  stallPolls = false;
  readonly #updates: Array<{ update_id: number; message: Record<string, unknown> }> = [];
  readonly #held = new Set<HeldPoll>();
  readonly #stalled = new Set<() => void>();
  readonly #sendFailures: Array<{ status: number; body: unknown }> = [];
  #nextUpdateId = 100;
  #nextMessageId = 1;

  private constructor(
    readonly platform: FakePlatform,
    readonly token: string,
  ) {}

  static async start(token: string): Promise<FakeTelegram> {
    const platform = await FakePlatform.start();
    const fake = new FakeTelegram(platform, token);
    platform.route("POST /bot*", (request, raw) => fake.#handle(request, raw));
    return fake;
  }

  get apiRoot(): string {
    return this.platform.url;
  }

  /** Texts sent to chats, in order. */
  sentTexts(): string[] {
    return this.calls.filter((c) => c.method === "sendMessage").map((c) => String(c.params.text));
  }

  /** Makes the next send* calls fail with these replies (polls are not affected). */
  failNextSend(...replies: Array<{ status: number; body: unknown }>): void {
    this.#sendFailures.push(...replies);
  }

  /** A user writes to the bot: the update is delivered to a waiting getUpdates, or the next one. */
  inject(
    text: string,
    from = { id: 42, first_name: "Ana", username: "ana" },
    chatId = 42,
  ): { update_id: number; message: Record<string, unknown> } {
    const update = {
      update_id: this.#nextUpdateId++,
      message: {
        message_id: this.#nextMessageId++,
        date: 1_764_000_000,
        chat: { id: chatId, type: "private", first_name: from.first_name },
        from: { ...from, is_bot: false },
        text,
      },
    };
    this.#updates.push(update);
    for (const held of this.#held) held.resolve();
    return update;
  }

  async close(): Promise<void> {
    for (const held of this.#held) held.resolve();
    for (const release of this.#stalled) release();
    await this.platform.close();
  }

  async #handle(request: RecordedRequest, raw: import("node:http").IncomingMessage) {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(request.path);
    if (match === null)
      return { status: 404, body: { ok: false, error_code: 404, description: "Not Found" } };
    const [, token, method] = match as unknown as [string, string, string];
    if (token !== this.token)
      return { status: 401, body: { ok: false, error_code: 401, description: "Unauthorized" } };
    const multipart = (request.headers["content-type"] ?? "").startsWith("multipart/form-data");
    const params = multipart
      ? parseMultipart(request.body, request.headers["content-type"] ?? "")
      : ((request.json as Record<string, unknown> | undefined) ?? {});
    this.calls.push({ method: method!, params, multipart });
    const ok = (result: unknown) => ({ body: { ok: true, result } });
    switch (method) {
      case "getMe":
        return ok({
          id: 7_000_000_001,
          is_bot: true,
          first_name: "OpenClaw",
          username: "openclaw_test_bot",
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        });
      case "deleteWebhook":
        this.webhook = undefined;
        return ok(true);
      case "setWebhook":
        this.webhook = {
          url: String(params.url),
          ...(params.secret_token === undefined ? {} : { secret_token: String(params.secret_token) }),
        };
        return ok(true);
      case "getUpdates":
        return ok(await this.#poll(params, raw));
      case "sendMessage":
      case "sendPhoto":
      case "sendDocument": {
        const failure = this.#sendFailures.shift();
        if (failure !== undefined) return failure;
        const chat = String(params.chat_id);
        if (chat === "404")
          return {
            status: 400,
            body: { ok: false, error_code: 400, description: "Bad Request: chat not found" },
          };
        if (params.parse_mode === "Markdown" && unbalanced(String(params.text))) {
          return {
            status: 400,
            body: {
              ok: false,
              error_code: 400,
              description:
                "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0",
            },
          };
        }
        const message: Record<string, unknown> = {
          message_id: this.#nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(chat) || chat, type: "private" },
        };
        if (method === "sendMessage") message.text = params.text;
        else message.caption = params.caption;
        return ok(message);
      }
      default:
        return {
          status: 404,
          body: { ok: false, error_code: 404, description: `Not Found: method ${method} is not faked` },
        };
    }
  }

  async #poll(params: Record<string, unknown>, raw: import("node:http").IncomingMessage) {
    if (this.stallPolls) {
      await new Promise<void>((resolve) => {
        const release = () => {
          this.#stalled.delete(release);
          resolve();
        };
        this.#stalled.add(release);
        raw.socket?.once("close", release);
      });
      return [];
    }
    const offset = Number(params.offset ?? 0);
    const limit = Number(params.limit ?? 100);
    // Updates below the offset are acknowledged: Telegram forgets them.
    while (this.#updates.length > 0 && this.#updates[0]!.update_id < offset) this.#updates.shift();
    const timeoutMs = Number(params.timeout ?? 0) * 1000;
    if (this.#updates.length === 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const held: HeldPoll = {
          resolve: () => {
            clearTimeout(held.timer);
            this.#held.delete(held);
            resolve();
          },
          timer: setTimeout(() => held.resolve(), timeoutMs),
        };
        this.#held.add(held);
        raw.socket?.once("close", () => held.resolve());
      });
    }
    return this.#updates.slice(0, limit);
  }
}

/** Whether Telegram would refuse this Markdown: an unpaired `*` or `_` entity marker. */
function unbalanced(text: string): boolean {
  return (text.match(/\*/g)?.length ?? 0) % 2 === 1 || (text.match(/_/g)?.length ?? 0) % 2 === 1;
}

/**
 * Reads a multipart body as the Bot API does: text fields by name, file parts as
 * `{ filename, bytes }`, and `attach://<part>` values replaced by the part they name.
 */
function parseMultipart(body: string, contentType: string): Record<string, unknown> {
  const boundary = /boundary=([^;]+)/i.exec(contentType)?.[1];
  if (boundary === undefined) return {};
  const parts: Record<string, unknown> = {};
  for (const part of body.split(`--${boundary}`)) {
    const header =
      /content-disposition:\s*form-data;\s*name="([^"]+)"(?:;\s*filename="?([^";\r\n]*)"?)?/i.exec(part);
    if (header === null) continue;
    const value = part.slice(part.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, "");
    parts[header[1]!] = header[2] === undefined ? value : { filename: header[2], bytes: value.length };
  }
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === "string" && value.startsWith("attach://"))
      parts[name] = parts[value.slice("attach://".length)];
  }
  return parts;
}
