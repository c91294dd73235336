// The OpenClaw control UI: one page, plain DOM, one GatewayClient over the browser's WebSocket.
// Three views behind hash routes: the Dashboard (`#/`), the Chat (`#/chat/<conversationId>`) and
// the Metrics (`#/metrics`).
import { GatewayClient, isProtocolError, type MethodName } from "@openclaw/protocol";
import { createChatView } from "./chat";
import { createDashboard } from "./dashboard";
import { type Call, h, plural, randomKey } from "./dom";
import { createMetricsView } from "./metrics";
import "./style.css";

const TOKEN_KEY = "openclaw.token";
const INSTANCE_KEY = "openclaw.instance";
/** The page's reconnect policy: as the client's default, but never more than 5 s between attempts. */
const RECONNECT = { initialDelayMs: 250, maxDelayMs: 5000 };

const app = document.getElementById("app")!;

/** This tab's id, kept across reloads of the tab: the sender id of the messages it sends. */
function instanceId(): string {
  let id = sessionStorage.getItem(INSTANCE_KEY);
  if (id === null) {
    id = randomKey("tab");
    sessionStorage.setItem(INSTANCE_KEY, id);
  }
  return id;
}

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
    tokenHelp(),
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

/** Where the token is: the login page says it, since nothing else on the page can. */
function tokenHelp(): HTMLElement {
  const code = (text: string) => h("code", {}, text);
  return h(
    "p",
    { class: "token-help" },
    "The gateway token is in the file ",
    code("gateway-token"),
    " of the gateway's state dir: ",
    code("~/.openclaw/.openclaw-state/gateway-token"),
    " for the installed ",
    code("openclaw gateway"),
    ", ",
    code(".openclaw-state/gateway-token"),
    " in the repository for ",
    code("pnpm start"),
    ", unless ",
    code("OPENCLAW_GATEWAY_TOKEN"),
    " sets it. ",
    code("openclaw dashboard"),
    " prints where it is and this page's address.",
  );
}

