// `openclaw onboard`: the first-run wizard (model provider, default agent, channels, service).
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as p from "@clack/prompts";
import { parseConfigText, resolveConfig } from "@openclaw/config";
import { Command, CommanderError } from "commander";
import { EXIT } from "./commands";
import { openclawHome } from "./home";
import {
  type CheckResult,
  checkDiscord,
  checkMatrix,
  checkProvider,
  checkSlack,
  checkTelegram,
  ONBOARD_CHECK_DEFAULTS,
} from "./onboard-checks";
import { DEFAULT_SERVICE_OPTIONS } from "./service";

/** Defaults of `openclaw onboard`'s answers. */
export const ONBOARD_DEFAULTS = Object.freeze({
  /** The base URL offered for the model provider. */
  providerUrl: "https://api.openai.com/v1",
  /** The name of the agent written (`agents.list.<name>`, and `agents.default`). */
  agent: "assistant",
});

/** One credential a channel needs: its key in `channels.<name>`, its flag and its question. */
interface ChannelField {
  key: string;
  flag: string;
  question: string;
  secret?: boolean;
}

/** A channel the wizard offers: the credentials it asks for, and how they are checked. */
interface ChannelSpec {
  label: string;
  hint: string;
  fields: readonly ChannelField[];
  /** The platform's API server: a setting of the channel, overridable by a flag (for tests, proxies). */
  api?: { key: string; flag: string; default: string };
  /** A cheap request to the platform's API with the credentials; what it says when they work. */
  check?: (settings: Record<string, string>, api: string, timeoutMs: number) => Promise<CheckResult<string>>;
}

/** The channels the wizard offers, in the order shown, with the credentials each needs. */
export const ONBOARD_CHANNELS: Readonly<Record<string, ChannelSpec>> = {
  telegram: {
    label: "Telegram",
    hint: "a bot token from @BotFather (checked with getMe)",
    fields: [
      {
        key: "botToken",
        flag: "telegram-token",
        question: "Telegram bot token (from @BotFather)",
        secret: true,
      },
    ],
    api: { key: "apiRoot", flag: "telegram-api-root", default: ONBOARD_CHECK_DEFAULTS.telegramApiRoot },
    check: async (settings, api, timeoutMs) => {
      const result = await checkTelegram(settings.botToken ?? "", api, timeoutMs);
      return result.ok ? { ok: true, value: `the bot is @${result.value}` } : result;
    },
  },
  whatsapp: {
    label: "WhatsApp",
    hint: "linked device (Baileys): the QR code is in the control UI",
    fields: [],
  },
  discord: {
    label: "Discord",
    hint: "a bot token",
    fields: [{ key: "botToken", flag: "discord-token", question: "Discord bot token", secret: true }],
    api: { key: "apiRoot", flag: "discord-api-root", default: ONBOARD_CHECK_DEFAULTS.discordApiRoot },
    check: async (settings, api, timeoutMs) => {
      const result = await checkDiscord(settings.botToken ?? "", api, timeoutMs);
      return result.ok ? { ok: true, value: `the bot is ${result.value}` } : result;
    },
  },
  slack: {
    label: "Slack",
    hint: "bot token (xoxb-) and app token (xapp-) for Socket Mode",
    fields: [
      { key: "botToken", flag: "slack-bot-token", question: "Slack bot token (xoxb-…)", secret: true },
      { key: "appToken", flag: "slack-app-token", question: "Slack app token (xapp-…)", secret: true },
    ],
    api: { key: "apiUrl", flag: "slack-api-url", default: ONBOARD_CHECK_DEFAULTS.slackApiUrl },
    check: async (settings, api, timeoutMs) => {
      const result = await checkSlack(settings.botToken ?? "", api, timeoutMs);
      return result.ok
        ? { ok: true, value: `the bot is ${result.value} (the app token is not checked)` }
        : result;
    },
  },
  signal: {
    label: "Signal",
    hint: "the account of a running signal-cli daemon",
    fields: [{ key: "account", flag: "signal-account", question: "Signal account (its phone number, +…)" }],
  },
  matrix: {
    label: "Matrix",
    hint: "homeserver, user id and access token",
    fields: [
      { key: "homeserverUrl", flag: "matrix-homeserver", question: "Matrix homeserver URL (https://…)" },
      { key: "userId", flag: "matrix-user", question: "Matrix user id (@name:server)" },
      { key: "accessToken", flag: "matrix-token", question: "Matrix access token", secret: true },
    ],
    check: async (settings, _api, timeoutMs) => {
      const result = await checkMatrix(
        settings.homeserverUrl ?? "",
        settings.userId ?? "",
        settings.accessToken ?? "",
        timeoutMs,
      );
      return result.ok ? { ok: true, value: `the access token is ${result.value}'s` } : result;
    },
  },
  msteams: {
    label: "Microsoft Teams",
    hint: "the Azure bot's app id and password",
    fields: [
      { key: "appId", flag: "msteams-app-id", question: "Teams app id" },
      { key: "appPassword", flag: "msteams-app-password", question: "Teams app password", secret: true },
    ],
  },
};

