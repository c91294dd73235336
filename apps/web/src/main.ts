// The OpenClaw control UI: one page, plain DOM, one GatewayClient over the browser's WebSocket.
import {
  type EventData,
  GatewayClient,
  isProtocolError,
  type MethodName,
  type MethodParamsInput,
  type MethodResult,
} from "@openclaw/protocol";
import "./style.css";

const TOKEN_KEY = "openclaw.token";

/** Makes an element: `h("td", { class: "x" }, "text", child)`. */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | ((event: Event) => void)> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}

const time = (ms: number | null | undefined) => (ms == null ? "–" : new Date(ms).toLocaleTimeString());
const badge = (state: string) => h("span", { class: `badge ${state}` }, state);

function table(headers: string[], rows: Array<Array<Node | string>>, empty: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...row.map((cell) => h("td", {}, cell))))),
  );
}

/** A titled card whose body is re-rendered by `render`. */
function card(id: string, title: string): { root: HTMLElement; body: HTMLElement; note: HTMLElement } {
  const body = h("div", { class: "body" });
  const note = h("span", { class: "note" });
  return { root: h("section", { id, class: "card" }, h("h2", {}, title, note), body), body, note };
}

const app = document.getElementById("app")!;

function showLogin(error?: string): void {
  const input = h("input", {
    type: "password",
    name: "token",
    placeholder: "gateway or admin token",
    autocomplete: "current-password",
  });
  const form = h(
    "form",
    { id: "login", class: "card login" },
    h("h1", {}, "OpenClaw Gateway"),
    h(
      "p",
      {},
      "Paste the gateway token (or the admin token to approve pairings and edit bindings and config).",
    ),
    input,
    h("button", { type: "submit" }, "Connect"),
    ...(error === undefined ? [] : [h("p", { class: "error", role: "alert" }, error)]),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === "") return;
    sessionStorage.setItem(TOKEN_KEY, token);
    void start(token);
  });
  app.replaceChildren(form);
  input.focus();
}

