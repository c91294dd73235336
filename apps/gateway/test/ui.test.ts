import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type Harness, startGateway } from "./harness";

let h: Harness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function withUi(): Promise<Harness> {
  dir = await mkdtemp(join(tmpdir(), "openclaw-ui-files-"));
  await mkdir(join(dir, "ui", "assets"), { recursive: true });
  await writeFile(join(dir, "ui", "index.html"), '<!doctype html><div id="app"></div>');
  await writeFile(join(dir, "ui", "assets", "index-abc.js"), "console.log(1)");
  await writeFile(join(dir, "secret.txt"), "not for the web");
  return startGateway({ uiDir: join(dir, "ui") });
}

describe("the control UI's files at /ui/", () => {
  it("serves the app, its hashed assets, and the app for its own routes, without a token", async () => {
    h = await withUi();
    const page = await fetch(`${h.http}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<div id="app">');
    const asset = await fetch(`${h.http}/ui/assets/index-abc.js`);
    expect(asset.headers.get("content-type")).toContain("text/javascript");
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect(await (await fetch(`${h.http}/ui/settings`)).text()).toContain('<div id="app">');
    const redirect = await fetch(`${h.http}/ui`, { redirect: "manual" });
    expect(redirect.status).toBe(301);
  });

  it("never serves files outside its directory, and 404s missing assets as JSON", async () => {
    h = await withUi();
    for (const path of ["/ui/..%2Fsecret.txt", "/ui/%2e%2e/secret.txt", "/ui/assets/..%2F..%2Fsecret.txt"]) {
      const response = await fetch(`${h.http}${path}`);
      expect(await response.text(), path).not.toContain("not for the web");
    }
    const missing = await fetch(`${h.http}/ui/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  });

  it("lets the page's own origin open a WebSocket, and refuses other origins", async () => {
    h = await withUi();
    const host = new URL(h.http).host;
    const open = (origin: string) =>
      new Promise<number | "open">((resolve) => {
        const ws = new WebSocket(h!.url, { headers: { origin } });
        ws.on("open", () => {
          ws.close();
          resolve("open");
        });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => {});
      });
    expect(await open(`http://${host}`)).toBe("open");
    expect(await open("http://evil.example")).toBe(403);
  });
});
