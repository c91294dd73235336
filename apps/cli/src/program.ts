import { Command, Option } from "commander";

/** What the action of a client command receives: its path, positionals and flags. */
export interface Invocation {
  /** The top-level command (`status`, `nodes`, …). */
  name: string;
  /** The subcommand first (when the command has subcommands), then the positionals. */
  args: string[];
  /** The flags, by their long name (`reply-to`, `base-hash`). */
  flags: Record<string, string | boolean | string[] | undefined>;
}

/** One option: `-m, --message <text>` and what it means. */
type OptionSpec = readonly [flags: string, description: string];

/** One command (or subcommand) of the table below. */
interface CommandSpec {
  /** `status`, `invoke <node> <method> [json]`. */
  usage: string;
  description: string;
  options?: readonly OptionSpec[];
  /** Subcommands; `default` names the one run when none is given. */
  sub?: readonly CommandSpec[];
  default?: string;
  /** More help text, after the generated one. */
  after?: string;
  /** Stray arguments reach the command, which says what to do instead (chat). */
  excess?: boolean;
}

const TIMEOUT: OptionSpec = ["--timeout <ms>", "request timeout in ms (default 30000)"];

/**
 * The client commands (those that talk to a running gateway) with their own options. `gateway`,
 * `doctor`, `logs`, `dashboard` and `completion` are added by {@link buildProgram} with theirs.
 */
