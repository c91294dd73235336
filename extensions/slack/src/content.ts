import { type Button, type MessageContent, markdownToPlainText, splitText } from "@openclaw/channel-sdk";

/**
 * The longest text the plugin puts in one Slack message. Slack truncates `text` past 40,000
 * characters and recommends at most 4,000; longer text is split into several messages.
 */
export const SLACK_MAX_TEXT = 4000;

/** Slack's limit on the text of one `section` block. */
export const SLACK_SECTION_MAX_TEXT = 3000;

/** Slack's limit on a button's label. */
const BUTTON_LABEL_MAX = 75;
/** Slack's limit on a button's value. */
const BUTTON_VALUE_MAX = 2000;
/** Slack's limit on elements in one `actions` block. */
const ACTIONS_MAX_ELEMENTS = 25;
/** Slack's limit on blocks in one message. */
const MAX_BLOCKS = 50;

/** A Slack message's place: its conversation, its timestamp, and the thread it is in (if any). */
export interface SlackMessageRef {
  channel: string;
  ts: string;
  /** The thread's parent `ts`, when the message is a reply in a thread. */
  threadTs?: string;
}

const MESSAGE_ID = /^([A-Z0-9]+):(\d+\.\d+)(?:\/(\d+\.\d+))?$/;

/**
 * The gateway's id of a Slack message: `<channel>:<ts>`, or `<channel>:<thread_ts>/<ts>` for a
 * reply in a thread, so that a reply to it can find the thread again (also after a restart).
 *
 * @param ref - Conversation, timestamp and thread.
 * @returns The message id.
 */
export function toMessageId(ref: SlackMessageRef): string {
  return ref.threadTs !== undefined && ref.threadTs !== ref.ts
    ? `${ref.channel}:${ref.threadTs}/${ref.ts}`
    : `${ref.channel}:${ref.ts}`;
}

/**
 * Reads a message id made by {@link toMessageId}.
 *
 * @param id - A message id.
 * @returns Its parts, or `undefined` for ids of other shapes (slash commands, button clicks).
 */
export function parseMessageId(id: string): SlackMessageRef | undefined {
  const match = MESSAGE_ID.exec(id);
  if (match === null) return undefined;
  const [, channel, first, second] = match as unknown as [string, string, string, string | undefined];
  return second === undefined ? { channel, ts: first } : { channel, ts: second, threadTs: first };
}

/** The `chat.postMessage` arguments for one piece of content (files excepted). */
export interface PostArguments {
  /** The notification and fallback text (Slack parses it as mrkdwn). */
  text: string;
  blocks?: Array<Record<string, unknown>>;
}

/**
 * Builds `chat.postMessage` arguments: text goes as `text` (Slack's mrkdwn); Markdown goes in a
 * `markdown` block, with its plain-text rendering as `text` for notifications; image links become
 * `image` blocks, other links are appended; button rows become `actions` blocks (with the text in
 * `section` blocks, since Slack shows blocks instead of `text`).
 *
 * @param content - Adapted content (text already within {@link SLACK_MAX_TEXT}); inline-data
 *   attachments are ignored here (they are uploaded).
 * @returns The arguments.
 */
export function toPostArguments(content: MessageContent): PostArguments {
  let text = content.text ?? "";
  const images: Array<Record<string, unknown>> = [];
  for (const attachment of content.attachments ?? []) {
    if (attachment.url === undefined) continue;
    if (attachment.kind === "image" && images.length < 10)
      images.push({
        type: "image",
        image_url: attachment.url,
        alt_text: (attachment.caption ?? attachment.filename ?? "image").slice(0, 2000) || "image",
      });
    else text = text === "" ? attachment.url : `${text}\n${attachment.url}`;
  }
  const markdown = content.format === "markdown" && text !== "";
  const buttons = content.buttons ?? [];
  if (!markdown) text = escapeSlackText(text);
  if (!markdown && images.length === 0 && buttons.length === 0) return { text };
  const blocks: Array<Record<string, unknown>> = [];
  if (markdown) blocks.push({ type: "markdown", text });
  else if (text !== "")
    for (const piece of splitText(text, SLACK_SECTION_MAX_TEXT))
      blocks.push({ type: "section", text: { type: "mrkdwn", text: piece } });
  blocks.push(...images);
  blocks.push(...toActionBlocks(buttons));
  const fallback = markdown ? escapeSlackText(markdownToPlainText(text)) : text;
  return {
    text: fallback !== "" ? fallback : images.length > 0 ? "image" : "message",
    blocks: blocks.slice(0, MAX_BLOCKS),
  };
}

/** Button rows as `actions` blocks: links open their URL, the others send their value back. */
function toActionBlocks(rows: readonly (readonly Button[])[]): Array<Record<string, unknown>> {
  return rows
    .filter((row) => row.length > 0)
    .map((row, r) => ({
      type: "actions",
      block_id: `oc_actions_${r}`,
      elements: row.slice(0, ACTIONS_MAX_ELEMENTS).map((button, i) => {
        const element: Record<string, unknown> = {
          type: "button",
          action_id: `oc_${r}_${i}`,
          text: { type: "plain_text", text: button.text.slice(0, BUTTON_LABEL_MAX), emoji: true },
        };
        if (button.url !== undefined) element.url = button.url;
        else element.value = (button.callbackData ?? button.text).slice(0, BUTTON_VALUE_MAX);
        return element;
      }),
    }));
}

/** Slack's own markup, kept as is: mentions, channel links, special mentions, links. */
const SLACK_MARKUP = /<(?:[@#!][^<>\s|]+|(?:https?|mailto):[^<>\s|]+)(?:\|[^<>\n]*)?>/g;

/**
 * Escapes `&`, `<` and `>` as Slack asks, except in Slack's own markup (`<@U123>`, `<#C123>`,
 * `<!here>`, `<https://…|label>`), so that text with a literal `<b>` is shown as typed.
 *
 * @param text - Text to send.
 * @returns The escaped text.
 */
export function escapeSlackText(text: string): string {
  let out = "";
  let last = 0;
  for (const match of text.matchAll(SLACK_MARKUP)) {
    out += escapePlain(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + escapePlain(text.slice(last));
}

function escapePlain(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Undoes Slack's escaping of `&`, `<` and `>` in message text (mentions and links stay as
 * Slack writes them, e.g. `<@U123>`).
 *
 * @param text - Text as Slack sends it.
 * @returns The text.
 */
export function unescapeSlackText(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}
