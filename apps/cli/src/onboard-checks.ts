// The checks of `openclaw onboard`: a real request to the model provider and to Telegram's Bot API.

/** Defaults of the onboarding checks. */
export const ONBOARD_CHECK_DEFAULTS = Object.freeze({
  /** How long one check request may take, in ms. */
  timeoutMs: 15_000,
  /** Telegram's Bot API server (a Telegram channel's `apiRoot`). */
  telegramApiRoot: "https://api.telegram.org",
  /** Discord's REST API (a Discord channel's `apiRoot`). */
  discordApiRoot: "https://discord.com/api",
  /** Slack's Web API (a Slack channel's `apiUrl`). */
  slackApiUrl: "https://slack.com/api/",
});

/** The shape of a Telegram bot token (`<id>:<secret>`), as the Telegram channel's config requires. */
export const TELEGRAM_TOKEN_PATTERN = /^\d+:[A-Za-z0-9_-]{20,}$/;

/** What a check found: ok with what it learnt, or a sentence saying what is wrong. */
export type CheckResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Checks an OpenAI-compatible API with a real request: `GET <baseUrl>/models` with the key. A provider
 * without `/models` (a 404) is checked with a one-token chat completion of `model` instead.
 *
 * @param baseUrl - The API's base URL (`https://api.openai.com/v1`).
 * @param apiKey - The key (sent as a bearer token), or `""` for none.
 * @param model - The model, for the chat completion fallback (optional).
 * @param timeoutMs - How long the request may take.
 * @returns The model ids the provider lists (empty after the fallback), or what is wrong.
 */
export async function checkProvider(
  baseUrl: string,
  apiKey: string,
  model?: string,
  timeoutMs: number = ONBOARD_CHECK_DEFAULTS.timeoutMs,
): Promise<CheckResult<string[]>> {
  let base: URL;
  try {
    base = new URL(baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error("not http");
  } catch {
    return { ok: false, message: `${JSON.stringify(baseUrl)} is not an http(s) URL` };
  }
  const root = base.href.replace(/\/+$/, "");
  const headers: Record<string, string> = apiKey === "" ? {} : { authorization: `Bearer ${apiKey}` };
  const listed = await request(`${root}/models`, { headers }, timeoutMs);
  if (!listed.ok) return listed;
  const { status, body } = listed.value;
  if (status === 404 && model !== undefined && model !== "") {
    const chat = await request(
      `${root}/chat/completions`,
      {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 1 }),
      },
      timeoutMs,
    );
    if (!chat.ok) return chat;
    if (chat.value.status >= 200 && chat.value.status < 300) return { ok: true, value: [] };
    return { ok: false, message: refusal(`${root}/chat/completions`, chat.value.status, chat.value.body) };
  }
  if (status < 200 || status >= 300) return { ok: false, message: refusal(`${root}/models`, status, body) };
  const data = (body as { data?: unknown } | undefined)?.data;
  const ids = Array.isArray(data)
    ? data.flatMap((entry) =>
        typeof (entry as { id?: unknown }).id === "string" ? [(entry as { id: string }).id] : [],
      )
    : [];
  return { ok: true, value: ids };
}

/**
 * Checks a Telegram bot token with the Bot API's `getMe`.
 *
 * @param token - The bot token from @BotFather.
 * @param apiRoot - The Bot API server.
 * @param timeoutMs - How long the request may take.
 * @returns The bot's username, or what is wrong.
 */
