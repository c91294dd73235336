import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakePlatform, webhookChannel } from "@openclaw/channel-sdk/testing";
import { GatewayClient } from "@openclaw/protocol";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { buildControlUi, chromiumAvailable, launchChromium } from "./browser";
import { ADMIN, startTestGateway, type TestGateway } from "./test-gateway";

const SECRET = "signing-secret-0123456789";
const hasChromium = chromiumAvailable("web UI test");

let dir: string;
let platform: FakePlatform;
let gw: TestGateway;
let http: string;
let url: string;
let browser: Browser;
let page: Page;

describe.skipIf(!hasChromium)("the control UI in headless Chromium", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-ui-"));
    // The UI is built from its sources for the test, like `pnpm build` does.
    await buildControlUi(dir);
    platform = await FakePlatform.start({
      "GET /health": () => ({ body: { ok: true } }),
      "POST /messages": () => ({ body: { id: "m-1" } }),
    });
    gw = await startTestGateway({
      config: {
        channels: {
          test: {
            plugin: "webhook",
            baseUrl: platform.url,
            token: "platform-token-0123456789",
            signingSecret: SECRET,
          },
        },
      },
      plugins: [webhookChannel],
      uiDir: join(dir, "ui"),
    });
    ({ url, http } = gw);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await platform?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("sends a browser at / to the UI, whose login page says where the token is; API clients keep the JSON 401", async () => {
    const html = await fetch(`${http}/`, { headers: { accept: "text/html" }, redirect: "manual" });
    expect(html.status).toBe(302);
    expect(html.headers.get("location")).toBe("/ui/");
    const api = await fetch(`${http}/`, { headers: { accept: "application/json" } });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    await page.goto(`${http}/`);
    expect(new URL(page.url()).pathname).toBe("/ui/");
    await page.waitForSelector("#login");
    const help = await page.locator("#login .token-help").textContent();
    expect(help).toContain("~/.openclaw/.openclaw-state/gateway-token");
    expect(help).toContain(".openclaw-state/gateway-token");
    expect(help).toContain("OPENCLAW_GATEWAY_TOKEN");
    expect(help).toContain("openclaw dashboard");
    const shots = process.env.UI_SCREENSHOT_DIR ?? dir;
    await page.screenshot({ path: join(shots, "login-1280.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 390);
    await page.screenshot({ path: join(shots, "login-390.png") });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("refuses a wrong token with a message, then logs in with the admin token", async () => {
    await page.goto(`${http}/ui/`);
    await page.fill("input[name=token]", "wrong-token-000000000000");
    await page.click("button[type=submit]");
    await expect(page.locator("#login .error").textContent()).resolves.toContain("Token rejected");
    await page.fill("input[name=token]", ADMIN);
    await page.click("button[type=submit]");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.locator("#connections").textContent()).toBe("1 connection (1 operator, 0 nodes)");
    expect(await page.locator("#channels").textContent()).toMatch(/test\s*webhook\s*ready/);
    expect(await page.locator("header .role").textContent()).toBe("admin");
    expect(await page.locator("#conn-state").textContent()).toBe("connected");
    expect(await page.locator("#conn-state").getAttribute("data-state")).toBe("connected");
  });

  it("shows a pairing request, approves it, and sees the node come online", async () => {
    const device = new GatewayClient({
      url,
      role: "node",
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    await device.connect();
    const approved = new Promise<{ deviceToken?: string | undefined }>((done) =>
      device.once("pairing.approved", (data) => done(data)),
    );
    await device.request("pairing.start", {
      code: "4821",
      publicKey: "MCowBQYDK2VwAyEAexamplekey1234567890",
      nodeId: "mobile-device-1",
      displayName: "Ana's phone",
    });
    await page.waitForSelector('#pairing button[data-action=approve][data-code="4821"]');
    expect(await page.locator("#pairing").textContent()).toContain("Ana's phone");
    await page.click('#pairing button[data-action=approve][data-code="4821"]');
    const { deviceToken } = await approved;
    await device.close();
    await page.waitForFunction(
      () =>
        !document.querySelector("#pairing")?.textContent?.includes("4821 ") &&
        document.querySelector("#pairing")?.textContent?.includes("No device is waiting"),
    );
    const node = new GatewayClient({
      url,
      role: "node",
      deviceToken: deviceToken!,
      capabilities: ["agent.run"],
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    await node.connect();
    await page.waitForFunction(() =>
      document.querySelector("#nodes")?.textContent?.includes("mobile-device-1"),
    );
    expect(await page.locator("#nodes").textContent()).toContain("agent.run");
    await node.close();
  });

  it("shows an inbound message without a reload, and validates the config", async () => {
    const body = JSON.stringify({
      id: "p-1",
      chat: "chat-1",
      from: { id: "u1", name: "Ana" },
      text: "hello from the platform",
    });
    const response = await fetch(`${http}/webhook/test`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`,
      },
      body,
    });
    expect(response.status).toBe(200);
    await page.waitForFunction(() =>
      document.querySelector("#messages")?.textContent?.includes("hello from the platform"),
    );
    await page.waitForFunction(() =>
      document.querySelector("#conversations")?.textContent?.includes("chat-1"),
    );
    await page.fill("#config-text", '{ "heartbeat": { "intervalMs": "often" } }');
    await page.click("#config-validate");
    await page.waitForFunction(() =>
      document.querySelector("#config-issues")?.textContent?.includes("heartbeat.intervalMs"),
    );
    await page.screenshot({
      path: join(process.env.UI_SCREENSHOT_DIR ?? dir, "control-ui.png"),
      fullPage: true,
    });
  });

  it("shows the recent messages from the history in the Messages card after a reload", async () => {
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForFunction(
      () => document.querySelector("#messages")?.textContent?.includes("hello from the platform"),
      undefined,
      { timeout: 10_000 },
    );
    const line = await page
      .locator("#messages .feed li", { hasText: "hello from the platform" })
      .textContent();
    expect(line).toContain("test:chat-1");
    expect(line).toContain("Ana");
    expect(await page.locator("#messages").textContent()).not.toContain("No message yet");
  });

  it("lays the dashboard out from desktop to phone: nothing cut off, codes and buttons unbroken", async () => {
    // One pending pairing, a task and a binding, as in the screenshots.
    const device = new GatewayClient({
      url,
      role: "node",
      WebSocket,
      reconnect: false,
      client: { name: "ios", version: "1.0.0", platform: "ios" },
    });
    await device.connect();
    await device.request("pairing.start", {
      code: "4821",
      publicKey: "MCowBQYDK2VwAyEAexamplekey1234567890",
      nodeId: "mobile-device-2",
      displayName: "Ben's phone",
    });
    const admin = await gw.client(ADMIN);
    await admin.request("task.schedule", { type: "noop", name: "daily-digest", cron: "0 9 * * *" });
    await admin.request("binding.add", {
      id: "ana-on-test",
      level: "peer",
      match: { userId: "ana", channel: "test" },
      target: { channel: "test", address: "chat-1" },
    });
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForSelector('#pairing button[data-action=reject][data-code="4821"]');
    await page.waitForFunction(() => document.querySelector("#tasks")?.textContent?.includes("daily-digest"));
    await page.waitForFunction(() =>
      document.querySelector("#bindings")?.textContent?.includes("ana-on-test"),
    );
    // The device waiting to be paired is not counted as a node, and counts are pluralised.
    const counts = await page.locator("#connections").textContent();
    expect(counts).toMatch(/\(\d+ operators?, 0 nodes, 1 pairing\)/);
    expect(counts).not.toMatch(/\b1 nodes\b/);
    expect(await page.locator("#nodes").textContent()).toContain("No node is connected");

    for (const width of [1280, 768, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForFunction((w) => document.documentElement.scrollWidth <= w, width);
      const layout = await page.evaluate(() => {
        /** Lines of text an element's contents take. */
        const lines = (el: Element) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        };
        const right = (sel: string) => document.querySelector(sel)!.getBoundingClientRect().right;
        const code = document.querySelector("#pairing .code")!;
        return {
          scrollWidth: document.documentElement.scrollWidth,
          codeLines: lines(code),
          codeRects: code.getClientRects().length,
          buttonLines: [...document.querySelectorAll("#pairing button, header button")].map(lines),
          statusLines: new Set(
            [...document.querySelectorAll("#status > span")].map((s) =>
              Math.round(s.getBoundingClientRect().top),
            ),
          ).size,
          statusOverflows:
            document.querySelector("#status")!.scrollWidth > document.querySelector("#status")!.clientWidth,
          rejectRight: right('#pairing button[data-action="reject"]'),
          nextRunRight: right('#tasks td[data-label="next run"]'),
          headerBottom: document.querySelector("header")!.getBoundingClientRect().bottom,
        };
      });
      expect(layout.scrollWidth, `${width} px`).toBeLessThanOrEqual(width);
      expect(layout.codeLines, `${width} px`).toBe(1);
      expect(layout.codeRects, `${width} px`).toBe(1);
      expect(layout.buttonLines, `${width} px`).toEqual(layout.buttonLines.map(() => 1));
      expect(layout.statusLines, `${width} px`).toBeLessThanOrEqual(2);
      expect(layout.statusOverflows, `${width} px`).toBe(false);
      expect(layout.rejectRight, `${width} px`).toBeLessThanOrEqual(width);
      expect(layout.nextRunRight, `${width} px`).toBeLessThanOrEqual(width);
      // One row on a desktop; two (views and buttons, then the status) on a tablet or a phone.
      expect(layout.headerBottom, `${width} px`).toBeLessThan(width >= 1000 ? 70 : 110);
      await page.screenshot({
        path: join(process.env.UI_SCREENSHOT_DIR ?? dir, `control-ui-${width}.png`),
        fullPage: true,
      });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    await device.close();
  });
});
