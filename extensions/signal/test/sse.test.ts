import { describe, expect, it } from "vitest";
import { ServerSentEventParser } from "../src/ServerSentEventParser";

/** Feeds `text` to a parser in pieces of `size` characters and returns what it reported. */
function parse(text: string, size: number, maxEventChars = 64): string[] {
  const out: string[] = [];
  const parser = new ServerSentEventParser({
    maxEventChars,
    onEvent: (e) => out.push(`event ${e.id} ${e.event} ${JSON.stringify(e.data)}`),
    onSkipped: (e) => out.push(`skipped ${e.id} ${e.event} ${e.chars}`),
    onComment: (c) => out.push(`comment ${c}`),
  });
  for (let i = 0; i < text.length; i += size) parser.feed(text.slice(i, i + size));
  return out;
}

describe("ServerSentEventParser", () => {
  const stream =
    "\uFEFF: keepalive\r\n" +
    "id: 1\r\nevent: receive\r\ndata: one\r\ndata:two\r\n\r\n" +
    `data: ${"z".repeat(100)}\rid:2\r\r` +
    `event:receive\ndata:${"z".repeat(30)}\ndata:${"z".repeat(40)}\nid:3\n\n` +
    "retry: 10\nunknown: field\ndata\n\n" +
    `:${"c".repeat(500)}\n` +
    "id:4\ndata:last\n\n";
  const expected = [
    "comment keepalive",
    'event 1 receive "one\\ntwo"',
    "skipped 2 undefined 100",
    "skipped 3 receive 71",
    'event undefined undefined ""',
    'event 4 undefined "last"',
  ];

  it("reads every line ending, field and comment, and skips events over maxEventChars with their ids", () => {
    expect(parse(stream, stream.length)).toEqual(expected);
  });

  it("gives the same answers however the stream is cut (a CR and its LF in different chunks too)", () => {
    for (const size of [1, 2, 3, 7, 16, 63, 64, 65, 100])
      expect(parse(stream, size), `size ${size}`).toEqual(expected);
  });
});
