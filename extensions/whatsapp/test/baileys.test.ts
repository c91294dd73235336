import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelPlugin } from "@openclaw/channel-sdk";
import { createTestContext, runChannelConformance, type TestContext } from "@openclaw/channel-sdk/testing";
import { DisconnectReason } from "baileys";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWhatsAppChannel, type WhatsAppConfig } from "../src/index";
import { FakeBaileys } from "../src/testing";

let fake: FakeBaileys;
let dir: string;

const config = (overrides: Partial<WhatsAppConfig> = {}): WhatsAppConfig =>
  ({
    transport: "baileys",
    authDir: join(dir, "auth"),
    reconnectInitialMs: 10,
    reconnectMaxMs: 40,
    ...overrides,
  }) as WhatsAppConfig;

runChannelConformance<WhatsAppConfig>({
  name: "whatsapp (baileys, fake socket)",
  createPlugin: () =>
    createWhatsAppChannel({ baileys: { makeSocket: (options) => fake.makeSocket(options) } }).create(),
  invalidConfig: { transport: "baileys", pairingPhoneNumber: "+1 (555)" },
  platform: {
    async start() {
      fake = new FakeBaileys();
      dir = await mkdtemp(join(tmpdir(), "openclaw-wa-"));
      return { config: config(), recipient: "16505551234" };
    },
    async stop() {
      await rm(dir, { recursive: true, force: true });
    },
    async injectInbound(text) {
      const message = fake.current!.receive(text, { name: "Ana" });
      return {
        expected: {
          id: message.key.id!,
          conversationId: "16505551234@s.whatsapp.net",
          sender: { id: "16505551234@s.whatsapp.net", name: "Ana" },
        },
      };
    },
    sentTexts: () => fake.sentTexts(),
  },
});

