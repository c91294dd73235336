import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Harness, startGateway, TOKEN } from "@openclaw/gateway/testing";
import type { GatewayClient } from "@openclaw/protocol";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildControlUi, chromiumAvailable, launchChromium } from "./browser";

// The Chat view of the control UI in real Chromium against a real gateway: streaming, history,
// messages from elsewhere, cancel, and a gateway restart under the page.

const hasChromium = chromiumAvailable("web chat test");

/** A pause before each word of `slow`'s reply: long enough to watch it grow and to stop it. */
const AGENTS = {
  default: "echo",
  list: { echo: { provider: "echo" }, slow: { provider: "echo", delayMs: 150 } },
};
const LONG = Array.from({ length: 12 }, (_, i) => `word${i + 1}`).join(" ");
const VERY_LONG = Array.from({ length: 80 }, (_, i) => `w${i + 1}`).join(" ");

let dir: string;
let stateDir: string;
let shots: string;
let gw: Harness;
let port: number;
let browser: Browser;
let page: Page;
let other: GatewayClient;
let conversationId: string;

async function startGw(): Promise<Harness> {
  return startGateway({
    config: { agents: AGENTS },
    testChannel: false,
    stateDir,
    uiDir: join(dir, "ui"),
    env: { OPENCLAW_PORT: String(port) },
  });
}

/** The chat as the page shows it: recorded messages (seq, direction, text), in order. */
function shown(p: Page): Promise<Array<{ seq: number; direction: string; text: string }>> {
  return p.$$eval("#chat-messages .msg[data-seq]", (els) =>
    els.map((el) => ({
      seq: Number(el.getAttribute("data-seq")),
      direction: el.classList.contains("in") ? "in" : "out",
      text: el.querySelector(".text")?.textContent ?? "",
    })),
  );
}

/** The chat as the gateway recorded it. */
async function recorded(client: GatewayClient) {
  const { messages } = await client.request("conversation.history", {
    channel: "webchat",
    conversationId,
    limit: 1000,
  });
  return messages.map((m) => ({ seq: m.seq, direction: m.direction, text: m.content.text ?? "" }));
}

/** Waits until the page shows no reply in progress and a recorded reply with this text. */
async function replyShown(p: Page, text: string): Promise<void> {
  await p.waitForFunction(
    (want) =>
      document.querySelector("#chat-messages .msg.streaming") === null &&
      [...document.querySelectorAll("#chat-messages .msg.out[data-seq] .text")].some(
        (el) => el.textContent === want,
      ),
    text,
    { timeout: 20_000 },
  );
}

/** Starts recording every text the streamed reply shows (one entry per change). */
async function recordStream(p: Page): Promise<void> {
  await p.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { streamed: string[] }).streamed = seen;
    const log = document.querySelector("#chat-messages")!;
    new MutationObserver(() => {
      const text = log.querySelector(".msg.streaming .text")?.textContent;
      if (text !== undefined && text !== null && seen.at(-1) !== text) seen.push(text);
    }).observe(log, { childList: true, subtree: true, characterData: true });
  });
}

