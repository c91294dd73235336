// The Chat view: talk to the gateway's agents through the built-in `webchat` channel.
//
// What it keeps straight across a flaky connection:
// - Messages are keyed by their history `seq`, so the same message arriving from the history, from
//   `conversation.updated` and again after a reconnect is shown once.
// - A send is kept (also in sessionStorage, so a reload keeps it) with its idempotency key until the
//   gateway answers it; after a lost connection it is sent again with the same key, and the gateway
//   answers a repeated key with the first result, so nothing is recorded twice.
// - The reply in progress is rebuilt from `chat.subscribe` (the text so far and the next chunk's
//   index) when a conversation is opened and after every reconnect; `chat.chunk`s are applied in
//   index order, a gap triggers the same resync.
import {
  type ConversationMessage,
  type ConversationSummary,
  type EventData,
  isProtocolError,
  type MethodResult,
  WEBCHAT_CHANNEL,
} from "@openclaw/protocol";
import { h, plural, randomKey, time, type ViewContext } from "./dom";

/** Limits of the Chat view. */
export const CHAT_VIEW_LIMITS = Object.freeze({
  /** Messages of a conversation shown (the most recent ones); older ones are left in the history. */
  shownMessages: 300,
  /** Sends kept while unanswered; beyond, a new send is refused until some are answered. */
  maxPendingSends: 50,
  /** History pages read at most when catching up after a reconnect. */
  maxHistoryPages: 10,
  /** Delay before sending again a send that failed while the connection stayed up (a timeout). */
  retryDelayMs: 1000,
  /** History reads at once for the list's titles (first messages) and previews (last messages). */
  summaryReads: 4,
  /** Characters kept of a chat's first and last message for its title and preview. */
  summaryChars: 200,
  /** Chats renamed in this browser that are remembered; the oldest names are forgotten beyond. */
  maxNames: 1000,
});

const NAMES_KEY = "openclaw.chat.names";

const PENDING_KEY = "openclaw.chat.pending";
/** Error codes after which a send is tried again with the same idempotency key. */
const RETRYABLE = new Set(["CONNECTION_CLOSED", "TIMEOUT", "UNAVAILABLE", "SHUTTING_DOWN", "OVERLOADED"]);

/** A message typed here and not yet answered by the gateway. */
interface PendingSend {
  readonly key: string;
  readonly text: string;
  /** The chat it goes to; `null` starts a new chat (the gateway picks the id). */
  conversationId: string | null;
  readonly agent: string | undefined;
  /** sending: asked; waiting: for the connection; queued: until the running reply ends; failed: refused. */
  state: "sending" | "waiting" | "queued" | "failed";
  inFlight: boolean;
  error?: string;
  /** The history seq of its message, once seen in the history (it is then shown from there). */
  seenSeq?: number;
}

/** The reply being streamed in the open chat. */
interface LiveReply {
  readonly runId: string;
  agent: string;
  text: string;
  nextIndex: number;
  stopping: boolean;
}

/** The Chat view. */
export interface ChatView {
  readonly root: HTMLElement;
  /** Shows a chat (`null`: a new one; `undefined`: the one shown last), as the route `#/chat/<id>` asks. */
  open(conversationId: string | null | undefined): void;
  /** After every successful handshake: subscribe again, catch up, send what waits. */
  onConnected(): Promise<void>;
  /** The connection is gone (for now). */
  onDisconnected(): void;
}

type Chunk = EventData<"chat.chunk">;

/**
 * Builds the Chat view and subscribes it to the client's events.
 *
 * @param ctx - The page's client.
 * @param instanceId - This tab's id (the handshake's `client.instanceId`): the messages this tab sent
 *   carry it in their sender id.
 * @returns The view.
 */
