import { readFileSync } from "node:fs";
import {
  EVENT_NAMES,
  type EventName,
  type GatewayClient,
  type MethodName,
  type MethodParamsInput,
  type MethodResult,
} from "@openclaw/protocol";
import { type Output, table, when } from "./output";
import type { Settings } from "./settings";

/** The CLI's exit codes. */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** The gateway (or the network) refused or failed the request. */
  ERROR: 1,
  /** The command line is wrong. */
  USAGE: 2,
  /** The token was missing, refused, or lacks the scope. */
  AUTH: 3,
} as const;

/** A mistake on the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Flags every command may read. */
export interface Flags {
  [name: string]: string | boolean | string[] | undefined;
}

/** What a command gets. */
export interface CommandContext {
  args: string[];
  flags: Flags;
  out: Output;
  /** Where the CLI connects, and with what token (and where it came from). */
  settings: Settings;
  /** The connected client (connects on first use). */
  client(): Promise<GatewayClient>;
  /** Runs one request, with a spinner on a TTY. */
  call<M extends Exclude<MethodName, "connect">>(
    method: M,
    params?: MethodParamsInput<M>,
    options?: { target?: string; timeoutMs?: number },
  ): Promise<MethodResult<M>>;
  /** Resolves once the user interrupts (Ctrl-C) — for live commands. */
  interrupted: Promise<void>;
}

/** A command; it may resolve with an exit code (default 0). */
type Command = (ctx: CommandContext) => Promise<unknown>;

const str = (flags: Flags, name: string): string | undefined => {
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
};

const need = (value: string | undefined, what: string): string => {
  if (value === undefined || value === "") throw new UsageError(`missing ${what}`);
  return value;
};

const num = (flags: Flags, name: string): number | undefined => {
  const value = str(flags, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
};

const json = (text: string | undefined, what: string): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${what} must be JSON, got ${text}`);
  }
};

/** Reads a JSON or JSON5-ish config argument: a file path, `-` for stdin, or inline JSON. */
const readConfigArg = (arg: string | undefined): unknown => {
  const source = need(arg, "a config file (a path, - for stdin, or inline JSON)");
  const text =
    source === "-" ? readFileSync(0, "utf8") : source.trimStart().startsWith("{") ? source : readFile(source);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the config is not JSON: ${(error as Error).message}`);
  }
};

const readFile = (path: string): string => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
};

const sub = (ctx: CommandContext, commands: Record<string, Command>, fallback?: string): Promise<unknown> => {
  const name = ctx.args[0] ?? fallback;
  const command = name === undefined ? undefined : commands[name];
  if (command === undefined)
    throw new UsageError(
      name === undefined
        ? `missing a subcommand: ${Object.keys(commands).join(", ")}`
        : `unknown subcommand "${name}": ${Object.keys(commands).join(", ")}`,
    );
  return command({ ...ctx, args: ctx.args[0] === undefined ? [] : ctx.args.slice(1) });
};

