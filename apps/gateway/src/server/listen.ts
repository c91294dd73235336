import type { Server } from "node:http";

/**
 * Starts an HTTP server listening; rejects with the server's error (a port in use, say).
 *
 * @param server - The server.
 * @param port - The port (0: any free one).
 * @param host - The address to bind.
 * @param backlog - Connections the kernel may queue before they are accepted.
 */
export function listen(server: Server, port: number, host: string, backlog: number): Promise<void> {
  return new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, host, backlog, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
}
