// The checks of `openclaw onboard`: a real request to the model provider and to Telegram's Bot API.

/** Defaults of the onboarding checks. */
export const ONBOARD_CHECK_DEFAULTS = Object.freeze({
  /** How long one check request may take, in ms. */
  timeoutMs: 15_000,
  /** Telegram's Bot API server (a channel's `apiRoot`). */
  telegramApiRoot: "https://api.telegram.org",
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

async function request(
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<CheckResult<{ status: number; body: unknown }>> {
  const shown = url.replace(/\/bot[^/]+\//, "/bot<token>/");
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