const state = (ctx: CommandContext, value: string): string => {
  const c = ctx.out.color;
  if (value === "ready" || value === "completed" || value === "sent") return c.green(value);
  if (value === "down" || value === "failed" || value === "dead") return c.red(value);
  if (value === "degraded" || value === "connecting" || value === "queued" || value === "pending")
    return c.yellow(value);
  return value;
};

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = {
  async chat(ctx) {
    return (await import("./chat")).chat(ctx);
  },

  async status(ctx) {
    if (ctx.flags.watch === true) return (await import("./watch")).statusWatch(ctx);
    if (ctx.flags.interval !== undefined || ctx.flags.count !== undefined)
      throw new UsageError("--interval and --count go with --watch (openclaw status --watch --interval 5)");
    const status = await ctx.call("system.status");
    ctx.out.result(status, (s: MethodResult<"system.status">) =>
      [
        `${ctx.out.color.bold(s.server.name)} ${s.server.version} (protocol ${s.protocol}), up ${Math.round(s.uptimeMs / 1000)} s`,
        `connections: ${s.connections.total} (${countOf(s.connections.operators, "operator")}, ${countOf(s.connections.nodes, "node")}${s.connections.pairing ? `, ${s.connections.pairing} pairing` : ""})`,
        `tasks: ${s.tasks.scheduled} scheduled, ${s.tasks.running} running`,
        "",
        table(
          ["channel", "state"],
          s.channels.map((c) => [c.name, state(ctx, c.state)]),
        ),
      ].join("\n"),
    );
  },

  async send(ctx) {
    const text = need(ctx.args.join(" "), 'the text (openclaw send --to alice "hello")');
    const params: MethodParamsInput<"message.send"> = {
      recipient: need(str(ctx.flags, "to"), "--to <recipient>"),
      text,
    };
    const channel = str(ctx.flags, "channel");
    if (channel !== undefined) params.channel = channel;
    const replyTo = str(ctx.flags, "reply-to");
    if (replyTo !== undefined) params.replyTo = replyTo;
    const key = str(ctx.flags, "idempotency-key");
    if (key !== undefined) params.idempotencyKey = key;
    const sent = await ctx.call("message.send", params);
    ctx.out.result(sent, (s: MethodResult<"message.send">) =>
      s.status === "queued"
        ? `${state(ctx, "queued")} for ${s.channel}:${s.address} (delivery ${s.deliveryId}); see \`openclaw delivery list\``
        : `${state(ctx, "sent")} to ${s.channel}:${s.address} as ${s.messageId}${s.route === undefined ? "" : ` (route: ${s.route.level} binding ${s.route.bindingId})`}`,
    );
  },

  async events(ctx) {
    const filters = ([] as string[]).concat((ctx.flags.filter as string[] | string | undefined) ?? []);
    const patterns = filters.flatMap((f) => f.split(",")).filter((f) => f !== "");
    const matches = (name: string) =>
      patterns.length === 0 ||
      patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
    const names = EVENT_NAMES.filter((name) => matches(name) && (name !== "tick" || patterns.length > 0));
    if (names.length === 0) throw new UsageError(`no event matches ${patterns.join(", ")}`);
    const count = num(ctx.flags, "count");
    const client = await ctx.client();
    let seen = 0;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    for (const name of names) {
      client.on(
        name as EventName,
        ((data: unknown) => {
          if (ctx.out.json) ctx.out.result({ event: name, data, at: Date.now() }, () => "");
          else
            ctx.out.info(
              `${ctx.out.color.dim(when(Date.now()))} ${ctx.out.color.cyan(name)} ${summarise(name, data)}`,
            );
          if (count !== undefined && ++seen >= count) finish();
        }) as never,
      );
    }
    client.on("disconnected", ({ willReconnect }) =>
      process.stderr.write(`connection lost${willReconnect ? "; reconnecting…" : ""}\n`),
    );
    ctx.out.info(
      ctx.out.color.dim(
        `listening for ${patterns.length === 0 ? "all events but tick" : names.join(", ")} (Ctrl-C to stop)`,
      ),
    );
    await Promise.race([done, ctx.interrupted]);
  },

  async nodes(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const { nodes } = await c.call("node.list");
          c.out.result({ nodes }, ({ nodes: list }: MethodResult<"node.list">) =>
            table(
              ["node", "name", "capabilities", "client", "connected"],
              list.map((n) => [
                n.nodeId,
                n.displayName ?? "",
                n.capabilities.join(","),
                `${n.client.name} ${n.client.version}`,
                when(n.connectedAt),
              ]),
            ),
          );
        },
        async invoke(c) {
          const [node, method, data] = c.args;
          const params: MethodParamsInput<"node.invoke"> = {
            node: need(node, "the node (openclaw nodes invoke <node> <method> [json])"),
            method: need(method, "the method"),
          };
          if (data !== undefined) params.data = json(data, "the data");
          const timeoutMs = num(c.flags, "timeout");
          if (timeoutMs !== undefined) params.timeoutMs = timeoutMs;
          const result = await c.call(
            "node.invoke",
            params,
            timeoutMs === undefined ? {} : { timeoutMs: timeoutMs + 1000 },
          );
          c.out.result(result, (r: unknown) => JSON.stringify(r, null, 2));
        },
      },
      "list",
    );
  },

  async run(ctx) {
    const params: MethodParamsInput<"agent.run"> = { input: need(ctx.args.join(" "), "the input") };
    const agent = str(ctx.flags, "agent");
    if (agent !== undefined) params.agent = agent;
    const target = str(ctx.flags, "target");
    const timeoutMs = num(ctx.flags, "timeout");
    const options: { target?: string; timeoutMs?: number } = {};
    if (target !== undefined) options.target = target;
    if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;
    const result = await ctx.call("agent.run", params, options);
    ctx.out.result(result, (r: MethodResult<"agent.run">) => r.output);
  },

  async pair(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const result = await c.call("pairing.list");
          c.out.result(result, (r: MethodResult<"pairing.list">) =>
            r.requests.length === 0
              ? "no pairing requests are waiting"
              : table(
                  ["code", "node", "name", "client", "expires"],
                  r.requests.map((p) => [
                    c.out.color.bold(p.code),
                    p.nodeId,
                    p.displayName ?? "",
                    `${p.client.name} ${p.client.version} (${p.client.platform})`,
                    when(p.expiresAt),
                  ]),
                ),
          );
        },
        async approve(c) {
          const code = need(c.args[0], "the code the device shows (openclaw pair approve 4821)");
          const result = await c.call("pairing.approve", { code });
          c.out.result(
            result,
            (r: MethodResult<"pairing.approve">) => `approved: ${r.nodeId} may connect now`,
          );
        },
        async reject(c) {
          const code = need(c.args[0], "the code");
          const params: MethodParamsInput<"pairing.reject"> = { code };
          const reason = str(c.flags, "reason");
          if (reason !== undefined) params.reason = reason;
          const result = await c.call("pairing.reject", params);
          c.out.result(result, () => `rejected ${code}`);
        },
      },
      "list",
    );
  },

  async devices(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const result = await c.call("device.list");
          c.out.result(result, (r: MethodResult<"device.list">) =>
            table(
              ["node", "name", "paired", "last seen"],
              r.devices.map((d) => [d.nodeId, d.displayName ?? "", when(d.pairedAt), when(d.lastSeenAt)]),
            ),
          );
        },
        async revoke(c) {
          const nodeId = need(c.args[0], "the node id (openclaw devices revoke <node>)");
          const result = await c.call("device.revoke", { nodeId });
          c.out.result(result, (r: MethodResult<"device.revoke">) =>
            r.revoked ? `revoked ${nodeId}: its token no longer works` : `${nodeId} was not paired`,
          );
        },
      },
      "list",
    );
  },

  async tasks(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const params: MethodParamsInput<"task.list"> = {};
          const status = str(c.flags, "status");
          if (status !== undefined)
            params.status = status as NonNullable<MethodParamsInput<"task.list">>["status"];
          const limit = num(c.flags, "limit");
          if (limit !== undefined) params.limit = limit;
          const cursor = str(c.flags, "cursor");
          if (cursor !== undefined) params.cursor = cursor;
          const result = await c.call("task.list", params);
          c.out.result(result, (r: MethodResult<"task.list">) => {
            const rows = table(
              ["id", "type", "name", "status", "next run", "attempts"],
              r.tasks.map((t) => [
                t.taskId,
                t.type,
                t.name ?? "",
                state(c, t.status),
                when(t.nextRunAt),
                String(t.attempts),
              ]),
            );
            return typeof r.nextCursor === "string"
              ? `${rows}\nmore: openclaw tasks list --cursor ${r.nextCursor}`
              : rows;
          });
        },
        async schedule(c) {
          const params: Record<string, unknown> = {
            type: need(
              c.args[0],
              "the task type (openclaw tasks schedule message.send --payload '{…}' --cron '0 9 * * *')",
            ),
          };
          const payload = json(str(c.flags, "payload"), "--payload");
          if (payload !== undefined) params.payload = payload;
          for (const [flag, key] of [
            ["cron", "cron"],
            ["timezone", "timezone"],
            ["name", "name"],
            ["idempotency-key", "idempotencyKey"],
          ] as const) {
            const value = str(c.flags, flag);
            if (value !== undefined) params[key] = value;
          }
          for (const [flag, key] of [
            ["delay", "delayMs"],
            ["every", "every"],
          ] as const) {
            const value = num(c.flags, flag);
            if (value !== undefined) params[key] = value;
          }
          const at = str(c.flags, "at");
          if (at !== undefined) {
            const ms = Date.parse(at);
            if (Number.isNaN(ms)) throw new UsageError(`--at must be a date, got "${at}"`);
            params.at = ms;
          }
          const result = await c.call("task.schedule", params as MethodParamsInput<"task.schedule">);
          c.out.result(
            result,
            (r: MethodResult<"task.schedule">) => `scheduled ${r.taskId}; next run ${when(r.nextRunAt)}`,
          );
        },
        async cancel(c) {
          const taskId = need(c.args[0], "the task id");
          const result = await c.call("task.cancel", { taskId });
          c.out.result(result, (r: MethodResult<"task.cancel">) =>
            r.cancelled ? `cancelled ${taskId}` : `${taskId} was not scheduled`,
          );
        },
      },
      "list",
    );
  },

  async bindings(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const params: MethodParamsInput<"binding.list"> = {};
          const user = str(c.flags, "user");
          if (user !== undefined) params.userId = user;
          const result = await c.call("binding.list", params);
          c.out.result(result, (r: MethodResult<"binding.list">) =>
            table(
              ["id", "level", "match", "target", "priority"],
              r.bindings.map((b) => [
                b.id,
                b.level,
                Object.entries(b.match)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(" "),
                `${b.target.channel}${b.target.address === undefined ? "" : `:${b.target.address}`}`,
                String(b.priority),
              ]),
            ),
          );
        },
        async add(c) {
          const target: { channel: string; address?: string } = {
            channel: need(str(c.flags, "channel"), "--channel"),
          };
          const address = str(c.flags, "address");
          if (address !== undefined) target.address = address;
          const binding: Record<string, unknown> = {
            level: need(str(c.flags, "level"), "--level (peer, guild, account, channel, system)"),
            match: json(str(c.flags, "match"), "--match") ?? {},
            target,
          };
          const id = str(c.flags, "id");
          if (id !== undefined) binding.id = id;
          const priority = num(c.flags, "priority");
          if (priority !== undefined) binding.priority = priority;
          const result = await c.call("binding.add", binding as MethodParamsInput<"binding.add">);
          c.out.result(result, (r: MethodResult<"binding.add">) => `added binding ${r.binding.id}`);
        },
        async remove(c) {
          const id = need(c.args[0], "the binding id");
          const result = await c.call("binding.remove", { id });
          c.out.result(result, (r: MethodResult<"binding.remove">) =>
            r.removed ? `removed ${id}` : `no binding ${id}`,
          );
        },
        async resolve(c) {
          const params: MethodParamsInput<"route.resolve"> = { recipient: need(c.args[0], "the recipient") };
          const context = json(str(c.flags, "context"), "--context");
          if (context !== undefined)
            params.context = context as NonNullable<MethodParamsInput<"route.resolve">["context"]>;
          const result = await c.call("route.resolve", params);
          c.out.result(
            result,
            (r: MethodResult<"route.resolve">) =>
              `${r.channel}:${r.address} (${r.level}, binding ${r.bindingId}): ${r.reason}`,
          );
        },
      },
      "list",
    );
  },

  async config(ctx) {
    return sub(ctx, {
      async get(c) {
        const params: MethodParamsInput<"config.get"> = {};
        if (c.args[0] !== undefined) params.path = c.args[0];
        const result = await c.call("config.get", params);
        c.out.result(result, (r: MethodResult<"config.get">) => JSON.stringify(r, null, 2));
      },
      async validate(c) {
        const result = await c.call("config.validate", { config: readConfigArg(c.args[0]) });
        c.out.result(result, (r: MethodResult<"config.validate">) =>
          r.valid
            ? c.out.color.green("valid")
            : [
                c.out.color.red("invalid:"),
                ...r.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`),
              ].join("\n"),
        );
        return result.valid ? EXIT.OK : EXIT.ERROR;
      },
      async apply(c) {
        const params: MethodParamsInput<"config.apply"> = { config: readConfigArg(c.args[0]) };
        const mode = str(c.flags, "mode");
        if (mode === "merge" || mode === "replace") params.mode = mode;
        else if (mode !== undefined) throw new UsageError("--mode is merge or replace");
        const baseHash = str(c.flags, "base-hash");
        if (baseHash !== undefined) params.baseHash = baseHash;
        const result = await c.call("config.apply", params);
        c.out.result(result, (r: MethodResult<"config.apply">) => JSON.stringify(r, null, 2));
      },
      async set(c) {
        const path = configPath(c.args[0]);
        const text = need(c.args[1], "the value (JSON, or a plain string)");
        return applyAt(c, path, parseValue(text));
      },
      async unset(c) {
        // A merge patch's null removes the key.
        return applyAt(c, configPath(c.args[0]), null);
      },
    });
  },

  async dashboard(ctx) {
    const base = ctx.settings.url.replace(/^ws(s?):\/\//, "http$1://").replace(/\/+$/, "");
    const url = `${base}/ui/`;
    const token =
      ctx.settings.token === undefined
        ? "no token found: set OPENCLAW_GATEWAY_TOKEN, or start the gateway (it writes one to its home)"
        : `log in with the token from ${ctx.settings.tokenSource}`;
    const opened = ctx.flags.open === false ? undefined : await openBrowser(url);
    ctx.out.result({ url, tokenSource: ctx.settings.tokenSource, opened: opened ?? null }, () =>
      [`control UI: ${url}`, token, opened === undefined ? "" : `opened with ${opened}`]
        .filter((line) => line !== "")
        .join("\n"),
    );
  },

  async delivery(ctx) {
    return sub(
      ctx,
      {
        async list(c) {
          const params: MethodParamsInput<"delivery.list"> = {};
          const status = str(c.flags, "status");
          if (status === "pending" || status === "dead") params.status = status;
          else if (status !== undefined) throw new UsageError("--status is pending or dead");
          const channel = str(c.flags, "channel");
          if (channel !== undefined) params.channel = channel;
          const limit = num(c.flags, "limit");
          if (limit !== undefined) params.limit = limit;
          const result = await c.call("delivery.list", params);
          c.out.result(result, (r: MethodResult<"delivery.list">) =>
            [
              `${r.counts.pending} pending, ${r.counts.dead} dead`,
              table(
                ["id", "channel", "to", "status", "attempts", "last error", "next attempt"],
                r.deliveries.map((d) => [
                  d.id,
                  d.channel,
                  d.address,
                  state(c, d.status),
                  String(d.attempts),
                  d.lastError === undefined ? "" : `${d.lastError.code}: ${d.lastError.message}`.slice(0, 60),
                  when(d.nextAttemptAt),
                ]),
              ),
            ].join("\n"),
          );
        },
        async retry(c) {
          const id = need(c.args[0], "the delivery id (see openclaw delivery list)");
          const result = await c.call("delivery.retry", { id });
          c.out.result(result, () => `retrying ${id} now`);
        },
        async drop(c) {
          const id = need(c.args[0], "the delivery id");
          const result = await c.call("delivery.drop", { id });
          c.out.result(result, (r: MethodResult<"delivery.drop">) =>
            r.dropped ? `dropped ${id}` : `no delivery ${id}`,
          );
        },
      },
      "list",
    );
  },
};

/** A config path as `config.get` takes it: dot-separated keys. */
function configPath(arg: string | undefined): string[] {
  const path = need(arg, "the config path (e.g. gateway.port)");
  const keys = path.split(".");
  if (keys.some((key) => key === "" || key === "__proto__" || key === "constructor" || key === "prototype"))
    throw new UsageError(`"${path}" is not a config path (keys separated by dots, e.g. agents.default)`);
  return keys;
}

/** A value on the command line: JSON when it parses (`18790`, `true`, `{"a":1}`), else the string. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sets (or with `null`, removes) one key of the running gateway's config: a merge patch applied with
 * the hash just read, so a change made meanwhile by someone else is refused (`CONFLICT`), not lost.
 */
async function applyAt(ctx: CommandContext, path: string[], value: unknown): Promise<void> {
  const { hash } = await ctx.call("config.get");
  let patch: unknown = value;
  for (const key of [...path].reverse()) patch = { [key]: patch };
  const result = await ctx.call("config.apply", {
    config: patch,
    mode: "merge",
    baseHash: hash,
  } as MethodParamsInput<"config.apply">);
  ctx.out.result(result, (r: MethodResult<"config.apply">) => {
    const where = path.join(".");
    const what = value === null ? `removed ${where}` : `set ${where}`;
    if (r.applied.length === 0 && r.restartRequired.length === 0) return `${what}: nothing changed`;
    return r.restartRequired.length > 0
      ? `${what}; restart the gateway for ${r.restartRequired.join(", ")} to take effect`
      : `${what}; applied`;
  });
}

/**
 * Opens a URL with the desktop's opener (`xdg-open`, `open` on macOS, `start` on Windows) when one
 * is on the PATH and there is a display to open it on.
 *
 * @returns The opener's name, or `undefined` when none was run.
 */
async function openBrowser(url: string): Promise<string | undefined> {
  const { spawn } = await import("node:child_process");
  const { existsSync } = await import("node:fs");
  const { delimiter, join } = await import("node:path");
  if (process.platform === "win32") {
    spawn("cmd", ["/c", "start", "", url], { detached: true, stdio: "ignore" }).unref();
    return "start";
  }
  const opener = process.platform === "darwin" ? "open" : "xdg-open";
  if (process.platform !== "darwin" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return undefined;
  const found = (process.env.PATH ?? "")
    .split(delimiter)
    .some((dir) => dir !== "" && existsSync(join(dir, opener)));
  if (!found) return undefined;
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { detached: true, stdio: "ignore" });
    child.once("error", () => resolve(undefined));
    child.once("spawn", () => {
      child.unref();
      resolve(opener);
    });
  });
}

/** One line for an event in the live tail. */
function summarise(name: string, data: unknown): string {
  const d = data as Record<string, unknown>;
  switch (name) {
    case "channel.message.received": {
      const m = d.message as { sender: { name?: string; id: string }; text?: string; conversationId: string };
      return `${d.channel}:${m.conversationId} ${m.sender.name ?? m.sender.id}: ${m.text ?? ""}`;
    }
    case "channel.message.sent":
      return `${d.channel}:${d.address} ← ${(d.content as { text?: string }).text ?? ""}`;
    case "channel.status":
      return `${d.name} ${d.state}${d.lastError === undefined ? "" : ` (${(d.lastError as { message: string }).message})`}`;
    case "node.online":
    case "node.offline":
      return String(d.nodeId);
    case "pairing.requested":
      return `code ${d.code} from ${d.nodeId} — approve with \`openclaw pair approve ${d.code}\``;
    default:
      return JSON.stringify(data);
  }
}

/** `1 node`, `2 nodes`. */
function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