export const CLIENT_COMMANDS: readonly CommandSpec[] = [
  {
    usage: "status",
    description: "gateway version, uptime, connections, channels",
    options: [
      ["--watch", "live figures (connections, messages/s, latency p50/p99, delivery queue) until Ctrl-C"],
      ["--interval <seconds>", "with --watch: seconds between samples (default 2)"],
      ["--count <n>", "with --watch: stop after n samples"],
    ],
  },
  {
    usage: "send <text...>",
    description: "send a message (without --channel the router decides)",
    options: [
      ["--to <recipient>", "the recipient (a user the router knows, or the channel's address)"],
      ["--channel <name>", "the channel to send on"],
      ["--reply-to <id>", "the message this answers"],
      ["--idempotency-key <key>", "sending twice with the same key sends once"],
    ],
  },
  {
    usage: "events",
    description: "live tail of events (Ctrl-C to stop)",
    options: [
      ["--filter <names...>", "event names or prefixes (channel.message.*), comma-separated or repeated"],
      ["--count <n>", "stop after n events"],
    ],
  },
  {
    usage: "nodes",
    description: "connected nodes and their capabilities",
    default: "list",
    sub: [
      { usage: "list", description: "connected nodes" },
      {
        usage: "invoke <node> <method> [json]",
        description: "call a method on a node",
        options: [["--timeout <ms>", "how long the node may take"]],
      },
    ],
  },
  {
    usage: "run <input...>",
    description: "run an agent (on a node with --target)",
    options: [
      ["--agent <name>", "the agent"],
      ["--target <node>", "run it on this node"],
      ["--timeout <ms>", "how long the agent may take"],
    ],
  },
  {
    usage: "chat",
    description: "chat with an agent (a prompt on a terminal; -m or piped stdin: one message)",
    options: [
      ["-m, --message <text>", "send one message, print the reply, exit"],
      ["-i, --interactive", "the prompt even when stdin is not a terminal (one message per line)"],
      ["--agent <name>", "the agent that replies (default: the webchat channel's agent)"],
      ["--conversation <id>", "continue a conversation (its id is printed when a new one starts)"],
    ],
    excess: true,
    after: `
In the prompt: /new, /agent [NAME], /history [N], /help, /quit; Ctrl-C stops a reply (a second
Ctrl-C before it has stopped exits with 130); Ctrl-C at an empty prompt, Ctrl-D and /quit exit 0.
One message: exit 0 when the reply completed, 1 when it failed, 130 on Ctrl-C.`,
  },
  {
    usage: "pair",
    description: "pairing requests of new devices",
    default: "list",
    sub: [
      { usage: "list", description: "waiting pairing requests" },
      { usage: "approve <code>", description: "let the device with this code connect" },
      {
        usage: "reject <code>",
        description: "refuse it",
        options: [["--reason <text>", "told to the device"]],
      },
    ],
  },
  {
    usage: "devices",
    description: "paired devices",
    default: "list",
    sub: [
      { usage: "list", description: "paired devices" },
      { usage: "revoke <node>", description: "revoke a device's token" },
    ],
  },
  {
    usage: "tasks",
    description: "background tasks and schedules",
    default: "list",
    sub: [
      {
        usage: "list",
        description: "tasks, a page at a time",
        options: [
          ["--status <status>", "only tasks in this state"],
          ["--limit <n>", "page size"],
          ["--cursor <c>", "the next page"],
        ],
      },
      {
        usage: "schedule <type>",
        description: "schedule a task",
        options: [
          ["--payload <json>", "the task's payload"],
          ["--cron <expr>", "a cron schedule"],
          ["--timezone <tz>", "the cron's time zone"],
          ["--delay <ms>", "run once after this delay"],
          ["--every <ms>", "run at this interval"],
          ["--at <date>", "run once at this date"],
          ["--name <name>", "a name to show"],
          ["--idempotency-key <key>", "scheduling twice with the same key schedules once"],
        ],
      },
      { usage: "cancel <id>", description: "cancel a task" },
    ],
  },
  {
    usage: "bindings",
    description: "routing rules: which channel a recipient's messages go to",
    default: "list",
    sub: [
      { usage: "list", description: "the bindings", options: [["--user <id>", "only this user's"]] },
      {
        usage: "add",
        description: "add a binding",
        options: [
          ["--level <level>", "peer, guild, account, channel or system"],
          ["--match <json>", 'what it matches ({"userId":"alice"})'],
          ["--channel <name>", "the target channel"],
          ["--address <address>", "the target address"],
          ["--id <id>", "its id"],
          ["--priority <n>", "higher wins"],
        ],
      },
      { usage: "remove <id>", description: "remove a binding" },
      {
        usage: "resolve <recipient>",
        description: "where a message to the recipient would go",
        options: [["--context <json>", "the message's context"]],
      },
    ],
  },
  {
    usage: "config",
    description: "the running gateway's config (set, unset and apply need the admin token)",
    sub: [
      { usage: "get [path]", description: "the active config (secrets redacted), or one path of it" },
      { usage: "validate <file>", description: "validate a config (a file, - for stdin, or inline JSON)" },
      {
        usage: "apply <file>",
        description: "apply a config (a file, - for stdin, or inline JSON)",
        options: [
          ["--mode <mode>", "replace (default) or merge"],
          ["--base-hash <hash>", "refuse if the config changed since this hash"],
        ],
      },
      {
        usage: "set <path> <value>",
        description: "set one key (value: JSON, else a string), refused if the config changed meanwhile",
      },
      { usage: "unset <path>", description: "remove one key (back to its default)" },
    ],
  },
  {
    usage: "delivery",
    description: "queued and dead deliveries",
    default: "list",
    sub: [
      {
        usage: "list",
        description: "deliveries",
        options: [
          ["--status <status>", "pending or dead"],
          ["--channel <name>", "only this channel's"],
          ["--limit <n>", "at most n"],
        ],
      },
      { usage: "retry <id>", description: "retry a delivery now" },
      { usage: "drop <id>", description: "drop a delivery" },
    ],
  },
  {
    usage: "dashboard",
    description: "print the control UI's URL and where its token is, and open it in a browser",
    options: [["--no-open", "only print it"]],
  },
];

/** Options every client command takes. */
const CONNECTION_OPTIONS: readonly OptionSpec[] = [
  ["--url <ws://…>", "gateway URL (OPENCLAW_URL, ~/.openclaw/cli.json, default: the local gateway's)"],
  [
    "--token <token>",
    "gateway or admin token (OPENCLAW_GATEWAY_TOKEN, ~/.openclaw/cli.json, the local gateway's)",
  ],
  ["--json", "machine-readable output (one JSON value per line)"],
];

/** Shown after the top-level help. */
export const HELP_FOOTER = `
Every client command takes --url, --token, --json and --timeout; openclaw <command> --help for its own.
Exit codes: 0 ok, 1 error, 2 usage, 3 authentication or permission.`;