describe("whatsapp baileys specifics (at the makeWASocket boundary)", () => {
  let plugin: ChannelPlugin<WhatsAppConfig>;
  let ctx: TestContext<WhatsAppConfig>;

  beforeEach(async () => {
    fake = new FakeBaileys();
    dir = await mkdtemp(join(tmpdir(), "openclaw-wa-"));
  });
  afterEach(async () => {
    await plugin?.destroy();
    ctx?.abort();
    await rm(dir, { recursive: true, force: true });
  });

  const init = (overrides: Partial<WhatsAppConfig> = {}) => {
    plugin = createWhatsAppChannel({ baileys: { makeSocket: fake.makeSocket } }).create();
    ctx = createTestContext("whatsapp", config(overrides));
    return plugin.initialize(config(overrides), ctx);
  };

  it("shows the QR code in the status details until it is scanned, and keeps credentials private (0700/0600)", async () => {
    fake.autoOpen = false;
    const started = init();
    await vi.waitFor(() => expect(fake.current).toBeDefined());
    fake.current!.showQr("2@qr-one");
    await vi.waitFor(() => expect(plugin.status().details).toMatchObject({ qr: "2@qr-one" }));
    expect(plugin.status().state).toBe("connecting");
    expect(String(plugin.status().details?.nextStep)).toMatch(/Linked devices/);
    fake.current!.showQr("2@qr-two"); // WhatsApp rotates the QR code
    await vi.waitFor(() => expect(plugin.status().details).toMatchObject({ qr: "2@qr-two" }));
    fake.current!.open();
    await started;
    expect(plugin.status().state).toBe("ready");
    expect(plugin.status().details).toMatchObject({
      connected: true,
      account: "15550001111:7@s.whatsapp.net",
    });
    expect(plugin.status().details?.qr).toBeUndefined();
    const auth = join(dir, "auth");
    await vi.waitFor(async () => expect(await readdir(auth)).toContain("creds.json"));
    expect((await stat(auth)).mode & 0o777).toBe(0o700);
    for (const file of await readdir(auth)) expect((await stat(join(auth, file))).mode & 0o777).toBe(0o600);
    // A restart with the stored credentials logs in without a QR code.
    await plugin.destroy();
    fake.autoOpen = true;
    await init();
    expect(plugin.status().state).toBe("ready");
    expect(fake.current!.options.auth.creds.registered).toBe(true);
  });

  it("logs in with a pairing code when pairingPhoneNumber is set", async () => {
    fake.autoOpen = false;
    const started = init({ pairingPhoneNumber: "15550001111" });
    await vi.waitFor(() => expect(fake.current).toBeDefined());
    fake.current!.showQr();
    await vi.waitFor(() => expect(plugin.status().details).toMatchObject({ pairingCode: "ABCD1234" }));
    expect(fake.current!.pairingRequests).toEqual(["15550001111"]);
    expect(String(plugin.status().details?.nextStep)).toMatch(/ABCD1234/);
    fake.current!.open();
    await started;
    expect(plugin.status().details?.pairingCode).toBeUndefined();
  });

  const reasons = Object.entries(DisconnectReason).filter(
    ([name, code]) => Number.isNaN(Number(name)) && code !== DisconnectReason.loggedOut,
  ) as Array<[string, number]>;

  it.each(reasons)("reconnects after a close with %s (%i)", async (_name, code) => {
    await init();
    const first = fake.current!;
    first.close(code);
    await vi.waitFor(() => expect(fake.sockets.length).toBe(2));
    expect(first.ended).toBeDefined();
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
    expect(plugin.status().details).toMatchObject({ lastClose: { code }, reconnects: 1 });
    expect((await plugin.send("16505551234", { text: "back" })).messageId).toMatch(/^3EB0/);
    expect(fake.current!.sent.at(-1)).toMatchObject({
      jid: "16505551234@s.whatsapp.net",
      content: { text: "back" },
    });
  });

  it("backs off between failed reconnects and reports degraded meanwhile", async () => {
    await init({ reconnectInitialMs: 50, reconnectMaxMs: 100 });
    fake.autoOpen = false;
    fake.current!.close(DisconnectReason.connectionLost);
    expect(plugin.status().state).toBe("degraded");
    expect(plugin.status().lastError).toMatchObject({ code: "PLATFORM_UNAVAILABLE" });
    await vi.waitFor(() => expect(fake.sockets.length).toBe(2));
    fake.current!.close(DisconnectReason.connectionClosed);
    await vi.waitFor(() => expect(fake.sockets.length).toBe(3));
    fake.current!.open();
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
    await expect(plugin.send("16505551234", { text: "x" })).resolves.toBeDefined();
  });

  it("on a logout reports down with the next step, deletes the dead credentials and stops reconnecting", async () => {
    await init();
    const auth = join(dir, "auth");
    await vi.waitFor(async () => expect(await readdir(auth)).toContain("creds.json"));
    fake.current!.close(DisconnectReason.loggedOut, "Stream Errored (conflict)");
    await vi.waitFor(() => expect(plugin.status().state).toBe("down"));
    expect(plugin.status().lastError).toMatchObject({ code: "AUTH_FAILED" });
    expect(plugin.status().lastError?.message).toMatch(/new QR code/);
    expect(String(plugin.status().details?.nextStep)).toMatch(/scan the new QR code/);
    await vi.waitFor(async () => expect(await readdir(auth)).toEqual([]));
    await expect(plugin.send("16505551234", { text: "x" })).rejects.toMatchObject({ code: "AUTH_FAILED" });
    await new Promise((resolve) => setTimeout(resolve, 100)); // several reconnect delays: none may happen
    expect(fake.sockets).toHaveLength(1);
  });

  it("rejects start with AUTH_FAILED when the session is logged out before it opens", async () => {
    fake.autoOpen = false;
    const started = init();
    await vi.waitFor(() => expect(fake.current).toBeDefined());
    fake.current!.close(DisconnectReason.loggedOut);
    await expect(started).rejects.toMatchObject({ code: "AUTH_FAILED" });
    expect(plugin.status().state).toBe("down");
  });

  it("notices a silent socket with the watchdog's ping and replaces it", async () => {
    await init({ watchdogIntervalMs: 20, pingTimeoutMs: 50 });
    const first = fake.current!;
    await vi.waitFor(() => expect(first.pings.length).toBeGreaterThan(0)); // quiet sockets get pinged
    expect(fake.sockets).toHaveLength(1); // answered pings keep the socket
    first.silent = true;
    await vi.waitFor(() => expect(fake.sockets.length).toBe(2), { timeout: 5000 });
    expect(first.ended).toBeDefined();
    await vi.waitFor(() => expect(plugin.status().state).toBe("ready"));
    expect(plugin.status().details).toMatchObject({ stalls: 1 });
    expect(ctx.logs.some((l) => l.message.includes("stalled"))).toBe(true);
  });

  it("restarts a socket that neither opens nor asks for a login (connect timeout)", async () => {
    fake.autoOpen = false;
    const started = init({ connectTimeoutMs: 30 });
    await vi.waitFor(() => expect(fake.sockets.length).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(fake.sockets[0]!.ended).toBeDefined();
    fake.autoOpen = true; // the next socket opens at once
    await started;
    expect(plugin.status().state).toBe("ready");
  });

  it("emits each message once, skips own and status messages, quotes replies and sends media", async () => {
    const download = vi.fn(async () => Buffer.from("photo bytes"));
    plugin = createWhatsAppChannel({
      baileys: { makeSocket: fake.makeSocket, downloadMedia: download },
    }).create();
    ctx = createTestContext("whatsapp", config());
    await plugin.initialize(config(), ctx);
    const sock = fake.current!;
    const first = sock.receive("hello", { id: "ABC1" });
    sock.receive("hello", { id: "ABC1" }); // redelivered after a reconnect
    sock.ev.emit("messages.upsert", {
      type: "notify",
      messages: [
        {
          key: { remoteJid: "16505551234@s.whatsapp.net", fromMe: true, id: "OWN1" },
          message: { conversation: "mine" },
        },
        {
          key: { remoteJid: "status@broadcast", fromMe: false, id: "ST1" },
          message: { conversation: "story" },
        },
      ],
    });
    sock.receive("", {
      id: "IMG1",
      from: "120363000000000000@g.us",
      message: {
        imageMessage: {
          caption: "see",
          mimetype: "image/jpeg",
          fileLength: 11,
          contextInfo: { stanzaId: "ABC0" },
        },
      },
    });
    sock.receive("", { id: "RX1", message: { reactionMessage: { key: { id: "3EB000000001" }, text: "❤️" } } });
    await vi.waitFor(() => expect(ctx.emitted).toHaveLength(3));
    expect(ctx.emitted.map((m) => [m.id, m.text, m.replyTo])).toEqual([
      ["ABC1", "hello", undefined],
      ["IMG1", "see", "ABC0"],
      ["RX1", "❤️", "3EB000000001"],
    ]);
    expect(ctx.emitted[1]).toMatchObject({
      conversationId: "120363000000000000@g.us",
      guildId: "120363000000000000@g.us",
      attachments: [
        { kind: "image", mimeType: "image/jpeg", data: Buffer.from("photo bytes").toString("base64") },
      ],
    });
    await plugin.send("16505551234", { text: "re" }, { replyTo: "ABC1" });
    expect(sock.sent.at(-1)).toMatchObject({ content: { text: "re" }, options: { quoted: first } });
    await plugin.send("16505551234", {
      text: "chart",
      attachments: [{ kind: "image", url: "https://img.example/c.png" }],
      buttons: [[{ text: "Open", url: "https://x.example" }]],
    });
    expect(sock.sent.at(-1)?.content).toEqual({
      image: { url: "https://img.example/c.png" },
      caption: "chart\n\n• Open: https://x.example",
    });
    sock.failNextSend(Object.assign(new Error("rate-overlimit"), { output: { statusCode: 429 } }));
    await expect(plugin.send("16505551234", { text: "x" })).rejects.toMatchObject({ code: "RATE_LIMITED" });
    await expect(plugin.send("not-a-jid@example.com", { text: "x" })).rejects.toMatchObject({
      code: "RECIPIENT_NOT_FOUND",
    });
  });

  it("refuses webhooks (it holds a socket) and sends while disconnected with a retryable error", async () => {
    await init();
    const response = await plugin.handleWebhook!({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body: new Uint8Array(),
    });
    expect(response.status).toBe(404);
    fake.autoOpen = false;
    fake.current!.close(DisconnectReason.connectionClosed);
    await expect(plugin.send("16505551234", { text: "x" })).rejects.toMatchObject({
      code: "PLATFORM_UNAVAILABLE",
      retryable: true,
    });
  });
});