const AFTER_HELP = `
Without --non-interactive it asks on the terminal; a flag given answers its question. With
--non-interactive every answer comes from the flags: --provider-url and --model (and --api-key when
the provider needs one) unless the home's config already has a model provider, and each --channel's
credentials. The config is merged into $OPENCLAW_HOME/openclaw.json (default ~/.openclaw): run it
again to add a channel. Examples:
  openclaw onboard
  openclaw onboard --non-interactive --provider-url https://api.openai.com/v1 --api-key sk-… \\
    --model gpt-4o-mini --channel telegram --telegram-token 123:ABC… --no-install`;

/** The wizard's questions were cancelled (Ctrl-C). */
class Cancelled extends Error {}
/** An answer is missing in non-interactive mode, or a flag is wrong. */
class Usage extends Error {}
/** A check failed in non-interactive mode, or the config cannot be written. */
class Failed extends Error {}

type Flags = Record<string, string | boolean | string[] | undefined>;

/**
 * `openclaw onboard`: asks for (or takes from flags) a model provider, checked with a real request;
 * writes the default agent and the chosen channels into the home's `openclaw.json`, merged with what
 * is there; offers to install and start the gateway's service and to open the dashboard.
 *
 * @param argv - The arguments after `onboard`.
 * @returns The exit code.
 */
export async function onboardCommand(argv: readonly string[]): Promise<number> {
  const command = new Command("openclaw onboard")
    .description("set up a model provider, the default agent and channels (re-run to add a channel)")
    .helpOption("-h, --help", "this help")
    .exitOverride()
    .option("--non-interactive", "ask nothing: every answer from the flags (for scripts)")
    .option("--provider-url <url>", "base URL of an OpenAI-compatible API")
    .option("--api-key <key>", "its API key")
    .option("--model <name>", "the upstream model")
    .option("--agent <name>", `the agent's name (default "${ONBOARD_DEFAULTS.agent}")`)
    .option("--channel <names...>", `channels to set up: ${Object.keys(ONBOARD_CHANNELS).join(", ")}`)
    .option(
      "--check-timeout <ms>",
      `how long each check request may take (default ${ONBOARD_CHECK_DEFAULTS.timeoutMs})`,
    )
    .option("--no-install", "do not install the gateway's service")
    .option("-y, --yes", "answer yes to the service and dashboard questions")
    .addHelpText("after", AFTER_HELP);
  for (const { label, fields, api } of Object.values(ONBOARD_CHANNELS)) {
    for (const field of fields) command.option(`--${field.flag} <value>`, field.question);
    if (api !== undefined)
      command.option(`--${api.flag} <url>`, `${label}'s API server (default ${api.default})`);
  }
  try {
    command.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError)
      return error.code === "commander.helpDisplayed" ? EXIT.OK : EXIT.USAGE;
    throw error;
  }
  const values = command.opts() as Record<string, unknown>;
  const flags: Flags = {};
  for (const option of command.options) {
    const value = values[option.attributeName()];
    if (value !== undefined) flags[option.negate ? option.attributeName() : option.name()] = value as string;
  }
  const interactive = flags["non-interactive"] !== true;
  if (interactive && process.stdin.isTTY !== true) {
    process.stderr.write(
      "openclaw onboard: stdin is not a terminal: run it in one, or pass --non-interactive with the answers as flags (openclaw onboard --help)\n",
    );
    return EXIT.USAGE;
  }
  try {
    return await wizard(flags, interactive);
  } catch (error) {
    if (error instanceof Cancelled) {
      p.cancel("Cancelled: nothing was written.");
      return EXIT.ERROR;
    }
    if (error instanceof Usage) {
      process.stderr.write(
        `openclaw onboard: ${error.message}\n\nRun openclaw onboard --help for the flags.\n`,
      );
      return EXIT.USAGE;
    }
    if (error instanceof Failed) {
      if (interactive) p.cancel(error.message);
      else process.stderr.write(`openclaw onboard: ${error.message}\n`);
      return EXIT.ERROR;
    }
    throw error;
  }
}

