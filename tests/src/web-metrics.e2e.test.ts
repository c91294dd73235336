import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GatewayClient } from "@openclaw/protocol";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildControlUi, chromiumAvailable, launchChromium } from "./browser";
import { ADMIN, startTestGateway, type TestGateway } from "./test-gateway";

const hasChromium = chromiumAvailable("metrics view test");

let dir: string;
let gw: TestGateway;
let browser: Browser;
let page: Page;
const clients: GatewayClient[] = [];

/** A tile's number ("12.5 /s" → 12.5; "–" → NaN). */
const tile = (id: string) =>
  page
    .locator(`#${id}`)
    .textContent()
    .then((text) => Number.parseFloat(text ?? ""));

describe.skipIf(!hasChromium)("the control UI's Metrics view in headless Chromium", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "openclaw-ui-metrics-"));
    await buildControlUi(dir);
    gw = await startTestGateway({
      // The burst of pings below is traffic, not abuse.
      config: { security: { rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } } },
      plugins: [],
      uiDir: join(dir, "ui"),
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) await client.close();
    await browser?.close();
    await gw?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("charts connections, frames, request and agent latency live as traffic arrives", async () => {
    await page.goto(`${gw.http}/ui/#/metrics`);
    await page.fill("input[name=token]", ADMIN);
    await page.click("button[type=submit]");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.locator("body").getAttribute("data-view")).toBe("metrics");
    expect(await page.locator("#nav-metrics").getAttribute("class")).toContain("active");
    // The first sample: the page's own connection, no agent run yet.
    await page.waitForSelector("#metrics[data-samples]");
    expect(await tile("metric-connections")).toBe(1);
    expect(await page.locator("#metric-agent-p50").textContent()).toBe("–");
    expect(await page.locator("#chart-connections canvas").count()).toBe(1);

    // Real traffic: three more operators, 300 pings each, and agent runs.
    for (let i = 0; i < 3; i++) clients.push(await gw.client());
    await Promise.all(
      clients.flatMap((client) => Array.from({ length: 300 }, () => client.request("ping", {}))),
    );
    for (let i = 0; i < 5; i++) await clients[0]!.request("agent.run", { input: `hello ${i}` });

    // The page picks it up on its own, sample by sample.
    await page.waitForFunction(
      () => document.querySelector("#metric-connections")?.textContent === "4",
      undefined,
      { timeout: 15_000 },
    );
    // 900 pings in at most two intervals: far above the page's own request or so per second.
    await page.waitForFunction(
      () => Number.parseFloat(document.querySelector("#metric-frames-in")?.textContent ?? "") > 20,
      undefined,
      { timeout: 15_000 },
    );
    await page.waitForFunction(
      () => document.querySelector("#metric-agent-p50")?.textContent?.endsWith("ms") === true,
      undefined,
      { timeout: 15_000 },
    );
    expect(await tile("metric-agent-p99")).toBeGreaterThan(0);
    expect(await page.locator("#metric-queue").textContent()).toBe("0");
    expect(Number(await page.locator("#metrics").getAttribute("data-samples"))).toBeGreaterThanOrEqual(2);
  });

  it("lays the view out from desktop to phone: every chart inside the page", async () => {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForFunction((w) => document.documentElement.scrollWidth <= w, width);
      // The charts follow the width (a resize observer redraws them).
      await page.waitForFunction(
        (w) =>
          [...document.querySelectorAll(".chart canvas")].every(
            (c) => c.getBoundingClientRect().right <= w && c.getBoundingClientRect().width > 150,
          ),
        width,
      );
      const layout = await page.evaluate(() => ({
        charts: document.querySelectorAll(".chart canvas").length,
        columns: new Set(
          [...document.querySelectorAll(".chart")].map((c) => Math.round(c.getBoundingClientRect().left)),
        ).size,
        tilesRight: Math.max(
          ...[...document.querySelectorAll(".tile")].map((t) => t.getBoundingClientRect().right),
        ),
      }));
      expect(layout.charts, `${width} px`).toBe(5);
      expect(layout.columns, `${width} px`).toBe(width >= 1000 ? 3 : 1);
      expect(layout.tilesRight, `${width} px`).toBeLessThanOrEqual(width);
      await page.screenshot({
        path: join(process.env.UI_SCREENSHOT_DIR ?? dir, `metrics-${width}.png`),
        fullPage: true,
      });
    }
  });
});
