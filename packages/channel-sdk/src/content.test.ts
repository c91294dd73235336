import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChannelError } from "./ChannelError";
import { degradeContent, markdownToPlainText, splitText } from "./content";

describe("markdownToPlainText", () => {
  it.each([
    ["**bold** and __strong__", "bold and strong"],
    ["*em* and _em_", "em and em"],
    ["~~gone~~", "gone"],
    ["see [the docs](https://docs.example)", "see the docs (https://docs.example)"],
    ["![diagram](https://img.example/a.png)", "diagram (https://img.example/a.png)"],
    ["# Title\n## Sub", "Title\nSub"],
    ["> quoted\n> lines", "quoted\nlines"],
    ["use `npm i`", "use npm i"],
    ["```js\nconst a = **b**;\n```", "const a = **b**;"],
    ["snake_case_name and 2*3*4", "snake_case_name and 2*3*4"],
    ["escaped \\*stars\\*", "escaped *stars*"],
  ])("%j → %j", (markdown, plain) => {
    expect(markdownToPlainText(markdown)).toBe(plain);
  });
});

describe("degradeContent", () => {
  it("keeps what the channel supports", () => {
    const content = {
      text: "*hi*",
      format: "markdown" as const,
      buttons: [[{ text: "Go", url: "https://x" }]],
      attachments: [{ kind: "image" as const, url: "https://x/a.png" }],
    };
    expect(degradeContent(content, ["text", "markdown", "buttons", "media"])).toEqual(content);
  });

  it("turns markdown, buttons and media into text on a text-only channel", () => {
    const result = degradeContent(
      {
        text: "**Build** passed",
        format: "markdown",
        buttons: [
          [
            { text: "Logs", url: "https://ci/1" },
            { text: "Retry", callbackData: "retry" },
          ],
        ],
        attachments: [{ kind: "image", url: "https://ci/1.png", caption: "graph" }],
      },
      ["text"],
    );
    expect(result).toEqual({
      text: "Build passed\n\n• Logs: https://ci/1\n• Retry\ngraph: https://ci/1.png",
    });
  });

  it("refuses inline-data attachments on a channel without media", () => {
    expect(() => degradeContent({ attachments: [{ kind: "file", data: "aGVsbG8=" }] }, ["text"])).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_CONTENT" }),
    );
    expect(() => degradeContent({ text: "" }, ["text"])).toThrow(ChannelError);
  });
});

describe("splitText", () => {
  it("returns short text untouched", () => {
    expect(splitText("hello", 10)).toEqual(["hello"]);
    expect(splitText("", 10)).toEqual([""]);
  });

  it("prefers paragraph, then line, then word boundaries", () => {
    expect(splitText("aaaa bbbb\n\ncccc dddd", 12)).toEqual(["aaaa bbbb", "cccc dddd"]);
    expect(splitText("aaaa bbbb\ncccc dddd", 12)).toEqual(["aaaa bbbb", "cccc dddd"]);
    expect(splitText("aaaa bbbb cccc dddd", 12)).toEqual(["aaaa bbbb", "cccc dddd"]);
    expect(splitText("abcdefghijkl", 5)).toEqual(["abcde", "fghij", "kl"]);
  });

  it("never splits a surrogate pair", () => {
    const pieces = splitText("😀".repeat(10), 5);
    for (const piece of pieces) expect(piece).not.toMatch(/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/);
    expect(pieces.join("")).toBe("😀".repeat(10));
  });

  it("keeps every piece within the limit and loses no non-space character", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 400 }),
        fc.integer({ min: 2, max: 60 }),
        (text, max) => {
          const pieces = splitText(text, max);
          for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(max);
          expect(pieces.join("").replace(/\s/g, "")).toBe(text.replace(/\s/g, ""));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
