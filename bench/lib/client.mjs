// The benchmarks' load client: authenticated connections speaking the wire protocol.
import { WebSocket } from "ws";
import { BENCH_TOKEN } from "./server.mjs";

/** Opens an authenticated connection; `onFrame` sees every later frame (parsed). */
export function connect(port, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () =>
      ws.send(
        JSON.stringify({
          type: "req",
          id: "hello",
          method: "connect",
          data: {
            token: BENCH_TOKEN,
            role: "operator",
            client: { name: "bench", version: "1", platform: "linux" },
            protocol: 1,
          },
        }),
      ),
    );
    ws.once("message", (data) => {
      const hello = JSON.parse(String(data));
      if (hello.error !== null) return reject(new Error(hello.error.message));
      ws.on("message", (frame) => onFrame?.(frame));
      resolve(ws);
    });
  });
}
