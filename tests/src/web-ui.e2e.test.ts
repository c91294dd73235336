import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FakePlatform, webhookChannel } from "@openclaw/channel-sdk/testing";
import { GatewayClient } from "@openclaw/protocol";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ADMIN, startTestGateway, type TestGateway } from "./test-gateway";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SECRET = "signing-secret-0123456789";
const web = resolve(import.meta.dirname, "../../apps/web");

// CI installs Chromium (.ci/run); elsewhere the browser test runs when Chromium is there.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI !== undefined)
  throw new Error(`Chromium is required in CI: install Debian's chromium (expected at ${CHROMIUM})`);
if (!hasChromium) console.warn(`web UI test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

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
    await build({
      root: web,
      configFile: join(web, "vite.config.ts"),
      logLevel: "silent",
      build: { outDir: join(dir, "ui"), emptyOutDir: true, sourcemap: false },
    });
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
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await platform?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a wrong token with a message, then logs in with the admin token", async () => {
    await page.goto(`${http}/ui/`);
    await page.fill("input[name=token]", "wrong-token-000000000000");
    await page.click("button[type=submit]");
    await expect(page.locator("#login .error").textContent()).resolves.toContain("Token rejected");
    await page.fill("input[name=token]", ADMIN);
    await page.click("button[type=submit]");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.locator("#connections").textContent()).toMatch(/\d+ connections/);
    expect(await page.locator("#channels").textContent()).toMatch(/test\s*webhook\s*ready/);
    expect(await page.locator("header .role").textContent()).toBe("admin");
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
});