export function createChatView(ctx: ViewContext, instanceId: string): ChatView {
  const { client, call } = ctx;
  const mySenderId = `operator:${instanceId}`;

  let current: string | null = null;
  /** Bumped by every open(): answers for a chat no longer shown are dropped. */
  let generation = 0;
  let ready = client.state === "ready";
  const messages = new Map<number, ConversationMessage>();
  let live: LiveReply | undefined;
  /** Chunks received while a resync is asking where the reply is. */
  let resyncBuffer: Chunk[] | undefined;
  /** Bumped by every resync and lost connection: only the latest resync clears the buffer. */
  let resyncToken = 0;
  /** A resync was asked for while one was under way: run another after it. */
  let resyncAgain = false;
  const endedRuns = new Set<string>();
  /** How replies ended, by recorded message id ("stopped", "failed"), and which agent wrote them. */
  const replyInfo = new Map<string, { agent: string; status: string }>();
  let conversations: ConversationSummary[] = [];
  let pendings: PendingSend[] = loadPendings();
  /** The chats' first messages (their titles unless renamed) and last messages (their previews). */
  const firstTexts = new Map<string, string>();
  const lastTexts = new Map<string, { seq: number; text: string }>();
  /** Names given to chats in this browser (there is no RPC to store them with the conversation). */
  const names = loadNames();
  let summariesRunning = false;
  let summariesAgain = false;
  let agents: string[] = ["echo"];
  let defaultAgent = "echo";

  // ---- DOM ----
  const listEl = h("ul", { id: "chat-list", class: "chat-list-items" });
  const newButton = h(
    "button",
    {
      id: "chat-new",
      type: "button",
      onclick: () => {
        location.hash = "#/chat/new";
      },
    },
    "New chat",
  );
  const title = h("h2", { id: "chat-title" });
  const titleInput = h("input", {
    id: "chat-title-input",
    class: "chat-title-input",
    name: "title",
    "aria-label": "chat name",
    maxlength: "100",
    hidden: "",
  });
  const renameButton = h(
    "button",
    { id: "chat-rename", type: "button", class: "secondary", onclick: () => startRename() },
    "Rename",
  );
  const listToggle = h(
    "button",
    {
      id: "chat-list-toggle",
      type: "button",
      class: "secondary",
      "aria-controls": "chat-list",
      "aria-expanded": "false",
      onclick: () => toggleList(!listNav.classList.contains("open")),
    },
    "Chats",
  );
  const agentSelect = h("select", { id: "chat-agent", name: "agent", "aria-label": "agent" });
  const messagesEl = h("div", { id: "chat-messages", class: "messages", role: "log" });
  const input = h("textarea", {
    id: "chat-input",
    name: "message",
    rows: "2",
    placeholder: "Message (Enter sends, Shift+Enter: new line)",
    "aria-label": "message",
  });
  const sendButton = h("button", { id: "chat-send", type: "submit" }, "Send");
  const stopButton = h(
    "button",
    { id: "chat-stop", type: "button", class: "danger", hidden: "", onclick: () => void stop() },
    "Stop",
  );
  const errorEl = h("p", { id: "chat-error", class: "error", role: "alert" });
  const form = h(
    "form",
    { id: "chat-form", class: "composer" },
    input,
    h("div", { class: "composer-buttons" }, stopButton, sendButton),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  const listNav = h("nav", { class: "chat-list", "aria-label": "chats" }, listToggle, newButton, listEl);
  const root = h(
    "section",
    { id: "chat", class: "chat-view", hidden: "" },
    listNav,
    h(
      "div",
      { class: "chat-main" },
      h(
        "div",
        { class: "chat-head" },
        title,
        titleInput,
        renameButton,
        h("label", { class: "agent-pick" }, "agent ", agentSelect),
      ),
      messagesEl,
      errorEl,
      form,
    ),
  );

  // ---- titles, previews, names ----
  /** What a chat is called: its name here, its title from the gateway, its first message, its id. */
  function chatTitle(conversationId: string): string {
    const summary = conversations.find((c) => c.conversationId === conversationId);
    return (
      names.get(conversationId) ?? summary?.title ?? firstTexts.get(conversationId) ?? shortId(conversationId)
    );
  }

  function remember(conversationId: string, message: ConversationMessage): void {
    const text = (message.content.text ?? "(attachment)").slice(0, CHAT_VIEW_LIMITS.summaryChars);
    if (message.seq === 1) firstTexts.set(conversationId, text);
    const last = lastTexts.get(conversationId);
    if (last === undefined || last.seq <= message.seq)
      lastTexts.set(conversationId, { seq: message.seq, text });
  }

  /** Reads the first and last message of the listed chats that lack them, a few at a time. */
  async function loadSummaries(): Promise<void> {
    if (summariesRunning) {
      summariesAgain = true;
      return;
    }
    summariesRunning = true;
    try {
      const todo = conversations.filter(
        (c) =>
          (!firstTexts.has(c.conversationId) && !names.has(c.conversationId) && c.title === undefined) ||
          (lastTexts.get(c.conversationId)?.seq ?? 0) < c.lastSeq,
      );
      const read = async (c: ConversationSummary) => {
        const ask = (since: number) =>
          call("conversation.history", {
            channel: WEBCHAT_CHANNEL,
            conversationId: c.conversationId,
            since,
            limit: 1,
          });
        if (!firstTexts.has(c.conversationId)) {
          // The oldest message kept (the first one, unless the history was trimmed).
          const first = (await ask(0)).messages[0];
          if (first !== undefined) {
            remember(c.conversationId, first);
            firstTexts.set(
              c.conversationId,
              (first.content.text ?? "(attachment)").slice(0, CHAT_VIEW_LIMITS.summaryChars),
            );
          }
        }
        if ((lastTexts.get(c.conversationId)?.seq ?? 0) < c.lastSeq)
          for (const m of (await ask(c.lastSeq - 1)).messages) remember(c.conversationId, m);
      };
      const workers = Array.from({ length: CHAT_VIEW_LIMITS.summaryReads }, async () => {
        for (let next = todo.shift(); next !== undefined; next = todo.shift()) {
          await read(next).catch(() => undefined);
          renderList();
          if (next.conversationId === current) render();
        }
      });
      await Promise.all(workers);
    } finally {
      summariesRunning = false;
      if (summariesAgain) {
        summariesAgain = false;
        void loadSummaries();
      }
    }
  }

  function startRename(): void {
    if (current === null) return;
    titleInput.value = chatTitle(current);
    title.hidden = true;
    renameButton.hidden = true;
    titleInput.hidden = false;
    titleInput.focus();
    titleInput.select();
  }

  function endRename(save: boolean): void {
    if (titleInput.hidden) return;
    titleInput.hidden = true;
    title.hidden = false;
    if (save && current !== null) {
      const name = titleInput.value.trim();
      names.delete(current);
      // Cleared: the chat is called by its first message again.
      if (name !== "") names.set(current, name);
      saveNames(names);
    }
    render();
    renderList();
  }
  titleInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      endRename(true);
    } else if (event.key === "Escape") endRename(false);
  });
  titleInput.addEventListener("blur", () => endRename(true));

  /** Opens or closes the list (a drawer on a phone; always shown on a wider screen). */
  function toggleList(open: boolean): void {
    listNav.classList.toggle("open", open);
    listToggle.setAttribute("aria-expanded", String(open));
  }

  // ---- pending sends ----
  function savePendings(): void {
    const kept = pendings.map(({ key, text, conversationId, agent }) => ({
      key,
      text,
      conversationId,
      agent,
    }));
    try {
      if (kept.length === 0) sessionStorage.removeItem(PENDING_KEY);
      else sessionStorage.setItem(PENDING_KEY, JSON.stringify(kept));
    } catch {
      // storage full or off: the sends still go out from memory
    }
  }

  function send(): void {
    const text = input.value.trim();
    if (text === "") return;
    if (pendings.length >= CHAT_VIEW_LIMITS.maxPendingSends) {
      errorEl.textContent = `${pendings.length} messages are still waiting to be sent; wait for the connection.`;
      return;
    }
    errorEl.textContent = "";
    const agent = agentSelect.value === "" ? undefined : agentSelect.value;
    const pending: PendingSend = {
      key: randomKey("web"),
      text,
      conversationId: current,
      agent,
      state: "sending",
      inFlight: false,
    };
    pendings.push(pending);
    savePendings();
    input.value = "";
    // A reply is running in this chat: the gateway would refuse (CONFLICT); send when it ends.
    // In a new chat, a second message waits for the first to give the chat its id.
    if (live !== undefined && current !== null) pending.state = "queued";
    else if (current === null && pendings.some((p) => p !== pending && p.conversationId === null))
      pending.state = "queued";
    else void dispatch(pending);
    render(true);
  }

  async function dispatch(pending: PendingSend): Promise<void> {
    if (pending.inFlight || !pendings.includes(pending)) return;
    pending.inFlight = true;
    pending.state = ready ? "sending" : "waiting";
    delete pending.error;
    render();
    try {
      const result = await call("chat.send", {
        ...(pending.conversationId === null ? {} : { conversationId: pending.conversationId }),
        text: pending.text,
        ...(pending.agent === undefined ? {} : { agent: pending.agent }),
        idempotencyKey: pending.key,
      });
      pending.inFlight = false;
      settle(pending, result);
    } catch (error) {
      pending.inFlight = false;
      if (!pendings.includes(pending)) return;
      const code = isProtocolError(error) ? error.code : undefined;
      const reason = isProtocolError(error)
        ? (error.details as { reason?: string } | undefined)?.reason
        : undefined;
      if (code !== undefined && RETRYABLE.has(code)) {
        pending.state = "waiting";
        // Still connected (a timeout): try again shortly; otherwise onConnected sends it.
        if (client.state === "ready")
          setTimeout(() => {
            if (ready && pending.state === "waiting") void dispatch(pending);
          }, CHAT_VIEW_LIMITS.retryDelayMs);
      } else if (code === "CONFLICT" && reason === "reply_running") {
        // Sent when the chat's reply ends (the open chat hears it; another one is asked again later).
        pending.state = "queued";
        if (pending.conversationId === current) void resync();
        else
          setTimeout(() => {
            if (ready && pending.state === "queued") void dispatch(pending);
          }, CHAT_VIEW_LIMITS.retryDelayMs);
      } else {
        pending.state = "failed";
        pending.error = (error as Error).message;
      }
      render();
    }
  }

  function settle(pending: PendingSend, result: MethodResult<"chat.send">): void {
    pendings = pendings.filter((p) => p !== pending);
    savePendings();
    if (pending.conversationId === null) {
      // The new chat has its id now; messages typed after the first one go there too.
      for (const p of pendings) if (p.conversationId === null) p.conversationId = result.conversationId;
      savePendings();
      if (current === null) {
        history.replaceState(null, "", `#/chat/${encodeURIComponent(result.conversationId)}`);
        open(result.conversationId);
      }
    } else if (result.conversationId === current) {
      if (!messages.has(result.seq))
        addMessages([
          {
            seq: result.seq,
            direction: "in",
            messageId: result.messageId,
            sender: { id: mySenderId, name: "openclaw-web" },
            content: { text: pending.text },
            timestamp: Date.now(),
          },
        ]);
      // A repeated send (its first answer was lost) names a run that may have ended while this page
      // was away: ask whether it still runs rather than wait for its end.
      if (result.runId !== null && live?.runId !== result.runId && !endedRuns.has(result.runId))
        void resync();
    }
    void refreshList();
    render();
  }

  /** Sends again what waits for a connection or for the chat's reply to end. */
  function flush(conversationId?: string | null): void {
    for (const pending of pendings) {
      if (pending.inFlight || pending.state === "failed") continue;
      if (
        pending.state === "queued" &&
        conversationId !== undefined &&
        pending.conversationId !== conversationId
      )
        continue;
      if (pending.state === "queued" && pending.conversationId === current && live !== undefined) continue;
      void dispatch(pending);
    }
  }

  // ---- the open chat ----
  function addMessages(list: readonly ConversationMessage[]): void {
    for (const message of list) {
      messages.set(message.seq, message);
      if (current !== null) remember(current, message);
      if (message.direction === "out" && live !== undefined && message.content.text === live.text) {
        // The reply in progress has been recorded: it is shown from the history now.
        live = undefined;
      }
      if (message.direction === "in" && message.sender?.id === mySenderId) {
        const mine = pendings.find(
          (p) => p.seenSeq === undefined && p.conversationId === current && p.text === message.content.text,
        );
        if (mine !== undefined) mine.seenSeq = message.seq;
      }
    }
    const seqs = [...messages.keys()].sort((a, b) => a - b);
    for (const seq of seqs.slice(0, Math.max(0, seqs.length - CHAT_VIEW_LIMITS.shownMessages)))
      messages.delete(seq);
  }

  const maxSeq = () => {
    let max = 0;
    for (const seq of messages.keys()) max = Math.max(max, seq);
    return max;
  };

  /** Reads the history after `since`, page by page. */
  async function loadHistory(conversationId: string, since: number, gen: number): Promise<void> {
    let cursor = since;
    for (let page = 0; page < CHAT_VIEW_LIMITS.maxHistoryPages; page++) {
      const result = await call("conversation.history", {
        channel: WEBCHAT_CHANNEL,
        conversationId,
        since: cursor,
        limit: 500,
      });
      if (gen !== generation) return;
      addMessages(result.messages);
      cursor = result.cursor;
      if (!result.hasMore || result.messages.length === 0) return;
    }
  }

  /**
   * Subscribes to the open chat and catches up: the reply in progress (its text so far) and the
   * messages after the newest one shown.
   */
  async function resync(): Promise<void> {
    const conversationId = current;
    if (conversationId === null || !ready) return;
    if (resyncBuffer !== undefined) {
      resyncAgain = true; // the one under way may have asked too early
      return;
    }
    const gen = generation;
    const token = ++resyncToken;
    resyncBuffer = [];
    try {
      const { running } = await call("chat.subscribe", { conversationId });
      if (gen !== generation || token !== resyncToken) return;
      const buffered = resyncBuffer;
      resyncBuffer = undefined;
      if (running === null) live = undefined;
      else if (live?.runId !== running.runId || live.nextIndex < running.nextIndex)
        live = {
          runId: running.runId,
          agent: running.agent,
          text: running.text,
          nextIndex: running.nextIndex,
          stopping: live?.runId === running.runId && live.stopping,
        };
      for (const chunk of buffered.sort((a, b) => a.index - b.index)) applyChunk(chunk);
      let since = maxSeq();
      if (since === 0) {
        const summary = conversations.find((c) => c.conversationId === conversationId);
        if (summary !== undefined) since = Math.max(0, summary.lastSeq - CHAT_VIEW_LIMITS.shownMessages);
      }
      await loadHistory(conversationId, since, gen);
      if (gen !== generation) return;
      if (live === undefined) flush(conversationId);
    } catch (error) {
      // A lost connection is shown by the banner; onConnected resyncs.
      if (gen === generation && !(isProtocolError(error) && RETRYABLE.has(error.code)))
        errorEl.textContent = `Could not load this chat: ${(error as Error).message}`;
    } finally {
      if (token === resyncToken) {
        resyncBuffer = undefined;
        if (resyncAgain) {
          resyncAgain = false;
          void resync();
        }
      }
      render();
    }
  }

  function applyChunk(chunk: Chunk): void {
    if (live === undefined || live.runId !== chunk.runId) {
      if (endedRuns.has(chunk.runId)) return;
      if (chunk.index !== 0) {
        void resync();
        return;
      }
      live = { runId: chunk.runId, agent: "", text: "", nextIndex: 0, stopping: false };
    }
    if (chunk.index < live.nextIndex) return; // seen already
    if (chunk.index > live.nextIndex) {
      void resync(); // a piece is missing: ask where the reply is
      return;
    }
    live.text += chunk.delta;
    live.nextIndex += 1;
  }

  function open(conversationId: string | null | undefined): void {
    if (conversationId === undefined) {
      if (current !== null) history.replaceState(null, "", `#/chat/${encodeURIComponent(current)}`);
      if (generation > 0) return;
      conversationId = null;
    }
    if (conversationId === current && generation > 0) return;
    const previous = current;
    generation += 1;
    current = conversationId;
    messages.clear();
    live = undefined;
    resyncBuffer = undefined;
    resyncToken += 1;
    resyncAgain = false;
    errorEl.textContent = "";
    endRename(false);
    toggleList(false);
    if (previous !== null && ready)
      void call("chat.unsubscribe", { conversationId: previous }).catch(() => undefined);
    render(true);
    if (conversationId !== null) void resync();
    renderList();
  }

  async function stop(): Promise<void> {
    if (live === undefined || current === null) return;
    live.stopping = true;
    render();
    try {
      await call("chat.abort", { conversationId: current, runId: live.runId });
    } catch (error) {
      if (live !== undefined) live.stopping = false;
      errorEl.textContent = `Could not stop the reply: ${(error as Error).message}`;
      render();
    }
  }

  // ---- the list of chats and the agents ----
  async function refreshList(): Promise<void> {
    try {
      const result = await call("conversation.list", { channel: WEBCHAT_CHANNEL, limit: 100 });
      conversations = result.conversations;
      renderList();
      void loadSummaries();
    } catch {
      // shown again on the next update
    }
  }

  async function loadAgents(): Promise<void> {
    try {
      const { config } = await call("config.get", {});
      const c = config as {
        agents?: { default?: string; list?: Record<string, unknown> };
        channels?: { webchat?: { agent?: string } };
      };
      agents = [...new Set(["echo", ...Object.keys(c.agents?.list ?? {})])].sort();
      defaultAgent = c.channels?.webchat?.agent ?? c.agents?.default ?? "echo";
    } catch {
      // config.get refused: offer the chat's default agent only
      agents = [];
    }
    const chosen = agentSelect.value;
    agentSelect.replaceChildren(
      h("option", { value: "" }, `default${agents.length > 0 ? ` (${defaultAgent})` : ""}`),
      ...agents.map((name) => h("option", { value: name }, name)),
    );
    if (agents.includes(chosen)) agentSelect.value = chosen;
  }

  // ---- rendering ----
  function renderList(): void {
    listToggle.textContent = `Chats (${conversations.length})`;
    listEl.replaceChildren(
      ...conversations.map((c) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#/chat/${encodeURIComponent(c.conversationId)}`,
              class: c.conversationId === current ? "chat-link active" : "chat-link",
              "data-conversation": c.conversationId,
              title: c.conversationId,
            },
            h("span", { class: "chat-name" }, chatTitle(c.conversationId)),
            h("span", { class: "chat-preview" }, lastTexts.get(c.conversationId)?.text ?? ""),
            h(
              "span",
              { class: "chat-meta" },
              `${plural(c.messageCount, "message")} · ${time(c.lastMessageAt)}`,
            ),
          ),
        ),
      ),
    );
  }

  let liveText: HTMLElement | undefined;
  /** Whether the view follows the newest message (the reader is at the bottom). */
  let pinned = true;
  messagesEl.addEventListener("scroll", () => {
    pinned = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 40;
  });
  // A smaller screen (a rotated phone, a keyboard opening) keeps the newest message in view.
  new ResizeObserver(() => {
    if (pinned) messagesEl.scrollTop = messagesEl.scrollHeight;
  }).observe(messagesEl);

  function bubble(message: ConversationMessage): HTMLElement {
    const info = replyInfo.get(message.messageId);
    const who =
      message.direction === "in"
        ? message.sender?.id === mySenderId
          ? "you"
          : (message.sender?.name ?? message.sender?.id ?? "user")
        : (info?.agent ?? message.sender?.name ?? "gateway");
    const tag = info?.status === "aborted" ? " · stopped" : info?.status === "failed" ? " · failed" : "";
    return h(
      "div",
      {
        class: `msg ${message.direction}`,
        "data-seq": String(message.seq),
        "data-message-id": message.messageId,
      },
      h("div", { class: "meta" }, `${who} · ${time(message.timestamp)}${tag}`),
      h("div", { class: "text" }, message.content.text ?? "(attachment)"),
    );
  }

  function pendingBubble(pending: PendingSend): HTMLElement {
    const state = {
      sending: "sending…",
      waiting: "waiting for the connection…",
      queued: "queued until the reply ends",
      failed: `not sent: ${pending.error ?? "refused"}`,
    }[pending.state];
    return h(
      "div",
      { class: `msg in pending ${pending.state}`, "data-key": pending.key },
      h("div", { class: "meta" }, `you · ${state}`),
      h("div", { class: "text" }, pending.text),
      ...(pending.state === "failed"
        ? [
            h(
              "div",
              { class: "actions" },
              h(
                "button",
                { type: "button", class: "secondary", onclick: () => void dispatch(pending) },
                "Retry",
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  onclick: () => {
                    pendings = pendings.filter((p) => p !== pending);
                    savePendings();
                    render();
                  },
                },
                "Discard",
              ),
            ),
          ]
        : []),
    );
  }

  /** Re-renders the open chat; keeps the view at the bottom when it was there (or when asked). */
  function render(toBottom = false): void {
    if (toBottom) pinned = true;
    title.textContent = current === null ? "New chat" : chatTitle(current);
    title.title = current ?? "";
    renameButton.hidden = current === null || !titleInput.hidden;
    const shown = [...messages.values()].sort((a, b) => a.seq - b.seq).map(bubble);
    const waiting = pendings
      .filter((p) => p.conversationId === current && p.seenSeq === undefined)
      .map(pendingBubble);
    liveText = undefined;
    const streaming: HTMLElement[] = [];
    if (live !== undefined) {
      liveText = h("div", { class: "text" }, live.text);
      streaming.push(
        h(
          "div",
          { class: "msg out streaming", "data-run-id": live.runId },
          h(
            "div",
            { class: "meta" },
            `${live.agent || "agent"} · ${live.stopping ? "stopping…" : ready ? "replying…" : "connection lost"}`,
          ),
          liveText,
        ),
      );
    }
    const empty =
      shown.length + waiting.length + streaming.length === 0
        ? [
            h(
              "p",
              { class: "empty" },
              current === null ? "Type a message to start a chat." : "No message yet.",
            ),
          ]
        : [];
    messagesEl.replaceChildren(...empty, ...shown, ...waiting, ...streaming);
    messagesEl.dataset.running = live === undefined ? "false" : "true";
    stopButton.hidden = live === undefined;
    stopButton.disabled = live === undefined || live.stopping || !ready;
    sendButton.textContent = ready ? "Send" : "Queue";
    sendButton.title = ready ? "" : "sent when the connection is back";
    if (pinned) messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  /** A chunk changes only the streamed text. */
  function renderLive(): void {
    if (live !== undefined && liveText?.isConnected) {
      liveText.textContent = live.text;
      if (pinned) messagesEl.scrollTop = messagesEl.scrollHeight;
    } else render();
  }

  // ---- events ----
  client.on("conversation.updated", ({ conversation, message }) => {
    if (conversation.channel !== WEBCHAT_CHANNEL) return;
    conversations = [
      conversation,
      ...conversations.filter((c) => c.conversationId !== conversation.conversationId),
    ];
    if (message !== undefined) remember(conversation.conversationId, message);
    renderList();
    if (message === undefined || (message.seq > 1 && !firstTexts.has(conversation.conversationId)))
      void loadSummaries();
    if (conversation.conversationId !== current || message === undefined) return;
    addMessages([message]);
    render();
  });
  client.on("chat.chunk", (chunk) => {
    if (chunk.conversationId !== current) return;
    if (resyncBuffer !== undefined) {
      resyncBuffer.push(chunk);
      return;
    }
    const before = live;
    applyChunk(chunk);
    if (live === before) renderLive();
    else render();
  });
  client.on("chat.run", (run) => {
    if (run.conversationId !== current) return;
    if (run.status === "started") {
      if (live?.runId !== run.runId && !endedRuns.has(run.runId))
        live = { runId: run.runId, agent: run.agent, text: "", nextIndex: 0, stopping: false };
      else if (live !== undefined) live.agent = run.agent;
      render();
      return;
    }
    endedRuns.add(run.runId);
    if (endedRuns.size > 500) endedRuns.delete(endedRuns.values().next().value as string);
    if (run.messageId !== undefined) replyInfo.set(run.messageId, { agent: run.agent, status: run.status });
    if (live?.runId === run.runId) live = undefined;
    if (run.status === "failed")
      errorEl.textContent = `The reply failed: ${run.error?.message ?? "unknown error"}`;
    // The recorded reply normally came just before as conversation.updated; if not, read it.
    const known = [...messages.values()].some((m) => m.messageId === run.messageId);
    if (run.messageId !== undefined && !known && current !== null)
      void loadHistory(current, maxSeq(), generation).then(() => render());
    render();
    flush(run.conversationId);
  });
  client.on("config.reloaded", () => void loadAgents());

  return {
    root,
    open,
    async onConnected() {
      ready = true;
      render();
      await Promise.all([loadAgents(), refreshList()]);
      if (current !== null) await resync();
      flush();
    },
    onDisconnected() {
      ready = false;
      // Subscriptions end with the connection; the next resync makes new ones.
      resyncBuffer = undefined;
      resyncToken += 1;
      resyncAgain = false;
      render();
    },
  };
}

