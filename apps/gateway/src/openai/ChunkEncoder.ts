import type { ChatCompletionChunk } from "openai/resources/chat/completions";

/**
 * Serialises the built-in agents' streamed chunks to JSON text. The envelope (`id`, `object`,
 * `created`, `model`) is the same in every chunk of a stream and is serialised once; only `choices`
 * (and `usage`) are per chunk.
 */
export class ChunkEncoder {
  #prefix = "";
  #head: ChatCompletionChunk | undefined;

  /**
   * @param chunk - A chunk with the built-in agents' keys (`id`, `object`, `created`, `model`,
   *   `choices`, maybe `usage`).
   * @returns Its JSON text.
   */
  text(chunk: ChatCompletionChunk): string {
    const head = this.#head;
    if (
      head === undefined ||
      chunk.id !== head.id ||
      chunk.model !== head.model ||
      chunk.created !== head.created
    ) {
      this.#head = chunk;
      this.#prefix = `{"id":${JSON.stringify(chunk.id)},"object":"chat.completion.chunk","created":${chunk.created},"model":${JSON.stringify(chunk.model)},"choices":`;
    }
    const usage = chunk.usage == null ? "" : `,"usage":${JSON.stringify(chunk.usage)}`;
    return `${this.#prefix}${JSON.stringify(chunk.choices)}${usage}}`;
  }
}
