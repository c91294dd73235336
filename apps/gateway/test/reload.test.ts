import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FakePlatform } from "@openclaw/channel-sdk/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, collect, type Harness, SIGNING_SECRET, startGateway, TOKEN, until } from "./harness";

let h: Harness | undefined;
const extra: FakePlatform[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const platform of extra.splice(0)) await platform.close();
});

const editConfig = async (harness: Harness, change: (config: Record<string, unknown>) => void) => {
  const file = join(harness.stateDir, "openclaw.json");
  const config = JSON.parse(await readFile(file, "utf8"));
  change(config);
  await writeFile(file, JSON.stringify(config));
};

describe("config hot reload wired to components", () => {
  it("starts an added channel and restarts only a changed one, announcing config.reloaded", async () => {
    h = await startGateway();
    const admin = await h.client({ token: ADMIN });
    const reloaded = collect(admin, "config.reloaded");
    const statuses = collect(admin, "channel.status");
    const second = await FakePlatform.start({
      "GET /health": () => ({ body: {} }),
      "POST /messages": () => ({ body: { id: "s-1" } }),
    });
    extra.push(second);
    await editConfig(h, (config) => {
      (config.channels as Record<string, unknown>).second = {
        plugin: "webhook",
        baseUrl: second.url,
        token: "second-token-0123456789",
        signingSecret: SIGNING_SECRET,
      };
      config.heartbeat = { intervalMs: 30_000 };
    });
    await until(() => reloaded.length === 1);
    expect(reloaded[0]).toMatchObject({ applied: ["channels.second", "heartbeat"], restartRequired: [] });
    await until(() => h!.gateway.channels.get("second")?.status().state === "ready");
    const testPlugin = h.gateway.channels.get("test");
    expect((statuses as Array<{ name: string }>).map((s) => s.name)).not.toContain("test");
    await expect(
      admin.request("message.send", { recipient: "c", channel: "second", text: "via second" }),
    ).resolves.toMatchObject({ messageId: "s-1" });
    // Changing "second" restarts it alone; "test" keeps its instance.
    await editConfig(h, (config) => {
      (
        (config.channels as Record<string, Record<string, unknown>>).second as Record<string, unknown>
      ).requestTimeoutMs = 5000;
    });
    await until(() => reloaded.length === 2);
    expect(reloaded[1]).toMatchObject({ applied: ["channels.second"] });
    expect(h.gateway.channels.get("test")).toBe(testPlugin);
    // Removing it stops it.
    await editConfig(h, (config) => {
      delete (config.channels as Record<string, unknown>).second;
    });
    await until(() => reloaded.length === 3);
    await until(() => h!.gateway.channels.get("second") === undefined);
  });

  it("keeps running on an invalid edit and tells operators with config.invalid", async () => {
    h = await startGateway();
    const cli = await h.client();
    const invalid = collect(cli, "config.invalid");
    await writeFile(join(h.stateDir, "openclaw.json"), '{ "heartbeat": { "intervalMs": ');
    await until(() => invalid.length === 1);
    expect(invalid[0]).toMatchObject({ issues: [{ path: "", line: 1 }] });
    await expect(cli.request("ping")).resolves.toHaveProperty("ts");
    expect(h.gateway.channels.get("test")?.status().state).toBe("ready");
  });
});

describe("logs", () => {
  it("are JSON lines without tokens or message bodies at info level", async () => {
    const logs: string[] = [];
    h = await startGateway({ logs });
    const cli = await h.client();
    await cli.request("message.send", {
      recipient: "chat-1",
      channel: "test",
      text: "a very private message",
    });
    await h.webhook({ id: "in-9", chat: "chat-1", from: { id: "u" }, text: "another private message" });
    const refused = await h.raw();
    await refused.connect({ token: "wrong-token-but-secret-9876" });
    await until(() => logs.some((line) => line.includes("login refused")));
    const all = logs.join("\n");
    for (const line of logs) expect(() => JSON.parse(line)).not.toThrow();
    for (const secret of [
      TOKEN,
      ADMIN,
      "wrong-token-but-secret-9876",
      "platform-token-0123456789",
      "a very private message",
      "another private message",
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});

/** The cron section after the edit in the test below: one job changed, one added. */
const EDITED_CRON = [
  {
    id: "standup",
    schedule: "30 9 * * 1-5",
    timezone: "Europe/Berlin",
    type: "message.send",
    payload: { recipient: "c", channel: "test", text: "standup" },
  },
  { id: "report", schedule: "0 18 * * 5", type: "noop" },
];

describe("cron jobs from the config", () => {
  it("schedules enabled jobs once (also across restarts), and follows edits", async () => {
    h = await startGateway({
      config: {
        cron: [
          {
            id: "standup",
            schedule: "0 9 * * 1-5",
            timezone: "Europe/Berlin",
            type: "message.send",
            payload: { recipient: "c", channel: "test", text: "standup" },
          },
        ],
      },
    });
    const cli = await h.client();
    const listCron = async () =>
      (await cli.request("task.list", { status: "scheduled" })).tasks.filter((t) =>
        t.name?.startsWith("cron "),
      );
    expect(await listCron()).toMatchObject([
      { name: "cron standup", schedule: { kind: "cron", expression: "0 9 * * 1-5 (Europe/Berlin)" } },
    ]);
    const reloaded = collect(cli, "config.reloaded");
    await editConfig(h, (config) => {
      config.cron = EDITED_CRON;
    });
    await until(() => reloaded.length === 1);
    await until(() => h!.gateway.tasks.list({ status: "scheduled" }).length === 2);
    expect((await listCron()).map((t) => t.schedule?.expression).sort()).toEqual([
      "0 18 * * 5 (UTC)",
      "30 9 * * 1-5 (Europe/Berlin)",
    ]);
    // A restart on the same state keeps exactly these two.
    const stateDir = h.stateDir;
    await cli.close();
    await h.gateway.stop();
    const again = await startGateway({ stateDir, config: { cron: EDITED_CRON } });
    try {
      expect(again.gateway.tasks.list({ status: "scheduled" })).toHaveLength(2);
    } finally {
      await again.stop();
    }
  });
});
