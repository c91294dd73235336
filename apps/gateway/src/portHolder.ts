import { readdir, readFile, readlink } from "node:fs/promises";

/** A process listening on a TCP port, as far as `/proc` tells. */
export interface PortHolder {
  pid: number;
  /** Its command line, arguments joined by spaces (empty when unreadable). */
  command: string;
}

/**
 * Finds the process listening on a TCP port, from `/proc/net/tcp` and `/proc/net/tcp6` (the socket's
 * inode) and `/proc/<pid>/fd` (which process holds that socket). Linux only; elsewhere, and for
 * processes of other users whose descriptors cannot be read, the answer is `undefined`.
 *
 * @param port - The port.
 * @param proc - Where procfs is mounted (for tests of other roots).
 * @returns The holder, or `undefined` when it cannot be found.
 */
export async function findPortHolder(port: number, proc = "/proc"): Promise<PortHolder | undefined> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["net/tcp", "net/tcp6"]) {
    const text = await readFile(`${proc}/${table}`, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      // 0A: LISTEN.
      if (local === undefined || fields[3] !== "0A" || !local.endsWith(`:${hexPort}`)) continue;
      const inode = fields[9];
      if (inode !== undefined && inode !== "0") inodes.add(inode);
    }
  }
  if (inodes.size === 0) return undefined;
  const pids = (await readdir(proc).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  for (const pid of pids) {
    const fds = await readdir(`${proc}/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`${proc}/${pid}/fd/${fd}`).catch(() => "");
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode === undefined || !inodes.has(inode)) continue;
      const cmdline = await readFile(`${proc}/${pid}/cmdline`, "utf8").catch(() => "");
      return { pid: Number(pid), command: cmdline.split("\0").filter(Boolean).join(" ") };
    }
  }
  return undefined;
}

/**
 * Says that a port is taken, by whom when that can be found, and how to choose another.
 *
 * @param host - The address the gateway tried to listen on.
 * @param port - The port.
 * @returns One line of advice.
 */
export async function describePortInUse(host: string, port: number): Promise<string> {
  const holder = await findPortHolder(port);
  const who =
    holder === undefined
      ? "another program"
      : `process ${holder.pid}${holder.command === "" ? "" : ` (${holder.command.slice(0, 200)})`}`;
  return `port ${port} on ${host} is already in use by ${who}: stop it, or choose another port with --port <port> (or OPENCLAW_PORT / gateway.port)`;
}
