import { describe, expect, it } from "vitest";
import { escapeSlackText, parseMessageId, toMessageId, toPostArguments, unescapeSlackText } from "./content";

describe("message ids", () => {
  it("round-trip top-level messages and thread replies", () => {
    expect(toMessageId({ channel: "C1", ts: "1.000001" })).toBe("C1:1.000001");
    expect(toMessageId({ channel: "C1", ts: "1.000001", threadTs: "1.000001" })).toBe("C1:1.000001");
    expect(toMessageId({ channel: "C1", ts: "2.000002", threadTs: "1.000001" })).toBe("C1:1.000001/2.000002");
    expect(parseMessageId("C1:1.000001/2.000002")).toEqual({
      channel: "C1",
      ts: "2.000002",
      threadTs: "1.000001",
    });
    expect(parseMessageId("C1:1.000001")).toEqual({ channel: "C1", ts: "1.000001" });
    for (const other of ["command:1.2.x", "file:F1", "", "c1:1.2", "C1:1.2:edit:3.4"])
      expect(parseMessageId(other)).toBeUndefined();
  });
});

describe("text", () => {
  it("escapes &, < and > except in Slack's own markup, and unescapes what Slack sends", () => {
    expect(escapeSlackText("a < b & c > d")).toBe("a &lt; b &amp; c &gt; d");
    expect(escapeSlackText("hi <@U123> see <#C9|general> <!here> <https://x.io/a?b=1|the docs> <b>")).toBe(
      "hi <@U123> see <#C9|general> <!here> <https://x.io/a?b=1|the docs> &lt;b&gt;",
    );
    expect(unescapeSlackText("a &lt;b&gt; &amp;amp;")).toBe("a <b> &amp;");
  });
});

describe("toPostArguments", () => {
  it("sends plain text as text alone", () => {
    expect(toPostArguments({ text: "hello" })).toEqual({ text: "hello" });
  });

  it("puts text in sections when blocks are needed, within Slack's 3,000 characters a section", () => {
    const text = "word ".repeat(1000).trim();
    const args = toPostArguments({ text, buttons: [[{ text: "ok" }]] });
    const sections = args.blocks!.filter((b) => b.type === "section");
    expect(sections.length).toBe(2);
    for (const s of sections) expect((s.text as { text: string }).text.length).toBeLessThanOrEqual(3000);
    expect(args.blocks!.at(-1)).toMatchObject({ type: "actions", elements: [{ value: "ok" }] });
  });

  it("shows image links as image blocks and appends other links", () => {
    const args = toPostArguments({
      text: "files",
      attachments: [
        { kind: "image", url: "https://x.io/cat.png", filename: "cat.png" },
        { kind: "file", url: "https://x.io/report.pdf" },
      ],
    });
    expect(args.text).toBe("files\nhttps://x.io/report.pdf");
    expect(args.blocks).toEqual([
      { type: "section", text: { type: "mrkdwn", text: "files\nhttps://x.io/report.pdf" } },
      { type: "image", image_url: "https://x.io/cat.png", alt_text: "cat.png" },
    ]);
  });
});
