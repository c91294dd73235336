import type { IncomingMessage, ServerResponse } from "node:http";

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
 * Ends a request whose body is refused (over its limit, `413`): marks the answer
 * `Connection: close`, reads nothing more of the body, and closes the socket as soon as the answer
 * is written, so a client cannot make the gateway read a body it already refused.
 *
 * @param incoming - The Node request.
 * @param outgoing - Its response, not written yet.
 */
export function closeAfterAnswer(incoming: IncomingMessage, outgoing: ServerResponse): void {
  if (!outgoing.headersSent) outgoing.setHeader("connection", "close");
  incoming.pause();
  const close = () => incoming.socket.destroy();
  if (outgoing.writableFinished) close();
  else outgoing.once("finish", close);
}
