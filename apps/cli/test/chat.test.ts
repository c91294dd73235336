import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { connect, createServer, type Socket } from "node:net";
import { resolve } from "node:path";
import { type Harness, startGateway, TOKEN } from "@openclaw/gateway/testing";
import type { GatewayClient } from "@openclaw/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// `openclaw chat` as a child process against a real gateway: one message with -m, piped stdin, the
// prompt through pipes (--interactive) and through a pseudo-terminal (util-linux `script`), and
// Ctrl-C stopping a slow agent's reply.

const main = resolve(import.meta.dirname, "../src/main.ts");
const tsx = createRequire(import.meta.url).resolve("tsx");

/** `slow` pauses before each word: a reply long enough to watch it stream and to stop it. */
const AGENTS = {
  default: "echo",
  list: { echo: { provider: "echo" }, slow: { provider: "echo", delayMs: 200 } },
};
/** 40 words: 8 s at `slow`'s pace, far longer than it takes to see one word and send Ctrl-C. */
const LONG = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(" ");

/** util-linux `script` runs a command on a pseudo-terminal (Debian: bsdutils, an essential package). */
const SCRIPT = "/usr/bin/script";
const hasScript = existsSync(SCRIPT);
if (!hasScript && process.env.CI !== undefined)
  throw new Error(`util-linux script is required in CI for the terminal test (expected at ${SCRIPT})`);

let h: Harness;
let dir: string;
let url: string;
let watcher: GatewayClient;

beforeAll(async () => {
  h = await startGateway({ config: { agents: AGENTS }, testChannel: false });
  ({ url, stateDir: dir } = h);
  watcher = await h.client();
});

afterAll(async () => {
  await h.stop();
});

const ENV = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: dir,
  OPENCLAW_URL: url,
  OPENCLAW_GATEWAY_TOKEN: TOKEN,
  NO_COLOR: "1",
});