export async function checkTelegram(
  token: string,
  apiRoot: string = ONBOARD_CHECK_DEFAULTS.telegramApiRoot,
  timeoutMs: number = ONBOARD_CHECK_DEFAULTS.timeoutMs,
): Promise<CheckResult<string>> {
  if (!TELEGRAM_TOKEN_PATTERN.test(token))
    return { ok: false, message: "that is not a Telegram bot token (<digits>:<secret>, from @BotFather)" };
  const result = await request(
    `${apiRoot.replace(/\/+$/, "")}/bot${token}/getMe`,
    { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
    timeoutMs,
  );
  if (!result.ok) return result;
  const { status, body } = result.value;
  const reply = body as { ok?: boolean; description?: string; result?: { username?: string } } | undefined;
  if (status === 401) return { ok: false, message: "Telegram refused the token (401 Unauthorized)" };
  if (status !== 200 || reply?.ok !== true)
    return { ok: false, message: `Telegram answered ${status}: ${reply?.description ?? "no description"}` };
  return { ok: true, value: reply.result?.username ?? "(no username)" };
}

/**
 * Checks a Discord bot token with `GET <apiRoot>/v10/users/@me`.
 *
 * @param token - The bot token.
 * @param apiRoot - Discord's REST API.
 * @param timeoutMs - How long the request may take.
 * @returns The bot's user name, or what is wrong.
 */
export async function checkDiscord(
  token: string,
  apiRoot: string = ONBOARD_CHECK_DEFAULTS.discordApiRoot,
  timeoutMs: number = ONBOARD_CHECK_DEFAULTS.timeoutMs,
): Promise<CheckResult<string>> {
  const result = await request(
    `${apiRoot.replace(/\/+$/, "")}/v10/users/@me`,
    { headers: { authorization: `Bot ${token}` } },
    timeoutMs,
  );
  if (!result.ok) return result;
  const { status, body } = result.value;
  const reply = body as { username?: string; message?: string } | undefined;
  if (status === 401) return { ok: false, message: "Discord refused the token (401 Unauthorized)" };
  if (status !== 200)
    return { ok: false, message: `Discord answered ${status}: ${reply?.message ?? "no message"}` };
  return { ok: true, value: reply?.username ?? "(no name)" };
}

/**
 * Checks a Slack bot token with the Web API's `auth.test`.
 *
 * @param token - The bot token (`xoxb-…`).
 * @param apiUrl - Slack's Web API, ending in `/`.
 * @param timeoutMs - How long the request may take.
 * @returns The bot's name and workspace, or what is wrong.
 */
export async function checkSlack(
  token: string,
  apiUrl: string = ONBOARD_CHECK_DEFAULTS.slackApiUrl,
  timeoutMs: number = ONBOARD_CHECK_DEFAULTS.timeoutMs,
): Promise<CheckResult<string>> {
  const result = await request(
    `${apiUrl.replace(/\/+$/, "")}/auth.test`,
    { method: "POST", headers: { authorization: `Bearer ${token}` } },
    timeoutMs,
  );
  if (!result.ok) return result;
  const { status, body } = result.value;
  const reply = body as { ok?: boolean; error?: string; user?: string; team?: string } | undefined;
  if (status !== 200 || reply?.ok !== true)
    return { ok: false, message: `Slack refused the bot token (${reply?.error ?? `status ${status}`})` };
  return { ok: true, value: `${reply.user ?? "(no name)"} in ${reply.team ?? "(no workspace)"}` };
}

/**
 * Checks a Matrix access token with `GET <homeserver>/_matrix/client/v3/account/whoami`, and that it
 * belongs to the user id given.
 *
 * @param homeserverUrl - The homeserver.
 * @param userId - The bot's user id (`@name:server`).
 * @param accessToken - Its access token.
 * @param timeoutMs - How long the request may take.
 * @returns The user id, or what is wrong.
 */
export async function checkMatrix(
  homeserverUrl: string,
  userId: string,
  accessToken: string,
  timeoutMs: number = ONBOARD_CHECK_DEFAULTS.timeoutMs,
): Promise<CheckResult<string>> {
  const result = await request(
    `${homeserverUrl.replace(/\/+$/, "")}/_matrix/client/v3/account/whoami`,
    { headers: { authorization: `Bearer ${accessToken}` } },
    timeoutMs,
  );
  if (!result.ok) return result;
  const { status, body } = result.value;
  const reply = body as { user_id?: string; error?: string; errcode?: string } | undefined;
  if (status !== 200)
    return {
      ok: false,
      message: `the homeserver refused the access token (${status} ${reply?.errcode ?? ""})`.trim(),
    };
  if (reply?.user_id !== userId)
    return { ok: false, message: `the access token belongs to ${reply?.user_id ?? "nobody"}, not ${userId}` };
  return { ok: true, value: userId };
}

async function request(
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<CheckResult<{ status: number; body: unknown }>> {
  const shown = url.replace(/\/bot[^/]+\//, "/bot<token>/");
  let valid: URL;
  try {
    valid = new URL(url);
  } catch {
    return { ok: false, message: `${JSON.stringify(shown)} is not a URL` };
  }
  if (valid.protocol !== "http:" && valid.protocol !== "https:")
    return { ok: false, message: `${shown} is not an http(s) URL` };
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { ok: true, value: { status: response.status, body } };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if ((error as Error).name === "TimeoutError")
      return { ok: false, message: `${shown} did not answer within ${timeoutMs} ms` };
    return {
      ok: false,
      message: `cannot reach ${shown}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    };
  }
}

function refusal(url: string, status: number, body: unknown): string {
  const message = (body as { error?: { message?: string } } | undefined)?.error?.message;
  const what =
    status === 401 || status === 403 ? "the API key was refused" : "the provider answered an error";
  return `${what}: ${url} answered ${status}${message === undefined ? "" : ` (${message})`}`;
}