describe.skipIf(!hasChromium)("the control UI's Chat view in headless Chromium", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-chat-ui-"));
    stateDir = join(dir, "state");
    await mkdir(stateDir);
    shots = process.env.UI_SCREENSHOT_DIR ?? dir;
    await mkdir(shots, { recursive: true });
    await buildControlUi(dir);
    port = 0;
    gw = await startGw();
    port = Number(new URL(gw.http).port);
    other = await gw.client();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("logs in, sends a message and shows the reply streaming in piece by piece", async () => {
    await page.goto(`${gw.http}/ui/#/chat`);
    await page.fill("input[name=token]", TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.locator("header .role").textContent()).toBe("operator");
    expect(await page.locator("#chat-title").textContent()).toBe("New chat");
    // The agents come from the config (an operator may read it): echo and slow.
    expect(await page.$$eval("#chat-agent option", (os) => os.map((o) => o.textContent))).toEqual([
      "default (echo)",
      "echo",
      "slow",
    ]);
    await page.selectOption("#chat-agent", "slow");
    await recordStream(page);
    await page.fill("#chat-input", LONG);
    await page.press("#chat-input", "Enter");
    // While it streams: a partial text, shorter than the whole, shown before the rest arrives.
    const partial = await page.waitForFunction(
      (full) => {
        const text = document.querySelector("#chat-messages .msg.streaming .text")?.textContent ?? "";
        return text.length > 0 && text.length < full.length ? text : false;
      },
      LONG,
      { timeout: 20_000 },
    );
    expect(LONG.startsWith((await partial.jsonValue()) as string)).toBe(true);
    await replyShown(page, LONG);
    // Every state the streamed reply went through: growing prefixes of the reply, one per word.
    const streamed = await page.evaluate(() => (window as unknown as { streamed: string[] }).streamed);
    expect(streamed.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < streamed.length; i++) {
      expect(streamed[i]!.startsWith(streamed[i - 1]!)).toBe(true);
      expect(streamed[i]!.length).toBeGreaterThan(streamed[i - 1]!.length);
    }
    expect(LONG.startsWith(streamed.at(-1)!)).toBe(true);
    // The new chat got its id from the gateway, and the address shows it.
    const match = /#\/chat\/(.+)$/.exec(page.url());
    expect(match).not.toBeNull();
    conversationId = decodeURIComponent(match![1]!);
    expect(conversationId).toMatch(/^web-/);
    expect(await page.locator("#chat-title").getAttribute("title")).toBe(conversationId);
    expect(await page.locator(`#chat-list a[data-conversation="${conversationId}"]`).count()).toBe(1);
    expect(await shown(page)).toEqual([
      { seq: 1, direction: "in", text: LONG },
      { seq: 2, direction: "out", text: LONG },
    ]);
    expect(await shown(page)).toEqual(await recorded(other));
  });

  it("shows the history when the page is opened again", async () => {
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForFunction(() => document.querySelectorAll("#chat-messages .msg[data-seq]").length === 2);
    expect(await shown(page)).toEqual(await recorded(other));
    expect(await page.locator("#chat-messages .msg.in .meta").textContent()).toMatch(/^you · /);
  });

  it("shows messages sent to this chat from elsewhere without a reload", async () => {
    // message.send to the chat (as the CLI or an automation would).
    await other.request("message.send", {
      channel: "webchat",
      recipient: conversationId,
      text: "a note from the CLI",
    });
    await page.waitForFunction(() =>
      [...document.querySelectorAll("#chat-messages .msg.out .text")].some(
        (el) => el.textContent === "a note from the CLI",
      ),
    );
    // Another client posts in the chat: its message and the agent's reply show up here.
    await other.request("chat.send", { conversationId, text: "hello from another tab", agent: "echo" });
    await replyShown(page, "hello from another tab");
    const inbound = page.locator("#chat-messages .msg.in", { hasText: "hello from another tab" });
    expect(await inbound.locator(".meta").textContent()).toMatch(/^test · /); // the other client's name
    expect(await shown(page)).toEqual(await recorded(other));
  });

  it("titles a chat from its first message, with a preview of the last and a labelled count; renames it", async () => {
    const history = await recorded(other);
    const link = page.locator(`#chat-list a[data-conversation="${conversationId}"]`);
    await page.waitForFunction(
      ({ id, last }) =>
        document.querySelector(`#chat-list a[data-conversation="${id}"] .chat-preview`)?.textContent === last,
      { id: conversationId, last: history.at(-1)!.text },
      { timeout: 10_000 },
    );
    expect(await link.locator(".chat-name").textContent()).toBe(LONG);
    expect(await link.locator(".chat-meta").textContent()).toMatch(
      new RegExp(`^${history.length} messages · `),
    );
    expect(await page.locator("#chat-title").textContent()).toBe(LONG);
    // Renamed here: kept in this browser (localStorage), across a reload.
    await page.click("#chat-rename");
    await page.fill("#chat-title-input", "Planning notes");
    await page.press("#chat-title-input", "Enter");
    expect(await page.locator("#chat-title").textContent()).toBe("Planning notes");
    expect(await link.locator(".chat-name").textContent()).toBe("Planning notes");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForFunction(
      (id) =>
        document.querySelector(`#chat-list a[data-conversation="${id}"] .chat-name`)?.textContent ===
        "Planning notes",
      conversationId,
      { timeout: 10_000 },
    );
    expect(await page.locator("#chat-title").textContent()).toBe("Planning notes");
  });

  it("stops a long reply; what was written so far stays as the reply", async () => {
    await page.selectOption("#chat-agent", "slow");
    await page.fill("#chat-input", VERY_LONG);
    await page.click("#chat-send");
    await page.waitForFunction(
      () =>
        (document.querySelector("#chat-messages .msg.streaming .text")?.textContent ?? "").split(" ")
          .length >= 3,
      undefined,
      { timeout: 20_000 },
    );
    expect(await page.locator("#chat-stop").isVisible()).toBe(true);
    await page.click("#chat-stop");
    await page.waitForFunction(
      () =>
        document.querySelector("#chat-messages .msg.streaming") === null &&
        document.querySelector("#chat-messages .msg.out:last-child .meta")?.textContent?.includes("stopped"),
      undefined,
      { timeout: 20_000 },
    );
    expect(await page.locator("#chat-stop").isHidden()).toBe(true);
    const last = (await shown(page)).at(-1)!;
    expect(last.direction).toBe("out");
    expect(last.text.length).toBeGreaterThan(0);
    expect(last.text.length).toBeLessThan(VERY_LONG.length);
    expect(VERY_LONG.startsWith(last.text)).toBe(true);
    expect(await shown(page)).toEqual(await recorded(other));
    // The chat takes a new message at once.
    await page.selectOption("#chat-agent", "echo");
    await page.fill("#chat-input", "after the stop");
    await page.press("#chat-input", "Enter");
    await replyShown(page, "after the stop");
    await page.screenshot({ path: join(shots, "chat-1280.png") });
  });

  it("survives a gateway restart: reconnects by itself, sends what was typed meanwhile, doubles nothing", async () => {
    const before = await shown(page);
    await other.close();
    await gw.stop();
    await page.waitForSelector("body[data-connection=reconnecting]", { timeout: 20_000 });
    expect(await page.locator("#conn-banner").textContent()).toContain("reconnecting");
    // The header says so too, and no longer shows the uptime and connections it cannot know.
    expect(await page.locator("#conn-state").getAttribute("data-state")).toBe("reconnecting");
    expect(await page.locator("#status").textContent()).not.toMatch(/\bup \d+ min|connection \(/);
    // Typed while the gateway is away: kept, shown as waiting, sent once it is back.
    await page.fill("#chat-input", "typed while offline");
    await page.press("#chat-input", "Enter");
    await page.waitForSelector("#chat-messages .msg.pending");
    expect(await page.locator("#chat-messages .msg.pending .meta").textContent()).toContain(
      "waiting for the connection",
    );
    await page.screenshot({ path: join(shots, "chat-reconnecting-1280.png") });

    gw = await startGw();
    other = await gw.client();
    await page.waitForSelector("body[data-connection=ready]", { timeout: 30_000 });
    await page.waitForSelector("#conn-state[data-state=connected]");
    await replyShown(page, "typed while offline");
    await page.waitForSelector("#conn-banner", { state: "hidden", timeout: 20_000 });
    const after = await shown(page);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)).toEqual([
      { seq: before.length + 1, direction: "in", text: "typed while offline" },
      { seq: before.length + 2, direction: "out", text: "typed while offline" },
    ]);
    expect(new Set(after.map((m) => m.seq)).size).toBe(after.length);
    expect(await page.locator("#chat-messages .msg.pending").count()).toBe(0);
    expect(after).toEqual(await recorded(other));
    // Subscribed again after the reconnect: a reply still streams here.
    await page.selectOption("#chat-agent", "slow");
    await page.fill("#chat-input", LONG);
    await page.press("#chat-input", "Enter");
    await page.waitForSelector("#chat-messages .msg.streaming");
    await replyShown(page, LONG);
    expect(await shown(page)).toEqual(await recorded(other));
  });

  it("sends again, with the same key, a message whose answer was lost; the gateway records it once", async () => {
    const text = "answer lost on the way";
    const keys: string[] = [];
    let dropped = false;
    // Between the page and the gateway: the first chat.send's answer is dropped and the socket cut.
    await page.routeWebSocket(/.*/, (ws) => {
      const server = ws.connectToServer();
      let dropId: string | undefined;
      ws.onMessage((message) => {
        if (typeof message === "string") {
          const frame = JSON.parse(message) as {
            id?: string;
            method?: string;
            data?: Record<string, string>;
          };
          if (frame.method === "chat.send" && frame.data?.text === text) {
            keys.push(frame.data.idempotencyKey!);
            if (!dropped) {
              dropped = true;
              dropId = frame.id;
            }
          }
        }
        server.send(message);
      });
      server.onMessage((message) => {
        if (dropId !== undefined && typeof message === "string") {
          const frame = JSON.parse(message) as { type?: string; id?: string };
          if (frame.type === "res" && frame.id === dropId) {
            dropId = undefined;
            void ws.close({ code: 1011, reason: "cut in the test" });
            return;
          }
        }
        ws.send(message);
      });
    });
    await page.reload(); // the route applies to sockets opened from now on
    await page.waitForSelector("body[data-ready=true]");
    await page.selectOption("#chat-agent", "echo");
    await page.fill("#chat-input", text);
    await page.press("#chat-input", "Enter");
    // Sent again after the reconnect, then answered: nothing is kept to send any more.
    await vi.waitFor(() => expect(keys).toHaveLength(2), { timeout: 20_000, interval: 20 });
    await page.waitForFunction(() => sessionStorage.getItem("openclaw.chat.pending") === null);
    await page.waitForSelector("body[data-connection=ready]");
    await replyShown(page, text);
    expect(dropped).toBe(true);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(await page.locator("#chat-messages .msg.pending").count()).toBe(0);
    const history = await recorded(other);
    expect(history.filter((m) => m.direction === "in" && m.text === text)).toHaveLength(1);
    expect(await shown(page)).toEqual(history);
  });

  it("fits a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 390);
    // The newest message stays in view when the screen gets smaller. The view follows it from a
    // ResizeObserver, which runs in a later frame than the resize: wait for it, then measure.
    await page.waitForFunction(
      () => {
        const messages = document.querySelector("#chat-messages")!.getBoundingClientRect();
        const newest = document.querySelector("#chat-messages .msg:last-child")!;
        const box = newest.getBoundingClientRect();
        return box.bottom <= messages.bottom + 1 && box.top >= messages.top;
      },
      undefined,
      { timeout: 10_000 },
    );
    const layout = await page.evaluate(() => {
      const box = (sel: string) => document.querySelector(sel)!.getBoundingClientRect();
      const lines = (el: Element) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      };
      return {
        scrollWidth: document.documentElement.scrollWidth,
        send: box("#chat-send"),
        input: box("#chat-input"),
        messages: box("#chat-messages"),
        newest: box("#chat-messages .msg:last-child"),
        sendLines: lines(document.querySelector("#chat-send")!),
        statusLines: new Set(
          [...document.querySelectorAll("#status > span")].map((s) =>
            Math.round(s.getBoundingClientRect().top),
          ),
        ).size,
      };
    });
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.send.right).toBeLessThanOrEqual(390);
    expect(layout.send.bottom).toBeLessThanOrEqual(844);
    expect(layout.input.width).toBeGreaterThan(200);
    expect(layout.messages.height).toBeGreaterThan(300);
    expect(layout.newest.bottom).toBeLessThanOrEqual(layout.messages.bottom + 1);
    expect(layout.newest.top).toBeGreaterThanOrEqual(layout.messages.top);
    expect(layout.sendLines).toBe(1);
    expect(layout.statusLines).toBeLessThanOrEqual(2);
    await page.screenshot({ path: join(shots, "chat-390.png") });
  });

  it("opens the chat list on a phone as a vertical drawer, and closes it when a chat is picked", async () => {
    await other.request("chat.send", { text: "second chat about lunch", agent: "echo" });
    await page.waitForFunction(
      () => document.querySelectorAll("#chat-list a.chat-link").length >= 2,
      undefined,
      {
        timeout: 10_000,
      },
    );
    expect(await page.locator("#chat-list").isVisible()).toBe(false);
    await page.click("#chat-list-toggle");
    await page.waitForSelector("#chat-list", { state: "visible" });
    const boxes = await page.$$eval("#chat-list a.chat-link", (els) =>
      els.map((el) => {
        const box = el.getBoundingClientRect();
        return { left: box.left, top: box.top, right: box.right, width: box.width };
      }),
    );
    expect(boxes.length).toBeGreaterThanOrEqual(2);
    for (const box of boxes) {
      expect(box.right).toBeLessThanOrEqual(390);
      expect(box.width).toBeGreaterThan(300);
      expect(box.left).toBe(boxes[0]!.left);
    }
    for (let i = 1; i < boxes.length; i++) expect(boxes[i]!.top).toBeGreaterThan(boxes[i - 1]!.top);
    await page.screenshot({ path: join(shots, "chat-list-390.png") });
    const lunch = page.locator("#chat-list a.chat-link", { hasText: "second chat about lunch" });
    const id = (await lunch.getAttribute("data-conversation")) ?? "";
    expect(id).toMatch(/^web-/);
    await lunch.click();
    await page.waitForFunction((want) => location.hash === `#/chat/${encodeURIComponent(want)}`, id);
    await page.waitForSelector("#chat-list", { state: "hidden" });
    expect(await page.locator("#chat-title").textContent()).toBe("second chat about lunch");
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForSelector("#chat-list", { state: "visible" });
    expect(await page.locator("#chat-list-toggle").isVisible()).toBe(false);
    await page.screenshot({ path: join(shots, "chat-list-1280.png") });
  });
});
