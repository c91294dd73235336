import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FakeDiscord } from "@openclaw/channel-discord/testing";
import { FAKE_BOT_USER, FakeMatrix } from "@openclaw/channel-matrix/testing";
import { FAKE_SLACK_DEFAULTS, FakeSlack } from "@openclaw/channel-slack/testing";
import { FakeTelegram } from "@openclaw/channel-telegram/testing";
import { FakeOpenAiUpstream } from "@openclaw/gateway/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { kill9, startGatewayProcess, until } from "./gateway-process";

// `openclaw onboard` end to end: the wizard on a real terminal (a pty through script(1)) and
// non-interactively, against a fake OpenAI-compatible upstream and a fake Telegram Bot API; then
// `openclaw gateway` on the home it wrote answers a Telegram message with the upstream's reply.
vi.setConfig({ testTimeout: 120_000 });

const BOT_TOKEN = "7000000001:AAFakeTokenForTests_0123456789abc";
const API_KEY = "sk-onboard-test-key";
const root = resolve(import.meta.dirname, "../..");
const cliMain = join(root, "apps/cli/src/main.ts");
const tsx = createRequire(join(root, "package.json")).resolve("tsx");

let home: string;
let upstream: FakeOpenAiUpstream;
let telegram: FakeTelegram;
const children: ChildProcess[] = [];

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "openclaw-onboard-"));
  upstream = await FakeOpenAiUpstream.start({ apiKey: API_KEY });
  telegram = await FakeTelegram.start(BOT_TOKEN);
});

afterEach(async () => {
  for (const child of children.splice(0)) await kill9(child);
  await telegram.close();
  await upstream.close();
  await rm(home, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: home,
  OPENCLAW_HOME: home,
  NO_COLOR: "1",
  TERM: "xterm-256color",
});

const cli = ["--conditions=@openclaw/source", "--import", tsx, cliMain];

/** Runs `openclaw <args>` without a terminal; resolves with its exit code and output. */
function openclaw(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...cli, ...args], { cwd: home, env: env(), stdio: "pipe" });
    children.push(child);
    child.stdin.end();
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("exit", (code) => done({ code, stdout, stderr }));
  });
}

/** The wizard on a real terminal: script(1) gives it a pty; keys are typed into it. */
function terminal(args: string[]) {
  // script(1) without a terminal of its own gives the pty no size: one as a user's terminal has.
  const command = `stty cols 120 rows 40; exec ${[process.execPath, ...cli, "onboard", ...args].join(" ")}`;
  const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: home, env: env(), stdio: "pipe" });
  children.push(child);
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once("exit", done));
  let seen = 0;
  return {
    exited,
    output: () => output,
    /** Waits for `text` to appear after what was answered so far, then types `keys`. */
    async answer(text: string, keys: string) {
      await vi.waitFor(
        () => {
          const at = output.indexOf(text, seen);
          if (at < 0) throw new Error(`the wizard did not ask "${text}"; it printed:\n${output.slice(seen)}`);
        },
        { timeout: 30_000, interval: 20 },
      );
      seen = output.indexOf(text, seen) + text.length;
      child.stdin.write(keys);
    },
  };
}

/** Starts `openclaw gateway` on the home, writes to the bot through the fake, waits for the reply. */
async function answersOnTelegram(): Promise<void> {
  await startGatewayProcess(home, { OPENCLAW_HOME: home }, children, { cli: true });
  await until(
    () => telegram.calls.some((call) => call.method === "getUpdates"),
    "the gateway to poll Telegram",
  );
  telegram.inject("hello onboarded bot");
  await until(() => telegram.sentTexts().length > 0, "the reply on Telegram");
  expect(telegram.sentTexts()).toEqual(["You said: hello onboarded bot"]);
  // The reply came from the upstream, with the key the wizard was given.
  const chat = upstream.requests.find((request) => request.path === "/v1/chat/completions");
  expect(chat?.headers.authorization).toBe(`Bearer ${API_KEY}`);
  expect(chat?.body).toMatchObject({ model: "fake-1" });
}