function shortId(conversationId: string): string {
  return conversationId.length > 20 ? `${conversationId.slice(0, 16)}…` : conversationId;
}

/** The names given to chats in this browser, oldest first. */
function loadNames(): Map<string, string> {
  try {
    const saved = JSON.parse(localStorage.getItem(NAMES_KEY) ?? "[]") as unknown;
    if (!Array.isArray(saved)) return new Map();
    return new Map(
      saved.filter(
        (e): e is [string, string] =>
          Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string",
      ),
    );
  } catch {
    return new Map();
  }
}

function saveNames(names: Map<string, string>): void {
  for (const oldest of names.keys()) {
    if (names.size <= CHAT_VIEW_LIMITS.maxNames) break;
    names.delete(oldest);
  }
  try {
    localStorage.setItem(NAMES_KEY, JSON.stringify([...names]));
  } catch {
    // storage full or off: the name lasts until the page is closed
  }
}

function loadPendings(): PendingSend[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "[]") as Array<{
      key: string;
      text: string;
      conversationId: string | null;
      agent?: string;
    }>;
    return saved.map((p) => ({
      key: p.key,
      text: p.text,
      conversationId: p.conversationId,
      agent: p.agent,
      state: "waiting" as const,
      inFlight: false,
    }));
  } catch {
    return [];
  }
}
