import type { Command } from "commander";

/** The shells `openclaw completion` writes a script for. */
export type Shell = "bash" | "zsh" | "fish";

/** A command's words: its subcommands and its long and short options. */
interface Words {
  commands: string[];
  options: string[];
}

function wordsOf(command: Command): Words {
  return {
    commands: command.commands.map((c) => c.name()),
    options: command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)),
  };
}

/**
 * Writes a completion script generated from the command tree, so that it always matches the
 * commands and options the CLI has: `source <(openclaw completion bash)` (or zsh), or
 * `openclaw completion fish > ~/.config/fish/completions/openclaw.fish`.
 *
 * @param shell - bash, zsh or fish.
 * @param program - The root command.
 * @returns The script.
 */
export function completionScript(shell: Shell, program: Command): string {
  // Each command's words by its path: "" for the root, "nodes", "nodes invoke", …
  const table = new Map<string, Words>();
  const visit = (command: Command, path: string) => {
    table.set(path, wordsOf(command));
    for (const sub of command.commands) visit(sub, path === "" ? sub.name() : `${path} ${sub.name()}`);
  };
  visit(program, "");
  if (shell === "fish") return fish(table);
  const cases = [...table]
    .map(
      ([path, words]) =>
        `    "${path}") commands="${words.commands.join(" ")}"; options="${words.options.join(" ")}" ;;`,
    )
    .join("\n");
  const bash = `# openclaw completion (bash): source <(openclaw completion bash)
_openclaw() {
  local cur path word commands options i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    _openclaw_words "\${path:+$path }$word" && path="\${path:+$path }$word"
  done
  _openclaw_words "$path"
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  fi
}
_openclaw_words() {
  case "$1" in
${cases}
    *) return 1 ;;
  esac
}
complete -o default -F _openclaw openclaw
`;
  return shell === "zsh"
    ? `# openclaw completion (zsh): source <(openclaw completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bash}`
    : bash;
}

function fish(table: Map<string, Words>): string {
  const lines = [
    "# openclaw completion (fish): openclaw completion fish > ~/.config/fish/completions/openclaw.fish",
    "complete -c openclaw -f",
  ];
  for (const [path, words] of table) {
    const parts = path === "" ? [] : path.split(" ");
    const condition =
      parts.length === 0
        ? "__fish_use_subcommand"
        : `__fish_seen_subcommand_from ${parts.at(-1)}${parts.length > 1 ? `; and __fish_seen_subcommand_from ${parts[0]}` : ""}`;
    if (words.commands.length > 0)
      lines.push(`complete -c openclaw -n '${condition}' -a '${words.commands.join(" ")}'`);
    for (const option of words.options)
      lines.push(
        option.startsWith("--")
          ? `complete -c openclaw -n '${condition}' -l ${option.slice(2)}`
          : `complete -c openclaw -n '${condition}' -s ${option.slice(1)}`,
      );
  }
  return `${lines.join("\n")}\n`;
}
