import type { IncomingMessage } from "node:http";

/**
 * Reads a Node request's body, chunked or not, holding at most `maxBytes`: resolves `"too_large"`
 * as soon as more arrives (nothing more is buffered; the caller decides what to do with the rest),
 * `"incomplete"` when the client went away before the end, else the bytes.
 *
 * @param incoming - The Node request.
 * @param maxBytes - The most it may hold.
 * @returns The body, or why there is none.
 */
export function readNodeBody(
  incoming: IncomingMessage,
  maxBytes: number,
): Promise<Buffer | "too_large" | "incomplete"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      incoming.off("data", onData);
      resolve("too_large");
    };
    incoming.on("data", onData);
    incoming.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    incoming.once("error", () => resolve("incomplete"));
    incoming.once("close", () => {
      if (!incoming.complete) resolve("incomplete");
    });
  });
}

/**
 * Stops reading a request whose body is refused (over its limit, `413`), before answering it. The
 * gateway's socket gate then closes the connection once the answer is written and at most
 * `EARLY_ANSWER_DRAIN_BYTES` (256 KiB) more have arrived: the client has the time to read the answer
 * before its connection is reset, and the gateway never reads the rest of a body it refused.
 *
 * @param incoming - The Node request.
 */
export function stopReading(incoming: IncomingMessage): void {
  incoming.pause();
}
