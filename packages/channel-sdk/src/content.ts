import type { ChannelCapability, MessageContent } from "@openclaw/protocol";
import { ChannelError } from "./ChannelError";

/**
 * Plain-text rendering of Markdown: emphasis markers dropped, links as `text (url)`, headings,
 * quotes and list markers kept readable, code kept verbatim.
 *
 * @param markdown - Markdown text.
 * @returns Plain text.
 */
export function markdownToPlainText(markdown: string): string {
  const blocks: string[] = [];
  // Keep code blocks verbatim; transform the rest.
  const withoutFences = markdown.replace(/```[^\n]*\n([\s\S]*?)```/g, (_match, code: string) => {
    blocks.push(code.replace(/\n$/, ""));
    return `\u0000${blocks.length - 1}\u0000`;
  });
  // Escaped characters are literal: protect them before emphasis is stripped.
  const escaped: string[] = [];
  const protectedText = withoutFences.replace(/\\([\\`*_{}[\]()#+\-.!>~|])/g, (_match, char: string) => {
    escaped.push(char);
    return `\u0001${escaped.length - 1}\u0001`;
  });
  const plain = protectedText
    .replace(/`([^`\n]+)`/g, "$1")
    .replace(/!\[([^\]]*)\]\(([^)\s]+)[^)]*\)/g, (_m, alt: string, url: string) =>
      alt === "" ? url : `${alt} (${url})`,
    )
    .replace(/\[([^\]]+)\]\(([^)\s]+)[^)]*\)/g, (_m, text: string, url: string) =>
      text === url ? url : `${text} (${url})`,
    )
    .replace(/^#{1,6}\s+/gm, "")
    .replace(/^>\s?/gm, "")
    .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, "$2")
    .replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, "$1$2")
    .replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, "$1$2")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "$1");
  return (
    plain
      // biome-ignore lint/suspicious/noControlCharactersInRegex: placeholders for escaped characters
      .replace(/\u0001(\d+)\u0001/g, (_m, index: string) => escaped[Number(index)] ?? "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: placeholders for code blocks
      .replace(/\u0000(\d+)\u0000/g, (_m, index: string) => blocks[Number(index)] ?? "")
  );
}

/**
 * Adapts content to what a channel can show: Markdown becomes plain text without `markdown`;
 * buttons become text lines without `buttons`; attachments become links without `media`
 * (attachments carried only as inline data cannot be sent and raise `UNSUPPORTED_CONTENT`).
 *
 * @param content - What the caller wants to send.
 * @param capabilities - What the channel supports.
 * @returns Content the channel can send.
 * @throws {@link ChannelError} `UNSUPPORTED_CONTENT` when nothing sendable remains.
 */
export function degradeContent(
  content: MessageContent,
  capabilities: readonly ChannelCapability[],
): MessageContent {
  const can = new Set(capabilities);
  let text = content.text ?? "";
  let format = content.format ?? "plain";
  if (format === "markdown" && !can.has("markdown")) {
    text = markdownToPlainText(text);
    format = "plain";
  }
  const out: MessageContent = {};
  const extra: string[] = [];
  if (content.buttons !== undefined && content.buttons.length > 0) {
    if (can.has("buttons")) out.buttons = content.buttons;
    else {
      for (const button of content.buttons.flat())
        extra.push(button.url === undefined ? `• ${button.text}` : `• ${button.text}: ${button.url}`);
    }
  }
  if (content.attachments !== undefined && content.attachments.length > 0) {
    if (can.has("media")) out.attachments = content.attachments;
    else {
      for (const attachment of content.attachments) {
        if (attachment.url === undefined) {
          throw new ChannelError(
            "UNSUPPORTED_CONTENT",
            `this channel cannot send ${attachment.kind} attachments without a URL`,
          );
        }
        extra.push(
          attachment.caption === undefined ? attachment.url : `${attachment.caption}: ${attachment.url}`,
        );
      }
    }
  }
  if (extra.length > 0) text = text === "" ? extra.join("\n") : `${text}\n\n${extra.join("\n")}`;
  if (text !== "") out.text = text;
  if (format === "markdown") out.format = "markdown";
  if (out.text === undefined && out.attachments === undefined) {
    throw new ChannelError(
      "UNSUPPORTED_CONTENT",
      "nothing sendable is left after adapting the content to this channel",
    );
  }
  return out;
}

/**
 * Splits text into pieces of at most `maxLength` UTF-16 code units, preferring paragraph breaks,
 * then line breaks, then spaces; never splitting a surrogate pair.
 *
 * @param text - The text.
 * @param maxLength - The platform's limit (e.g. 4096 for Telegram, 2000 for Discord).
 * @returns The pieces, in order; `[text]` when it fits.
 */
export function splitText(text: string, maxLength: number): string[] {
  if (!(maxLength >= 2)) throw new RangeError("maxLength must be at least 2");
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > maxLength) {
    const window = rest.slice(0, maxLength);
    let cut = -1;
    for (const separator of ["\n\n", "\n", "", " "]) {
      // "" stands for the limit itself falling on whitespace (a word ends exactly there).
      const at =
        separator === "" ? (/\s/.test(rest[maxLength]!) ? maxLength : -1) : window.lastIndexOf(separator);
      if (at >= maxLength / 2) {
        cut = at;
        break;
      }
    }
    let next: number;
    if (cut === -1) {
      cut = maxLength;
      const code = rest.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut -= 1; // keep a surrogate pair together
      next = cut;
    } else {
      next = cut;
      while (next < rest.length && /\s/.test(rest[next]!)) next += 1;
    }
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(next);
  }
  if (rest.length > 0 || pieces.length === 0) pieces.push(rest);
  return pieces;
}