async function start(token: string): Promise<void> {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const client = new GatewayClient({
    url,
    token,
    WebSocket,
    client: { name: "openclaw-web", version: "0.1.0", platform: "browser" },
  });
  let hello: Awaited<ReturnType<GatewayClient["connect"]>>;
  try {
    hello = await client.connect();
  } catch (error) {
    await client.close();
    sessionStorage.removeItem(TOKEN_KEY);
    const details = isProtocolError(error) ? (error.details as { nextStep?: string } | undefined) : undefined;
    showLogin(
      isProtocolError(error) && error.code === "UNAUTHORIZED"
        ? "Token rejected. Use the token from OPENCLAW_GATEWAY_TOKEN or the gateway's state dir (gateway-token)."
        : `Could not connect: ${(error as Error).message}${details?.nextStep === undefined ? "" : ` (${details.nextStep})`}`,
    );
    return;
  }
  const admin = hello.scopes.includes("operator.admin");
  /** Admin-only buttons are disabled for operators. */
  const lock: Record<string, string> = admin ? {} : { disabled: "disabled", title: "needs the admin token" };
  const call = <M extends Exclude<MethodName, "connect">>(method: M, params?: MethodParamsInput<M>) =>
    (client.request as (m: string, p?: unknown) => Promise<MethodResult<M>>)(method, params);

  const status = h("div", { id: "status", class: "status" });
  const logout = h(
    "button",
    {
      class: "secondary",
      onclick: () => {
        sessionStorage.removeItem(TOKEN_KEY);
        void client.close().then(() => showLogin());
      },
    },
    "Log out",
  );
  const nodes = card("nodes", "Nodes");
  const channels = card("channels", "Channels");
  const pairing = card("pairing", "Pairing requests");
  const messages = card("messages", "Messages");
  const conversations = card("conversations", "Conversations");
  const tasks = card("tasks", "Tasks");
  const bindings = card("bindings", "Bindings");
  const config = card("config", "Config");
  app.replaceChildren(
    h(
      "header",
      {},
      h("h1", {}, "OpenClaw Gateway"),
      status,
      h("span", { class: "role" }, admin ? "admin" : "operator"),
      logout,
    ),
    h(
      "main",
      {},
      nodes.root,
      channels.root,
      pairing.root,
      messages.root,
      conversations.root,
      tasks.root,
      bindings.root,
      config.root,
    ),
  );

  const fail = (target: { note: HTMLElement }, error: unknown) => {
    target.note.textContent =
      isProtocolError(error) && error.code === "FORBIDDEN"
        ? " (needs the admin token)"
        : ` (${(error as Error).message})`;
  };

  const renderStatus = async () => {
    const s = await call("system.status");
    status.replaceChildren(
      `${s.server.name} ${s.server.version} · up ${Math.round(s.uptimeMs / 60_000)} min · `,
      h(
        "span",
        { id: "connections" },
        `${s.connections.total} connections (${s.connections.operators} operators, ${s.connections.nodes} nodes)`,
      ),
    );
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
          time(n.connectedAt),
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
          time(p.expiresAt),
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
  const addMessage = (line: HTMLElement) => {
    feed.unshift(line);
    feed.length = Math.min(feed.length, 50);
    messages.body.replaceChildren(
      ...(feed.length === 0
        ? [h("p", { class: "empty" }, "No message yet.")]
        : [h("ul", { class: "feed" }, ...feed)]),
    );
  };
  messages.body.replaceChildren(h("p", { class: "empty" }, "No message yet."));
  const renderConversations = async () => {
    const { conversations: list } = await call("conversation.list", {});
    conversations.body.replaceChildren(
      table(
        ["channel", "conversation", "messages", "last"],
        list.map((c) => [
          c.channel,
          h("code", {}, c.conversationId),
          String(c.messageCount),
          time(c.lastMessageAt),
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
        list.map((t) => [h("code", {}, t.name ?? t.taskId), t.type, badge(t.status), time(t.nextRunAt)]),
        "No task.",
      ),
    );
  };
  const renderBindings = async () => {
    try {
      const { bindings: list } = await call("binding.list", {});
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
  const renderConfig = async () => {
    const current = await call("config.get", {});
    const editor = h("textarea", { id: "config-text", spellcheck: "false", rows: "14" });
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

  // Live updates: each event re-renders what it changes; no reload needed.
  client.on("node.online", () => void renderNodes().then(renderStatus));
  client.on("node.offline", () => void renderNodes().then(renderStatus));
  client.on("channel.status", (status) => {
    channelState.set(status.name, status);
    renderChannels();
  });
  for (const event of ["pairing.requested", "pairing.approved", "pairing.rejected"] as const)
    client.on(event, () => void renderPairing());
  client.on("channel.message.received", ({ channel, message }) =>
    addMessage(
      h(
        "li",
        { class: "in" },
        h("span", { class: "meta" }, `${time(message.timestamp)} ${channel}:${message.conversationId}`),
        h("strong", {}, message.sender.name ?? message.sender.id),
        " ",
        message.text ?? "",
      ),
    ),
  );
  client.on("channel.message.sent", ({ channel, address, content }) =>
    addMessage(
      h(
        "li",
        { class: "out" },
        h("span", { class: "meta" }, `${time(Date.now())} ${channel}:${address}`),
        "→ ",
        content?.text ?? "",
      ),
    ),
  );
  client.on("conversation.updated", () => void renderConversations());
  for (const event of ["task.started", "task.completed", "task.failed", "task.cancelled"] as const)
    client.on(event, () => void renderTasks());
  client.on("config.reloaded", () => void renderConfig());
  client.on("disconnected", ({ willReconnect }) => {
    status.textContent = willReconnect ? "connection lost; reconnecting…" : "disconnected";
  });
  client.on("connected", () => void renderStatus());
  const statusTimer = setInterval(() => void renderStatus().catch(() => {}), 5000);
  window.addEventListener("beforeunload", () => clearInterval(statusTimer));

  await Promise.all([
    renderStatus(),
    renderNodes(),
    loadChannels(),
    renderPairing(),
    renderConversations(),
    renderTasks(),
    renderBindings(),
    renderConfig(),
  ]).catch((error: unknown) => {
    status.textContent = `error: ${(error as Error).message}`;
  });
  document.body.dataset.ready = "true";
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) showLogin();
else void start(saved);
