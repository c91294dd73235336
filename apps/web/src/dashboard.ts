// The Dashboard view: nodes, channels, pairing requests, messages, conversations, tasks, bindings, config.
import { type ConversationMessage, type EventData, isProtocolError } from "@openclaw/protocol";
import { badge, card, h, table, time, timeCell, type ViewContext } from "./dom";

/** Limits of the dashboard. */
export const DASHBOARD_LIMITS = Object.freeze({
  /** Lines the Messages card keeps (the newest). */
  feedLines: 50,
  /** Conversations (the most recently active) whose last messages fill the Messages card on load. */
  recentConversations: 10,
  /** Messages read from each of those conversations' history. */
  recentPerConversation: 10,
});

/** The dashboard's cards, kept live by the gateway's events. */
export interface Dashboard {
  readonly root: HTMLElement;
  /** Loads every card again (first show, and after a reconnect: events may have been missed). */
  refresh(): Promise<void>;
  /** Called when something the header counts may have changed (nodes, pairing sockets). */
  onCountsChanged?: () => void;
}

/**
 * Builds the dashboard and subscribes it to the client's events.
 *
 * @param ctx - The page's client and whether the token is the admin's.
 * @returns The view; call `refresh()` to load it.
 */
export function createDashboard(ctx: ViewContext): Dashboard {
  const { client, call, admin } = ctx;
  /** Admin-only buttons are disabled for operators. */
  const lock: Record<string, string> = admin ? {} : { disabled: "disabled", title: "needs the admin token" };
  const nodes = card("nodes", "Nodes");
  const channels = card("channels", "Channels");
  const pairing = card("pairing", "Pairing requests");
  const messages = card("messages", "Messages");
  const conversations = card("conversations", "Conversations");
  const tasks = card("tasks", "Tasks");
  const bindings = card("bindings", "Bindings");
  const config = card("config", "Config");
  const root = h(
    "main",
    { id: "dashboard", class: "dashboard" },
    nodes.root,
    channels.root,
    pairing.root,
    messages.root,
    conversations.root,
    tasks.root,
    bindings.root,
    config.root,
  );

  const fail = (target: { note: HTMLElement }, error: unknown) => {
    target.note.textContent =
      isProtocolError(error) && error.code === "FORBIDDEN"
        ? " (needs the admin token)"
        : ` (${(error as Error).message})`;
  };

  const renderNodes = async () => {
    const { nodes: list } = await call("node.list");
    nodes.body.replaceChildren(
      table(
        ["node", "name", "capabilities", "client", "since"],
        list.map((n) => [
          h("code", {}, n.nodeId),
          n.displayName ?? "",
          n.capabilities.join(", "),
          `${n.client.name} ${n.client.version}`,
          timeCell(n.connectedAt),
        ]),
        "No node is connected.",
      ),
    );
  };
  const channelState = new Map<string, EventData<"channel.status">>();
  const renderChannels = () => {
    channels.body.replaceChildren(
      table(
        ["channel", "plugin", "state", "last error"],
        [...channelState.values()].map((c) => [c.name, c.plugin, badge(c.state), c.lastError?.message ?? ""]),
        "No channel is configured.",
      ),
    );
  };
  const loadChannels = async () => {
    const { channels: list } = await call("channel.status", {});
    channelState.clear();
    for (const c of list) channelState.set(c.name, c);
    renderChannels();
  };
  const renderPairing = async () => {
    const { requests } = await call("pairing.list");
    pairing.body.replaceChildren(
      table(
        ["code", "node", "name", "client", "expires", ""],
        requests.map((p) => [
          h("strong", { class: "code" }, p.code),
          h("code", {}, p.nodeId),
          p.displayName ?? "",
          `${p.client.name} (${p.client.platform})`,
          timeCell(p.expiresAt),
          h(
            "span",
            { class: "actions" },
            h(
              "button",
              {
                "data-action": "approve",
                "data-code": p.code,
                ...lock,
                onclick: () => void decide("pairing.approve", p.code),
              },
              "Approve",
            ),
            h(
              "button",
              {
                class: "secondary",
                "data-action": "reject",
                "data-code": p.code,
                ...lock,
                onclick: () => void decide("pairing.reject", p.code),
              },
              "Reject",
            ),
          ),
        ]),
        "No device is waiting.",
      ),
    );
    pairing.note.textContent = admin || requests.length === 0 ? "" : " (approving needs the admin token)";
  };
  const decide = async (method: "pairing.approve" | "pairing.reject", code: string) => {
    try {
      await call(method, { code });
      pairing.note.textContent = method === "pairing.approve" ? ` (approved ${code})` : ` (rejected ${code})`;
    } catch (error) {
      fail(pairing, error);
    }
    await renderPairing();
  };
  const feed: HTMLElement[] = [];
  const renderFeed = () =>
    messages.body.replaceChildren(
      ...(feed.length === 0
        ? [h("p", { class: "empty" }, "No message yet.")]
        : [h("ul", { class: "feed" }, ...feed)]),
    );
  const addMessage = (line: HTMLElement) => {
    feed.unshift(line);
    feed.length = Math.min(feed.length, DASHBOARD_LIMITS.feedLines);
    renderFeed();
  };
  renderFeed();
  /** One line of the feed: an inbound message with its sender, or an outbound one with an arrow. */
  const feedLine = (
    direction: "in" | "out",
    at: number,
    where: string,
    sender: string | undefined,
    text: string,
  ) =>
    direction === "in"
      ? h(
          "li",
          { class: "in" },
          h("span", { class: "meta" }, `${time(at)} ${where}`),
          h("strong", {}, sender ?? "user"),
          " ",
          text,
        )
      : h("li", { class: "out" }, h("span", { class: "meta" }, `${time(at)} ${where}`), "→ ", text);
  /** Fills the Messages card from the history: the last messages of the most recent conversations. */
  const loadFeed = async () => {
    const { conversations: recent } = await call("conversation.list", {
      limit: DASHBOARD_LIMITS.recentConversations,
    });
    const read = await Promise.all(
      recent.map(async (c) => {
        // One conversation that cannot be read leaves the others shown.
        const list = await call("conversation.history", {
          channel: c.channel,
          conversationId: c.conversationId,
          since: Math.max(0, c.lastSeq - DASHBOARD_LIMITS.recentPerConversation),
          limit: DASHBOARD_LIMITS.recentPerConversation,
        }).then(
          (result) => result.messages,
          () => [],
        );
        return list.map((m) => ({ where: `${c.channel}:${c.conversationId}`, m }));
      }),
    );
    const all: Array<{ where: string; m: ConversationMessage }> = read.flat();
    all.sort((a, b) => b.m.timestamp - a.m.timestamp || b.m.seq - a.m.seq);
    feed.length = 0;
    for (const { where, m } of all.slice(0, DASHBOARD_LIMITS.feedLines))
      feed.push(
        feedLine(
          m.direction,
          m.timestamp,
          where,
          m.sender?.name ?? m.sender?.id,
          m.content.text ?? "(attachment)",
        ),
      );
    renderFeed();
  };
  const renderConversations = async () => {
    const { conversations: list } = await call("conversation.list", {});
    conversations.body.replaceChildren(
      table(
        ["channel", "conversation", "messages", "last"],
        list.map((c) => [
          c.channel,
          c.channel === "webchat"
            ? h(
                "a",
                { href: `#/chat/${encodeURIComponent(c.conversationId)}` },
                h("code", {}, c.conversationId),
              )
            : h("code", {}, c.conversationId),
          String(c.messageCount),
          timeCell(c.lastMessageAt),
        ]),
        "No conversation yet.",
      ),
    );
  };
  const renderTasks = async () => {
    const { tasks: list } = await call("task.list", { limit: 50 });
    tasks.body.replaceChildren(
      table(
        ["task", "type", "status", "next run"],
        list.map((t) => [h("code", {}, t.name ?? t.taskId), t.type, badge(t.status), timeCell(t.nextRunAt)]),
        "No task.",
      ),
    );
  };
  const renderBindings = async () => {
    try {
      const { bindings: list } = await call("binding.list", {});
      bindings.note.textContent = "";
      bindings.body.replaceChildren(
        table(
          ["id", "level", "match", "target"],
          list.map((b) => [
            h("code", {}, b.id),
            b.level,
            Object.entries(b.match)
              .map(([k, v]) => `${k}=${v}`)
              .join(" "),
            `${b.target.channel}${b.target.address === undefined ? "" : `:${b.target.address}`}`,
          ]),
          "No binding.",
        ),
      );
    } catch (error) {
      bindings.body.replaceChildren();
      fail(bindings, error);
    }
  };
  /** Whether the config editor holds edits not applied yet (a reload then leaves it alone). */
  let configEdited = false;
  const renderConfig = async () => {
    if (configEdited) return;
    const current = await call("config.get", {});
    const editor = h("textarea", {
      id: "config-text",
      spellcheck: "false",
      rows: "14",
      oninput: () => {
        configEdited = true;
      },
    });
    editor.value = JSON.stringify(current.config, null, 2);
    const issues = h("ul", { id: "config-issues", class: "issues" });
    const result = h("span", { class: "note" });
    const parse = (): unknown => {
      try {
        return JSON.parse(editor.value);
      } catch (error) {
        issues.replaceChildren(h("li", {}, `not JSON: ${(error as Error).message}`));
        return undefined;
      }
    };
    const validate = async () => {
      const value = parse();
      if (value === undefined) return false;
      const checked = await call("config.validate", { config: value });
      issues.replaceChildren(
        ...checked.issues.map((i) => h("li", {}, `${i.path || "(root)"}: ${i.message}`)),
      );
      result.textContent = checked.valid ? "valid" : "invalid";
      return checked.valid;
    };
    const apply = async () => {
      if (!(await validate())) return;
      try {
        const applied = await call("config.apply", { config: parse(), baseHash: current.hash });
        configEdited = false;
        result.textContent = `applied: ${applied.applied.join(", ") || "nothing changed"}${applied.restartRequired.length > 0 ? `; after a restart: ${applied.restartRequired.join(", ")}` : ""}`;
      } catch (error) {
        fail(config, error);
      }
    };
    config.note.textContent = ` (${current.source ?? "embedded defaults"})`;
    config.body.replaceChildren(
      editor,
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          { id: "config-validate", class: "secondary", onclick: () => void validate() },
          "Validate",
        ),
        h("button", { id: "config-apply", ...lock, onclick: () => void apply() }, "Apply"),
        result,
      ),
      issues,
    );
  };

  const dashboard: Dashboard = {
    root,
    async refresh() {
      await Promise.all([
        renderNodes(),
        loadChannels(),
        renderPairing(),
        renderConversations(),
        loadFeed(),
        renderTasks(),
        renderBindings(),
        renderConfig(),
      ]);
    },
  };
  const countsChanged = () => dashboard.onCountsChanged?.();

  // Live updates: each event re-renders what it changes; no reload needed.
  client.on("node.online", () => void renderNodes().then(countsChanged));
  client.on("node.offline", () => void renderNodes().then(countsChanged));
  client.on("channel.status", (status) => {
    channelState.set(status.name, status);
    renderChannels();
  });
  for (const event of ["pairing.requested", "pairing.approved", "pairing.rejected"] as const)
    client.on(event, () => void renderPairing().then(countsChanged));
  client.on("channel.message.received", ({ channel, message }) =>
    addMessage(
      feedLine(
        "in",
        message.timestamp,
        `${channel}:${message.conversationId}`,
        message.sender.name ?? message.sender.id,
        message.text ?? "",
      ),
    ),
  );
  client.on("channel.message.sent", ({ channel, address, content }) =>
    addMessage(feedLine("out", Date.now(), `${channel}:${address}`, undefined, content?.text ?? "")),
  );
  client.on("conversation.updated", () => void renderConversations());
  for (const event of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const)
    client.on(event, () => void renderTasks());
  client.on("config.reloaded", () => void renderConfig());
  return dashboard;
}