async function wizard(flags: Flags, interactive: boolean): Promise<number> {
  const say = (text: string) => (interactive ? p.log.info(text) : process.stdout.write(`${text}\n`));
  const flag = (name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
  const ask = async (
    name: string,
    question: string,
    options: { secret?: boolean; defaultValue?: string; placeholder?: string; optional?: boolean } = {},
  ): Promise<string> => {
    const given = flag(name);
    if (given !== undefined) return given;
    if (!interactive) {
      if (options.defaultValue !== undefined) return options.defaultValue;
      if (options.optional === true) return "";
      throw new Usage(`--${name} is missing (${question})`);
    }
    const validate = (value: string | undefined) =>
      options.optional === true || options.defaultValue !== undefined || (value ?? "").trim() !== ""
        ? undefined
        : "an answer is needed";
    const value = options.secret
      ? await p.password({ message: question, validate })
      : await p.text({
          message: question,
          ...(options.placeholder === undefined ? {} : { placeholder: options.placeholder }),
          ...(options.defaultValue === undefined ? {} : { defaultValue: options.defaultValue }),
          validate,
        });
    if (p.isCancel(value)) throw new Cancelled();
    return (value ?? "").trim();
  };
  const confirm = async (question: string): Promise<boolean> => {
    if (flags.yes === true) return true;
    if (!interactive) return false;
    const value = await p.confirm({ message: question });
    if (p.isCancel(value)) throw new Cancelled();
    return value;
  };

  const timeout = flag("check-timeout");
  const timeoutMs = timeout === undefined ? ONBOARD_CHECK_DEFAULTS.timeoutMs : Number(timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new Usage("--check-timeout must be a positive whole number of milliseconds");
  const home = openclawHome(process.env);
  const file = join(home, "openclaw.json");
  if (interactive) p.intro("OpenClaw onboarding");
  const existing = await readExisting(file);
  say(existing === undefined ? `The config will be written to ${file}` : `Adding to ${file}`);

  // The model provider and the default agent.
  const agents = (existing?.agents ?? {}) as {
    default?: string;
    list?: Record<string, Record<string, unknown>>;
  };
  const current = agents.default === undefined ? undefined : agents.list?.[agents.default];
  let agentName: string;
  let agent: Record<string, unknown> | undefined;
  const keep =
    current?.provider === "openai" &&
    flag("provider-url") === undefined &&
    (!interactive ||
      (await (async () => {
        const value = await p.confirm({
          message: `Keep the model provider (agent "${agents.default}": ${String(current.model)} at ${String(current.baseUrl)})?`,
        });
        if (p.isCancel(value)) throw new Cancelled();
        return value;
      })()));
  if (keep) agentName = agents.default as string;
  else {
    let models: string[] = [];
    let baseUrl = "";
    let apiKey = "";
    for (;;) {
      baseUrl = await ask("provider-url", "Base URL of an OpenAI-compatible API", {
        placeholder: ONBOARD_DEFAULTS.providerUrl,
        ...(interactive ? { defaultValue: ONBOARD_DEFAULTS.providerUrl } : {}),
      });
      apiKey = await ask("api-key", "API key (empty for none)", { secret: true, optional: true });
      const spinner = interactive ? p.spinner() : undefined;
      spinner?.start(`Checking ${baseUrl}`);
      const checked = await checkProvider(baseUrl, apiKey, flag("model"), timeoutMs);
      if (checked.ok) {
        spinner?.stop(
          `${baseUrl} answered${checked.value.length === 0 ? "" : ` (${checked.value.length} model${checked.value.length === 1 ? "" : "s"})`}`,
        );
        models = checked.value;
        break;
      }
      spinner?.error(checked.message);
      if (!interactive || flag("provider-url") !== undefined) throw new Failed(checked.message);
      // Asked again; a key given as a flag is kept.
    }
    let model = flag("model");
    if (model === undefined && interactive && models.length > 0 && models.length <= 100) {
      const picked = await p.select({
        message: "Model",
        options: models.map((id) => ({ value: id, label: id })),
      });
      if (p.isCancel(picked)) throw new Cancelled();
      model = picked;
    }
    model ??= await ask("model", "Model (the upstream's name for it)");
    agentName = await ask("agent", "Name of the agent", {
      defaultValue: ONBOARD_DEFAULTS.agent,
      placeholder: ONBOARD_DEFAULTS.agent,
    });
    agent = { provider: "openai", baseUrl, ...(apiKey === "" ? {} : { apiKey }), model };
    say(`Agent "${agentName}": ${model} at ${baseUrl} (the default agent)`);
  }

  // Channels.
  let chosen: string[];
  const named = flags.channel;
  if (Array.isArray(named)) chosen = named.flatMap((name) => name.split(",")).filter((name) => name !== "");
  else if (!interactive) chosen = [];
  else {
    const picked = await p.multiselect({
      message: "Channels to set up (space to pick, enter when done)",
      options: Object.entries(ONBOARD_CHANNELS).map(([value, { label, hint }]) => ({ value, label, hint })),
      required: false,
    });
    if (p.isCancel(picked)) throw new Cancelled();
    chosen = picked;
  }
  for (const name of chosen)
    if (!Object.hasOwn(ONBOARD_CHANNELS, name))
      throw new Usage(`unknown channel "${name}": one of ${Object.keys(ONBOARD_CHANNELS).join(", ")}`);
  const channels: Record<string, Record<string, unknown>> = {};
  for (const name of chosen) {
    const spec = ONBOARD_CHANNELS[name]!;
    const settings: Record<string, string> = { agent: agentName };
    const api = spec.api === undefined ? undefined : (flag(spec.api.flag) ?? spec.api.default);
    if (spec.api !== undefined && api !== undefined && api !== spec.api.default) settings[spec.api.key] = api;
    for (;;) {
      for (const field of spec.fields)
        settings[field.key] = await ask(field.flag, field.question, { secret: field.secret === true });
      if (spec.check === undefined) break;
      const spinner = interactive ? p.spinner() : undefined;
      spinner?.start(`Checking with ${spec.label}`);
      const checked = await spec.check(settings, api ?? "", timeoutMs);
      if (checked.ok) {
        spinner?.stop(`${spec.label}: ${checked.value}`);
        if (!interactive) say(`${spec.label}: ${checked.value}`);
        break;
      }
      spinner?.error(`${spec.label}: ${checked.message}`);
      // Asked again on a terminal, unless every answer came from a flag.
      if (!interactive || spec.fields.every((field) => flag(field.flag) !== undefined))
        throw new Failed(`${spec.label}: ${checked.message}`);
    }
    if (name === "whatsapp") {
      settings.transport = "baileys";
      say(
        "WhatsApp: saved, not linked yet: once the gateway runs, scan the QR code in the control UI (Channels) or from `openclaw status --json` (details.qr) with WhatsApp > Linked devices. The terminal does not show it.",
      );
    } else if (spec.check === undefined)
      say(`${spec.label}: saved, not verified (no check against ${spec.label} here)`);
    channels[name] = settings;
  }

  // Merge and write.
  const merged: Record<string, unknown> = { ...(existing ?? {}) };
  merged.agents = {
    ...agents,
    default: agentName,
    list: { ...(agents.list ?? {}), ...(agent === undefined ? {} : { [agentName]: agent }) },
  };
  merged.channels = {
    ...((existing?.channels ?? {}) as Record<string, Record<string, unknown>>),
    ...Object.fromEntries(
      Object.entries(channels).map(([name, settings]) => [
        name,
        {
          ...(((existing?.channels ?? {}) as Record<string, Record<string, unknown>>)[name] ?? {}),
          ...settings,
        },
      ]),
    ),
  };
  const checked = resolveConfig(merged, process.env, file);
  if (!checked.valid)
    throw new Failed(
      `the config would be invalid, nothing was written:\n${checked.issues.map((issue) => `  ${issue.path || "(file)"}: ${issue.message}`).join("\n")}`,
    );
  await mkdir(home, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // It holds keys and tokens: readable by the user only.
  await writeFile(tmp, `${JSON.stringify(merged, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  say(`Wrote ${file} (mode 600: it holds your keys)`);

  // The service and the dashboard.
  let code: number = EXIT.OK;
  let started = false;
  if (
    flags.install !== false &&
    (await confirm("Install and start the gateway as a service (systemd user unit)?"))
  ) {
    const installed = await (await import("./gateway")).gatewayCommand(["install"]);
    if (installed !== EXIT.OK) code = EXIT.ERROR;
    else {
      const unit = DEFAULT_SERVICE_OPTIONS.unitName;
      for (const args of [["daemon-reload"], ["enable", "--now", unit]]) {
        const run = spawnSync("systemctl", ["--user", ...args], { encoding: "utf8" });
        if (run.status !== 0) {
          say(
            `systemctl --user ${args.join(" ")} failed: ${(run.stderr || run.error?.message || "").trim()}; start the gateway with \`openclaw gateway\` instead`,
          );
          code = EXIT.ERROR;
          break;
        }
      }
      started = code === EXIT.OK;
      if (started) say(`The gateway runs as ${unit} (openclaw logs -f for its log)`);
    }
  }
  if (started && (await confirm("Open the dashboard?"))) {
    await new Promise<void>((done) => {
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? "", "dashboard"], {
        stdio: "inherit",
      });
      child.once("exit", () => done());
      child.once("error", () => done());
    });
  }
  const next = started
    ? "Next: openclaw dashboard (the control UI), openclaw chat"
    : "Next: openclaw gateway (starts it in the foreground), then openclaw dashboard or openclaw chat";
  if (interactive) p.outro(next);
  else say(next);
  return code;
}

/** The home's config as it is, or `undefined` when there is none yet. */
async function readExisting(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Failed(`cannot read ${file}: ${(error as Error).message}`);
  }
  const parsed = parseConfigText(text, file);
  if (!parsed.ok)
    throw new Failed(
      `${file} cannot be read (${parsed.issue.message}); fix it first (openclaw doctor), nothing was written`,
    );
  if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value))
    throw new Failed(`${file} is not a JSON object; fix it first (openclaw doctor), nothing was written`);
  return parsed.value as Record<string, unknown>;
}