async function start(token: string): Promise<void> {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const tab = instanceId();
  const client = new GatewayClient({
    url,
    token,
    WebSocket,
    reconnect: RECONNECT,
    client: { name: "openclaw-web", version: "0.1.0", platform: "browser", instanceId: tab },
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
  /** Ends the page-wide listeners and timers of this session (on log out). */
  const session = new AbortController();
  const call: Call = (method, params) =>
    (client.request as (m: MethodName, p?: unknown) => Promise<never>)(method, params);
  const ctx = { client, call, admin };

  const status = h("div", { id: "status", class: "status" });
  /** The connection's state, first in the status line; the rest is shown only while connected. */
  const connState = h("span", { id: "conn-state", class: "conn" });
  const setConnState = (state: "connected" | "reconnecting" | "disconnected") => {
    connState.dataset.state = state;
    connState.textContent = state;
    if (state !== "connected") status.replaceChildren(connState);
  };
  setConnState("connected");
  status.replaceChildren(connState);
  const banner = h("div", { id: "conn-banner", class: "banner", role: "status", hidden: "" });
  const navDashboard = h("a", { id: "nav-dashboard", class: "view-link", href: "#/" }, "Dashboard");
  const navChat = h("a", { id: "nav-chat", class: "view-link", href: "#/chat" }, "Chat");
  const navMetrics = h("a", { id: "nav-metrics", class: "view-link", href: "#/metrics" }, "Metrics");
  const logout = h(
    "button",
    {
      id: "logout",
      class: "secondary",
      onclick: () => {
        sessionStorage.removeItem(TOKEN_KEY);
        session.abort();
        void client.close().then(() => showLogin());
      },
    },
    "Log out",
  );
  const dashboard = createDashboard(ctx);
  const chat = createChatView(ctx, tab);
  const metricsView = createMetricsView(ctx);
  session.signal.addEventListener("abort", () => metricsView.setVisible(false));
  app.replaceChildren(
    h(
      "header",
      {},
      h("h1", {}, "OpenClaw", h("span", { class: "brand-more" }, " Gateway")),
      h("nav", { class: "views", "aria-label": "views" }, navDashboard, navChat, navMetrics),
      h("span", { class: "role" }, admin ? "admin" : "operator"),
      logout,
      status,
    ),
    banner,
    dashboard.root,
    chat.root,
    metricsView.root,
  );
  document.body.dataset.connection = "ready";

  const renderStatus = async () => {
    const s = await call("system.status");
    // Lost while asking: the uptime and counts would be stale.
    if (client.state !== "ready") return;
    const c = s.connections;
    const pairing = c.pairing ?? 0;
    status.replaceChildren(
      connState,
      h("span", {}, `${s.server.name} ${s.server.version}`),
      h("span", {}, `up ${Math.round(s.uptimeMs / 60_000)} min`),
      h(
        "span",
        { id: "connections" },
        `${plural(c.total, "connection")} (${plural(c.operators, "operator")}, ${plural(c.nodes, "node")}${pairing > 0 ? `, ${pairing} pairing` : ""})`,
      ),
    );
  };
  dashboard.onCountsChanged = () => void renderStatus().catch(() => {});

  // Routing: #/ (or nothing) is the dashboard, #/chat the chat view, #/chat/<id> one chat.
  const route = () => {
    const match = /^#\/chat(?:\/(.*))?$/.exec(location.hash);
    const inChat = match !== null;
    const inMetrics = location.hash === "#/metrics";
    dashboard.root.hidden = inChat || inMetrics;
    chat.root.hidden = !inChat;
    metricsView.setVisible(inMetrics);
    document.body.dataset.view = inChat ? "chat" : inMetrics ? "metrics" : "dashboard";
    navDashboard.classList.toggle("active", !inChat && !inMetrics);
    navChat.classList.toggle("active", inChat);
    navMetrics.classList.toggle("active", inMetrics);
    if (match !== null) {
      // #/chat alone goes back to the chat shown last (a new one at first); #/chat/new starts one.
      const id =
        match[1] === undefined || match[1] === ""
          ? undefined
          : match[1] === "new"
            ? null
            : decodeURIComponent(match[1]);
      chat.open(id);
    }
  };
  window.addEventListener("hashchange", route, { signal: session.signal });
  route();

  let lostAt: number | undefined;
  client.on("disconnected", ({ willReconnect }) => {
    lostAt ??= Date.now();
    document.body.dataset.connection = willReconnect ? "reconnecting" : "closed";
    setConnState(willReconnect ? "reconnecting" : "disconnected");
    banner.hidden = false;
    banner.className = "banner bad";
    banner.replaceChildren(
      ...(willReconnect
        ? ["Connection lost: reconnecting… Messages you send now are sent once it is back."]
        : [
            "Disconnected from the gateway. ",
            h("button", { type: "button", onclick: () => location.reload() }, "Reconnect"),
          ]),
    );
    chat.onDisconnected();
  });
  client.on("reconnecting", ({ attempt, delayMs }) => {
    banner.replaceChildren(
      `Connection lost: reconnecting (attempt ${attempt}, next in ${Math.max(1, Math.round(delayMs / 1000))} s)… Messages you send now are sent once it is back.`,
    );
  });
  client.on("error", (error) => {
    // A refused handshake on reconnect (token revoked): back to the login form.
    if (error.code === "UNAUTHORIZED") {
      sessionStorage.removeItem(TOKEN_KEY);
      session.abort();
      void client.close().then(() => showLogin("The gateway no longer accepts this token."));
    }
  });
  client.on("connected", () => {
    // Events were missed while away: load everything again.
    document.body.dataset.connection = "ready";
    setConnState("connected");
    const away =
      lostAt === undefined ? "" : ` after ${Math.max(1, Math.round((Date.now() - lostAt) / 1000))} s`;
    lostAt = undefined;
    banner.className = "banner ok";
    banner.replaceChildren(`Reconnected${away}.`);
    void Promise.all([renderStatus(), dashboard.refresh(), chat.onConnected()])
      .catch(() => {})
      .then(() => {
        if (document.body.dataset.connection === "ready") banner.hidden = true;
      });
  });
  const statusTimer = setInterval(() => {
    if (client.state === "ready") void renderStatus().catch(() => {});
  }, 5000);
  session.signal.addEventListener("abort", () => clearInterval(statusTimer));

  await Promise.all([renderStatus(), dashboard.refresh(), chat.onConnected()]).catch((error: unknown) => {
    status.textContent = `error: ${(error as Error).message}`;
  });
  document.body.dataset.ready = "true";
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) showLogin();
else void start(saved);
