import type { Server } from "node:http";

/**
 * Starts an HTTP server listening; rejects with the server's error (a port in use, say).
 *
 * @param server - The server.
 * @param port - The port (0: any free one).
 * @param host - The address to bind.
 */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
}
