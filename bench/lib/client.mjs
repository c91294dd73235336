// The benchmarks' load client: authenticated connections speaking the wire protocol.
import { WebSocket } from "ws";
import { BENCH_ADMIN_TOKEN, BENCH_TOKEN } from "./server.mjs";

const CLIENT = { name: "bench", version: "1", platform: "linux" };

/** Opens a socket and sends `connect` with `params`; resolves the socket once it is accepted. */
function open(port, params, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () =>
      ws.send(
        JSON.stringify({
          type: "req",
          id: "hello",
          method: "connect",
          data: { protocol: 1, client: CLIENT, ...params },
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

/** Opens an authenticated operator connection; `onFrame` sees every later frame (raw). */
export function connect(port, onFrame) {
  return open(port, { token: BENCH_TOKEN, role: "operator" }, onFrame);
}

/** Sends one request on `ws` and resolves its `res` frame (parsed). */
function request(ws, id, method, data) {
  return new Promise((resolve) => {
    const listener = (raw) => {
      const frame = JSON.parse(String(raw));
      if (frame.type !== "res" || frame.id !== id) return;
      ws.off("message", listener);
      resolve(frame);
    };
    ws.on("message", listener);
    ws.send(JSON.stringify({ type: "req", id, method, data }));
  });
}

/**
 * Connects a node that advertises `agent.run` and answers every `req` with a `res` carrying the
 * same data. Against the gateway it pairs first, as a device does: `pairing.start`, an operator
 * approves, the node reconnects with its device token.
 */
export async function connectEchoNode(port, variant, nodeId = "bench-node") {
  let params = { role: "node", nodeId, capabilities: ["agent.run"] };
  if (variant === "gateway") {
    const device = await open(port, { role: "node" });
    const approved = new Promise((resolve) =>
      device.on("message", (raw) => {
        const frame = JSON.parse(String(raw));
        if (frame.type === "event" && frame.event === "pairing.approved") resolve(frame.data.deviceToken);
      }),
    );
    const started = await request(device, "pair", "pairing.start", {
      code: "4242",
      publicKey: "MCowBQYDK2VwAyEAbenchkey12345678901234",
      nodeId,
    });
    if (started.error !== null) throw new Error(started.error.message);
    const operator = await open(port, { token: BENCH_ADMIN_TOKEN, role: "operator" });
    const approval = await request(operator, "approve", "pairing.approve", { code: "4242" });
    if (approval.error !== null) throw new Error(approval.error.message);
    params = { ...params, deviceToken: await approved };
    device.close();
    operator.close();
  }
  const node = await open(port, params);
  node.on("message", (raw) => {
    const frame = JSON.parse(String(raw));
    if (frame.type === "req")
      node.send(JSON.stringify({ type: "res", id: frame.id, data: frame.data, error: null }));
  });
  return node;
}
