import { once } from "node:events";
import { createServer, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientGone } from "../src/openai/host";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server that hands each response to `onResponse`, and a client request to it. */
async function serve(onResponse: (res: ServerResponse) => void): Promise<{ port: number }> {
  server = createServer((_req, res) => onResponse(res));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port };
}

describe("ClientGone", () => {
  it("calls its listeners once and aborts its signal when the client leaves before the end", async () => {
    let gone: ClientGone | undefined;
    const { port } = await serve((res) => {
      gone = new ClientGone(res);
      res.write("started"); // and never ended
    });
    const listener = vi.fn();
    const removed = vi.fn();
    const req = request({ host: "127.0.0.1", port, method: "POST" });
    req.end("{}");
    const [res] = await once(req, "response");
    await once(res, "data");
    gone!.addEventListener("abort", listener);
    gone!.addEventListener("abort", removed);
    gone!.removeEventListener("abort", removed);
    const early = gone!.signal; // made before the client leaves
    expect(early.aborted).toBe(false);
    req.destroy();
    await vi.waitFor(() => expect(gone!.aborted).toBe(true));
    expect(listener).toHaveBeenCalledTimes(1);
    expect(removed).not.toHaveBeenCalled();
    expect(early.aborted).toBe(true);
    expect(gone!.signal.aborted).toBe(true);
  });

  it("makes an already aborted signal when asked after the client left", async () => {
    let gone: ClientGone | undefined;
    const { port } = await serve((res) => {
      gone = new ClientGone(res);
      res.write("started");
    });
    const req = request({ host: "127.0.0.1", port, method: "POST" });
    req.end("{}");
    const [res] = await once(req, "response");
    await once(res, "data");
    req.destroy();
    await vi.waitFor(() => expect(gone!.aborted).toBe(true));
    expect(gone!.signal.aborted).toBe(true);
  });

  it("does not fire for a response that finished", async () => {
    let gone: ClientGone | undefined;
    const listener = vi.fn();
    let closed: Promise<unknown> | undefined;
    const { port } = await serve((res) => {
      gone = new ClientGone(res);
      gone.addEventListener("abort", listener);
      closed = once(res, "close");
      res.end("done");
    });
    const req = request({ host: "127.0.0.1", port, method: "POST", agent: false });
    req.end("{}");
    const [res] = await once(req, "response");
    res.resume();
    await once(res, "end");
    await closed;
    expect(gone!.aborted).toBe(false);
    expect(listener).not.toHaveBeenCalled();
    expect(gone!.signal.aborted).toBe(false);
  });
});