describe("openclaw onboard", () => {
  it("the wizard on a terminal: checks the provider and the bot, writes the home's config, and the gateway answers on Telegram", async () => {
    const wizard = terminal(["--telegram-api-root", telegram.apiRoot, "--no-install"]);
    await wizard.answer("Base URL of an OpenAI-compatible API", `${upstream.url}\r`);
    await wizard.answer("API key", `${API_KEY}\r`);
    // The key was checked with a real request, and the models it lists are offered.
    await wizard.answer("fake-1", "\r");
    await wizard.answer("Name of the agent", "\r");
    // Telegram is the first channel offered: space picks it, enter goes on.
    await wizard.answer("Channels to set up", " \r");
    await wizard.answer("Telegram bot token", `${BOT_TOKEN}\r`);
    expect(await wizard.exited).toBe(0);
    expect(wizard.output()).toContain("the bot is @openclaw_test_bot");
    expect(upstream.requests[0]).toMatchObject({ method: "GET", path: "/v1/models" });
    expect(upstream.requests[0]?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(telegram.calls.map((call) => call.method)).toEqual(["getMe"]);

    const file = join(home, "openclaw.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      agents: {
        default: "assistant",
        list: { assistant: { provider: "openai", baseUrl: upstream.url, apiKey: API_KEY, model: "fake-1" } },
      },
      channels: { telegram: { agent: "assistant", botToken: BOT_TOKEN, apiRoot: telegram.apiRoot } },
    });
    await answersOnTelegram();
  });

  it("re-run on a terminal: keeps the provider and adds a channel", async () => {
    const first = await openclaw([
      "onboard",
      "--non-interactive",
      "--provider-url",
      upstream.url,
      "--api-key",
      API_KEY,
      "--model",
      "fake-1",
      "--agent",
      "helper",
      "--no-install",
    ]);
    expect(first.code).toBe(0);
    const wizard = terminal(["--telegram-api-root", telegram.apiRoot, "--no-install"]);
    await wizard.answer(`Keep the model provider (agent "helper": fake-1 at ${upstream.url})?`, "\r");
    await wizard.answer("Channels to set up", " \r");
    await wizard.answer("Telegram bot token", `${BOT_TOKEN}\r`);
    expect(await wizard.exited).toBe(0);
    expect(wizard.output()).not.toContain("Base URL of an OpenAI-compatible API");
    expect(JSON.parse(await readFile(join(home, "openclaw.json"), "utf8"))).toEqual({
      agents: {
        default: "helper",
        list: { helper: { provider: "openai", baseUrl: upstream.url, apiKey: API_KEY, model: "fake-1" } },
      },
      channels: { telegram: { agent: "helper", botToken: BOT_TOKEN, apiRoot: telegram.apiRoot } },
    });
  });

  it("asks again when the provider refuses the key, and keeps nothing on Ctrl-C", async () => {
    const wizard = terminal(["--no-install"]);
    await wizard.answer("Base URL of an OpenAI-compatible API", `${upstream.url}\r`);
    await wizard.answer("API key", "sk-wrong\r");
    await wizard.answer("the API key was refused", "");
    await wizard.answer("Base URL of an OpenAI-compatible API", "\u0003");
    expect(await wizard.exited).toBe(1);
    await expect(stat(join(home, "openclaw.json"))).rejects.toThrow(/ENOENT/);
  });

  it("--non-interactive: every answer from flags; re-run adds a channel and keeps what is there", async () => {
    // A config the user already has: a setting of theirs, kept by the merge.
    await writeFile(join(home, "openclaw.json"), JSON.stringify({ heartbeat: { intervalMs: 60_000 } }));
    const first = await openclaw([
      "onboard",
      "--non-interactive",
      "--provider-url",
      upstream.url,
      "--api-key",
      API_KEY,
      "--model",
      "fake-1",
      "--no-install",
    ]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    // The re-run keeps the provider and adds Telegram, checked with getMe.
    const second = await openclaw([
      "onboard",
      "--non-interactive",
      "--channel",
      "telegram",
      "--telegram-token",
      BOT_TOKEN,
      "--telegram-api-root",
      telegram.apiRoot,
      "--no-install",
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("the bot is @openclaw_test_bot");
    const config = JSON.parse(await readFile(join(home, "openclaw.json"), "utf8"));
    expect(config).toMatchObject({
      heartbeat: { intervalMs: 60_000 },
      agents: { default: "assistant", list: { assistant: { model: "fake-1", apiKey: API_KEY } } },
      channels: { telegram: { agent: "assistant", botToken: BOT_TOKEN } },
    });
    await answersOnTelegram();
  });

  it("--non-interactive refuses a wrong key, a wrong bot token and a missing answer, writing nothing", async () => {
    const base = [
      "onboard",
      "--non-interactive",
      "--provider-url",
      upstream.url,
      "--model",
      "fake-1",
      "--no-install",
    ];
    const badKey = await openclaw([...base, "--api-key", "sk-wrong"]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain("the API key was refused");
    expect(badKey.stderr).toContain("401");
    const badToken = await openclaw([
      ...base,
      "--api-key",
      API_KEY,
      "--channel",
      "telegram",
      "--telegram-token",
      "7000000001:AAWrongTokenForTests_0123456789abc",
      "--telegram-api-root",
      telegram.apiRoot,
    ]);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain("Telegram refused the token");
    // A provider that accepts the connection and never answers: the check gives up, saying so.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const { port } = silent.address() as AddressInfo;
      const hung = await openclaw([
        "onboard",
        "--non-interactive",
        "--provider-url",
        `http://127.0.0.1:${port}/v1`,
        "--model",
        "fake-1",
        "--check-timeout",
        "500",
        "--no-install",
      ]);
      expect(hung.code).toBe(1);
      expect(hung.stderr).toContain(`http://127.0.0.1:${port}/v1/models did not answer within 500 ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => silent.close(done));
    }
    const badTimeout = await openclaw([...base, "--api-key", API_KEY, "--check-timeout", "soon"]);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain("--check-timeout must be a positive whole number");
    const notUrl = await openclaw([
      "onboard",
      "--non-interactive",
      "--provider-url",
      "localhost:8080",
      "--model",
      "m",
    ]);
    expect(notUrl.code).toBe(1);
    expect(notUrl.stderr).toContain('"localhost:8080" is not an http(s) URL');
    const missing = await openclaw(["onboard", "--non-interactive", "--no-install"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--provider-url is missing");
    await expect(stat(join(home, "openclaw.json"))).rejects.toThrow(/ENOENT/);
  });

  it("checks Discord, Slack and Matrix credentials against their APIs; the other channels are saved unverified", async () => {
    const discord = await FakeDiscord.start({ token: "discord-bot-token-0123456789" });
    const slack = await FakeSlack.start();
    const matrix = await FakeMatrix.start({ accessToken: "syt_matrix_token_0123" });
    try {
      const base = ["onboard", "--non-interactive", "--provider-url", upstream.url, "--api-key", API_KEY];
      const channels = [
        "--channel",
        "discord,slack,matrix,signal",
        "--discord-api-root",
        discord.apiRoot,
        "--slack-api-url",
        slack.apiUrl,
        "--slack-app-token",
        FAKE_SLACK_DEFAULTS.appToken,
        "--matrix-homeserver",
        matrix.baseUrl,
        "--matrix-user",
        FAKE_BOT_USER,
        "--signal-account",
        "+15550001111",
        "--no-install",
      ];
      const wrong = await openclaw([
        ...base,
        "--model",
        "fake-1",
        ...channels,
        "--discord-token",
        "discord-wrong-token",
        "--slack-bot-token",
        FAKE_SLACK_DEFAULTS.botToken,
        "--matrix-token",
        "syt_matrix_token_0123",
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("Discord: Discord refused the token (401 Unauthorized)");
      const wrongSlack = await openclaw([
        ...base,
        "--model",
        "fake-1",
        ...channels,
        "--discord-token",
        "discord-bot-token-0123456789",
        "--slack-bot-token",
        "xoxb-0000000000-wrong",
        "--matrix-token",
        "syt_matrix_token_0123",
      ]);
      expect(wrongSlack.code).toBe(1);
      expect(wrongSlack.stderr).toContain("Slack refused the bot token (invalid_auth)");
      const wrongMatrix = await openclaw([
        ...base,
        "--model",
        "fake-1",
        ...channels,
        "--discord-token",
        "discord-bot-token-0123456789",
        "--slack-bot-token",
        FAKE_SLACK_DEFAULTS.botToken,
        "--matrix-token",
        "syt_wrong_token_0123",
      ]);
      expect(wrongMatrix.code).toBe(1);
      expect(wrongMatrix.stderr).toContain("the homeserver refused the access token (401 M_UNKNOWN_TOKEN)");
      await expect(stat(join(home, "openclaw.json"))).rejects.toThrow(/ENOENT/);

      const right = await openclaw([
        ...base,
        "--model",
        "fake-1",
        ...channels,
        "--discord-token",
        "discord-bot-token-0123456789",
        "--slack-bot-token",
        FAKE_SLACK_DEFAULTS.botToken,
        "--matrix-token",
        "syt_matrix_token_0123",
      ]);
      expect(right.stderr).toBe("");
      expect(right.code).toBe(0);
      expect(right.stdout).toContain("Discord: the bot is openclaw");
      expect(right.stdout).toMatch(/Slack: the bot is \S+ in \S+/);
      expect(right.stdout).toContain(`Matrix: the access token is ${FAKE_BOT_USER}'s`);
      expect(right.stdout).toContain("Signal: saved, not verified");
      const config = JSON.parse(await readFile(join(home, "openclaw.json"), "utf8"));
      expect(config.channels).toEqual({
        discord: { agent: "assistant", apiRoot: discord.apiRoot, botToken: "discord-bot-token-0123456789" },
        slack: {
          agent: "assistant",
          apiUrl: slack.apiUrl,
          botToken: FAKE_SLACK_DEFAULTS.botToken,
          appToken: FAKE_SLACK_DEFAULTS.appToken,
        },
        matrix: {
          agent: "assistant",
          homeserverUrl: matrix.baseUrl,
          userId: FAKE_BOT_USER,
          accessToken: "syt_matrix_token_0123",
        },
        signal: { agent: "assistant", account: "+15550001111" },
      });
    } finally {
      await matrix.close();
      await slack.close();
      await discord.close();
    }
  });

  it("--yes installs the service's unit in the home and starts it with systemctl; a user manager it cannot reach is reported", async () => {
    // No user session bus in this environment (none is passed to the CLI): systemctl --user really fails.
    const result = await openclaw([
      "onboard",
      "--non-interactive",
      "--yes",
      "--provider-url",
      upstream.url,
      "--api-key",
      API_KEY,
      "--model",
      "fake-1",
    ]);
    expect(result.code).toBe(1);
    const unit = await readFile(join(home, ".config/systemd/user/openclaw-gateway.service"), "utf8");
    expect(unit).toContain(`WorkingDirectory=${home}`);
    expect(unit).toContain(`Environment=OPENCLAW_CONFIG=${join(home, "openclaw.json")}`);
    expect(unit).not.toContain(API_KEY);
    expect(result.stdout).toContain("systemctl --user daemon-reload failed:");
    expect(result.stdout).toContain("start the gateway with `openclaw gateway` instead");
    // The config was written before: the gateway can still be started by hand.
    expect(JSON.parse(await readFile(join(home, "openclaw.json"), "utf8")).agents.default).toBe("assistant");
  });
});