/** Commands whose flags are parsed by their own code (the gateway's, doctor's, onboard's). */
export const PASS_THROUGH = [
  {
    usage: "gateway",
    description: "run the gateway in the foreground; gateway install: its systemd user unit",
  },
  { usage: "doctor", description: "check the setup and say what to fix (--fix: fix what it can)" },
  {
    usage: "onboard",
    description:
      "first run: a model provider, the default agent, channels, the service (re-run to add a channel)",
  },
] as const;

/**
 * Builds the command tree. Client commands call `run` with their invocation; `gateway` and
 * `doctor` call `passThrough` with their raw arguments (they parse their own flags).
 *
 * @param version - The CLI's version (`-v, --version`).
 * @param handlers - What each kind of command does.
 * @returns The root command.
 */
export function buildProgram(
  version: string,
  handlers: {
    run(invocation: Invocation): Promise<void>;
    passThrough(name: string, argv: string[]): Promise<void>;
    logs(options: { follow: boolean; lines: string | undefined }): Promise<void>;
    completion(shell: string, program: Command): void;
  },
): Command {
  const program = new Command("openclaw")
    .description("the command line for the OpenClaw Gateway")
    .usage("<command> [options]")
    .version(version, "-v, --version", "the CLI's version")
    .helpOption("-h, --help", "this help")
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText("after", HELP_FOOTER);
  program.addHelpCommand("help [command]", "help for a command");

  for (const spec of PASS_THROUGH) {
    program
      .command(spec.usage)
      .description(spec.description)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument("[options...]", "its own options: openclaw <command> --help")
      .action(async (args: string[]) => handlers.passThrough(spec.usage, args));
  }
  for (const spec of CLIENT_COMMANDS) addClient(program, spec, [], false, handlers.run);
  program
    .command("logs")
    .description("the gateway service's log (journalctl --user -u openclaw-gateway.service)")
    .option("-f, --follow", "keep printing new lines")
    .option("-n, --lines <n>", "how many of the last lines (default 100)")
    .action(async (options: { follow?: boolean; lines?: string }) =>
      handlers.logs({ follow: options.follow === true, lines: options.lines }),
    );
  program
    .command("completion")
    .description("a shell completion script: source <(openclaw completion bash)")
    .addArgument(
      new Command().createArgument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]),
    )
    .action((shell: string) => handlers.completion(shell, program));
  return program;
}

function addClient(
  parent: Command,
  spec: CommandSpec,
  path: string[],
  isDefault: boolean,
  run: (invocation: Invocation) => Promise<void>,
): void {
  const name = spec.usage.split(" ")[0] as string;
  // Exit handling, output and help settings as the parent's (addCommand does not copy them).
  const command = new Command(name).copyInheritedSettings(parent).description(spec.description);
  if (spec.after !== undefined) command.addHelpText("after", spec.after);
  if (spec.excess === true) command.allowExcessArguments(true);
  const argumentsText = spec.usage.slice(name.length).trim();
  if (argumentsText !== "") command.arguments(argumentsText);
  if (spec.sub !== undefined) {
    // `openclaw nodes` is `openclaw nodes list`.
    for (const sub of spec.sub)
      addClient(command, sub, [...path, name], sub.usage.split(" ")[0] === spec.default, run);
    parent.addCommand(command, { isDefault });
    return;
  }
  for (const [flags, description] of [...(spec.options ?? []), ...CONNECTION_OPTIONS]) {
    // A command's own --timeout (e.g. the node's) replaces the generic one.
    command.addOption(new Option(flags, description));
  }
  if (!(spec.options ?? []).some(([flags]) => flags.startsWith("--timeout")))
    command.addOption(new Option(...TIMEOUT));
  command.action(async (...received: unknown[]) => {
    const self = received.at(-1) as Command;
    const values = self.opts() as Record<string, unknown>;
    const flags: Invocation["flags"] = {};
    for (const option of self.options) {
      const value = values[option.attributeName()];
      if (value === undefined) continue;
      flags[option.negate ? option.attributeName() : option.name()] = value as string | boolean | string[];
    }
    const positionals = (spec.excess === true ? self.args : (self.processedArgs as unknown[])).flatMap(
      (arg) => (arg === undefined ? [] : Array.isArray(arg) ? (arg as string[]) : [String(arg)]),
    );
    const [top, ...rest] = [...path, name];
    await run({ name: top as string, args: [...rest, ...positionals], flags });
  });
  parent.addCommand(command, { isDefault });
}