/** A running `openclaw` child: its output so far, and waits on it. */
interface Cli {
  child: ChildProcessWithoutNullStreams;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once `predicate` holds for the output so far (fails after 30 s). */
  until(predicate: (out: { stdout: string; stderr: string }) => boolean, what: string): Promise<void>;
  write(text: string): void;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function spawnCli(command: string, args: string[]): Cli {
  const child = spawn(command, args, { cwd: dir, env: ENV(), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  const check = () => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    check();
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    check();
  });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child.on("close", (code) => {
      check();
      done({ code, stdout, stderr });
    }),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    write(text) {
      child.stdin.write(text);
    },
    until(predicate, what) {
      return new Promise((done, fail) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          fail(new Error(`timed out waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, 30_000);
        const waiter = () => {
          if (predicate({ stdout, stderr })) {
            clearTimeout(timer);
            waiters.delete(waiter);
            done();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(waiter);
            fail(new Error(`exited while waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`));
          }
        };
        waiters.add(waiter);
        waiter();
      });
    },
  };
}

/** `openclaw <args>` from its source entry. */
const NODE_ARGS = ["--conditions=@openclaw/source", "--import", tsx, main];
const openclaw = (args: string[]) => spawnCli(process.execPath, [...NODE_ARGS, ...args]);

/** Runs `openclaw <args>` with `stdin` piped in, to its end. */
function run(args: string[], stdin = "") {
  const cli = openclaw(args);
  cli.child.stdin.end(stdin);
  return cli.exited;
}

async function history(conversationId: string) {
  const { messages } = await watcher.request("conversation.history", {
    channel: "webchat",
    conversationId,
    limit: 1000,
  });
  return messages.map((m) => ({ direction: m.direction, text: m.content.text, sender: m.sender?.name }));
}

const conversationOf = (text: string): string => {
  const id = /conversation:? (web-[\w-]+)/.exec(text)?.[1];
  if (id === undefined) throw new Error(`no conversation id in ${text}`);
  return id;
};

/** The words of the reply line that starts with word1. */
const replyWords = (stdout: string): number =>
  (/word1\b[^\n(]*/.exec(stdout)?.[0] ?? "").trim().split(/\s+/).length;

describe("openclaw chat", () => {
  it("-m sends one message, prints the reply and the conversation id; --conversation continues it", async () => {
    const first = await run(["chat", "-m", "hello there"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe("hello there\n");
    const conversationId = conversationOf(first.stderr);
    expect(await history(conversationId)).toEqual([
      { direction: "in", text: "hello there", sender: "openclaw-cli" },
      { direction: "out", text: "hello there", sender: "echo" },
    ]);
    // Piped stdin is one message, newlines and all.
    const piped = await run(["chat", "--conversation", conversationId], "line one\nline two\n");
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe("line one\nline two\n");
    expect(conversationOf(piped.stderr)).toBe(conversationId);
    expect((await history(conversationId)).map((m) => m.text)).toEqual([
      "hello there",
      "hello there",
      "line one\nline two",
      "line one\nline two",
    ]);
  }, 60_000);

  it("--json prints one object per line: conversation, sent, run started, chunks in order, run completed", async () => {
    const result = await run(["chat", "--json", "-m", "one two three"]);
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; [key: string]: unknown });
    const conversationId = lines[0]?.conversationId as string;
    expect(lines[0]).toEqual({
      type: "conversation",
      conversationId: expect.stringMatching(/^web-/),
      new: true,
    });
    expect(lines[1]).toMatchObject({
      type: "sent",
      conversationId,
      text: "one two three",
      agent: "echo",
      seq: 1,
    });
    const runId = lines[1]?.runId;
    expect(lines.find((l) => l.type === "run" && l.status === "started")).toMatchObject({ runId });
    const chunks = lines.filter((l) => l.type === "chunk");
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
    expect(chunks.map((c) => c.delta).join("")).toBe("one two three");
    expect(lines.at(-1)).toMatchObject({
      type: "run",
      runId,
      status: "completed",
      messageId: expect.any(String),
    });
    // The recorded messages arrive too (dedupe by seq).
    expect(lines.filter((l) => l.type === "message").map((l) => l.direction)).toEqual(["in", "out"]);
  }, 60_000);

  it("says what is wrong: unknown agent (exit 1, with the agents), nothing to send or stray arguments (exit 2), no gateway (exit 1)", async () => {
    const agent = await run(["chat", "--agent", "nope", "-m", "hi"]);
    expect(agent.code).toBe(1);
    expect(agent.stderr).toContain("NOT_FOUND: no agent named nope");
    expect(agent.stderr).toContain("echo, slow");
    const empty = await run(["chat"], "");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("nothing to send: stdin was empty");
    const stray = await run(["chat", "hello"]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('send one message with -m "…"');
    const both = await run(["chat", "-i", "-m", "x"]);
    expect(both.code).toBe(2);
    const down = await run(["chat", "-m", "hi", "--url", "ws://127.0.0.1:9"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot (connect|reach)/);
    const help = await run(["chat", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("/history");
  }, 90_000);

  it("the prompt through pipes (--interactive): replies, /history, /agent, /new, messages from elsewhere, unknown commands", async () => {
    const cli = openclaw(["chat", "--interactive"]);
    await cli.until(({ stdout }) => stdout.includes("(new conversation)"), "the banner");
    cli.write("first message\n");
    await cli.until(({ stdout }) => /\(conversation web-/.test(stdout), "the conversation id");
    const conversationId = conversationOf(cli.stdout);
    await cli.until(({ stdout }) => /\nfirst message\n/.test(stdout), "the reply");
    // A message posted into the conversation by someone else is shown.
    await watcher.request("message.send", {
      channel: "webchat",
      recipient: conversationId,
      text: "from elsewhere",
    });
    await cli.until(({ stdout }) => stdout.includes("reply: from elsewhere"), "the message from elsewhere");
    cli.write("/history\n");
    await cli.until(({ stdout }) => stdout.includes("#1 openclaw-cli: first message"), "the history");
    expect(cli.stdout.split("#3 reply: from elsewhere")).toHaveLength(3); // live, then in the history
    expect(cli.stdout).toContain("#2 reply: first message");
    cli.write("/frobnicate\n");
    await cli.until(({ stderr }) => stderr.includes("unknown command /frobnicate: /help"), "the hint");
    cli.write("/agent nope\nwho answers\n");
    await cli.until(({ stderr }) => stderr.includes("no agent named nope"), "the unknown agent");
    cli.write("/agent echo\n/new\nin a new one\n//slash text\n");
    await cli.until(({ stdout }) => stdout.includes("\n/slash text\n"), "the reply to //slash text");
    const ids = [...cli.stdout.matchAll(/\(conversation (web-[\w-]+);/g)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    expect(ids[1]).not.toBe(conversationId);
    expect((await history(ids[1]!)).map((m) => m.text)).toEqual([
      "in a new one",
      "in a new one",
      "/slash text",
      "/slash text",
    ]);
    cli.write("/quit\n");
    expect((await cli.exited).code).toBe(0);
  }, 60_000);

  it("--interactive with all of stdin at once: every line in turn, then exit 0 at its end", async () => {
    const result = await run(["chat", "-i", "--agent", "slow"], "one two\nthree\n/history\n");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(
      /\none two\nthree\n#1 openclaw-cli: one two\n#2 reply: one two\n#3 openclaw-cli: three\n#4 reply: three\n$/,
    );
  }, 60_000);

  it("Ctrl-C stops a slow reply, the session goes on, Ctrl-C at the idle prompt exits 0", async () => {
    const cli = openclaw(["chat", "--interactive", "--agent", "slow"]);
    cli.write(`${LONG}\n`);
    await cli.until(({ stdout }) => stdout.includes("word2 "), "the reply to start");
    cli.child.kill("SIGINT");
    await cli.until(({ stdout }) => stdout.includes("(cancelled)"), "(cancelled)");
    expect(replyWords(cli.stdout)).toBeLessThan(40);
    const conversationId = conversationOf(cli.stdout);
    cli.write("/agent echo\nstill here\n");
    await cli.until(({ stdout }) => stdout.includes("\nstill here\n"), "the next reply");
    const recorded = await history(conversationId);
    expect(recorded.map((m) => m.direction)).toEqual(["in", "out", "in", "out"]);
    // The partial reply is what was recorded.
    expect(LONG.startsWith(recorded[1]!.text!.trim())).toBe(true);
    expect(recorded[1]!.text!.split(/\s+/).length).toBeLessThan(40);
    cli.child.kill("SIGINT");
    expect((await cli.exited).code).toBe(0);
  }, 60_000);

  it("one message: Ctrl-C stops the reply and exits 130", async () => {
    const cli = openclaw(["chat", "--agent", "slow", "-m", LONG]);
    await cli.until(({ stdout }) => stdout.includes("word2 "), "the reply to start");
    cli.child.kill("SIGINT");
    const { code, stdout, stderr } = await cli.exited;
    expect(code).toBe(130);
    expect(stderr).toContain("(cancelled)");
    expect(replyWords(stdout)).toBeLessThan(40);
  }, 60_000);

  it("a connection lost before chat.send's answer: sent again with the same key, recorded once, the reply picked up", async () => {
    // A TCP proxy that cuts the connection once, right where the reply has started and the answer
    // to chat.send has not come yet (the gateway does not compress frames: they can be read).
    const target = new URL(url);
    let armed = true;
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      for (const socket of [client, upstream]) {
        socket.on("error", () => undefined);
        socket.on("close", () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.on("data", (data: Buffer) => {
        if (armed && data.includes('"status":"started"')) {
          armed = false;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(data);
      });
    });
    await new Promise<void>((done) => proxy.listen(0, "127.0.0.1", done));
    const port = (proxy.address() as { port: number }).port;
    try {
      const text = LONG.split(" ").slice(0, 8).join(" ");
      const result = await run([
        "chat",
        "--json",
        "--agent",
        "slow",
        "-m",
        text,
        "--url",
        `ws://127.0.0.1:${port}`,
      ]);
      expect(armed).toBe(false);
      expect(result.code).toBe(0);
      const lines = result.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { type: string; [key: string]: unknown });
      expect(lines.filter((l) => l.type === "connection").map((l) => l.state)).toEqual(["lost", "restored"]);
      expect(lines.filter((l) => l.type === "sent")).toHaveLength(1);
      const chunks = lines.filter((l) => l.type === "chunk").map((l) => l.delta);
      expect(chunks.join("")).toBe(text);
      expect(lines.at(-1)).toMatchObject({ type: "run", status: "completed" });
      const conversationId = lines.find((l) => l.type === "sent")?.conversationId as string;
      expect(await history(conversationId)).toEqual([
        { direction: "in", text, sender: "openclaw-cli" },
        { direction: "out", text, sender: "slow" },
      ]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => proxy.close(done));
    }
  }, 60_000);

  it.skipIf(!hasScript)(
    "on a terminal: a prompt, streamed replies, Ctrl-C stops a reply, Ctrl-D exits",
    async () => {
      const command = [process.execPath, ...NODE_ARGS, "chat"].map((a) => `'${a}'`).join(" ");
      const cli = spawnCli(SCRIPT, ["-qfec", command, "/dev/null"]);
      await cli.until(({ stdout }) => stdout.includes("> "), "the prompt");
      cli.write("hello terminal\r");
      await cli.until(
        ({ stdout }) =>
          stdout.split("hello terminal").length >= 3 &&
          stdout.lastIndexOf("> ") > stdout.lastIndexOf("hello terminal"),
        "the reply and the next prompt",
      );
      cli.write("/agent slow\r");
      await cli.until(({ stdout }) => stdout.includes("(agent slow answers"), "the agent switch");
      cli.write(`${LONG}\r`);
      await cli.until(({ stdout }) => /word2 /.test(stdout.split(LONG).at(-1) ?? ""), "the reply to start");
      cli.write("\u0003");
      await cli.until(({ stdout }) => stdout.includes("(cancelled)"), "(cancelled)");
      expect(replyWords(cli.stdout.split(LONG).at(-1) ?? "")).toBeLessThan(40);
      cli.write("\u0004");
      expect((await cli.exited).code).toBe(0);
    },
    60_000,
  );
});
