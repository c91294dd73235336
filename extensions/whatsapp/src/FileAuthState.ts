import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ChannelError } from "@openclaw/channel-sdk";

/** The parts of the `baileys` module the credential store uses. */
export interface BaileysAuthHelpers {
  initAuthCreds(): unknown;
  BufferJSON: {
    replacer(key: string, value: unknown): unknown;
    reviver(key: string, value: unknown): unknown;
  };
  proto: { Message: { AppStateSyncKeyData: { fromObject(value: unknown): unknown } } };
}

/** Baileys' `AuthenticationState` plus saving and wiping. */
export interface FileAuthState {
  state: {
    creds: Record<string, unknown> & { registered?: boolean };
    keys: {
      get(type: string, ids: string[]): Promise<Record<string, unknown>>;
      set(data: Record<string, Record<string, unknown>>): Promise<void>;
    };
  };
  /** Writes the current credentials. */
  saveCreds(): Promise<void>;
  /** Deletes every stored credential and key (after a logout they are worthless). */
  clear(): Promise<void>;
  /** Resolves once every pending write has finished. */
  flush(): Promise<void>;
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const fileName = (name: string) => name.replace(/\//g, "__").replace(/:/g, "-");

/**
 * WhatsApp Web credentials in a directory, like Baileys' `useMultiFileAuthState` but private and
 * crash-safe: the directory is 0700, every file 0600 and written atomically (temp file + rename),
 * writes to one file are serialised.
 *
 * @param dir - The credential directory (created when missing).
 * @param baileys - The lazily loaded `baileys` module.
 * @returns The auth state to hand to `makeWASocket`.
 */
export async function openFileAuthState(dir: string, baileys: BaileysAuthHelpers): Promise<FileAuthState> {
  try {
    const info = await stat(dir).catch(() => undefined);
    if (info !== undefined && !info.isDirectory())
      throw new ChannelError("INVALID_CONFIG", `authDir ${dir} exists and is not a directory`);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await chmod(dir, DIR_MODE);
  } catch (error) {
    if (error instanceof ChannelError) throw error;
    throw new ChannelError("INVALID_CONFIG", `cannot use authDir ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const chains = new Map<string, Promise<void>>();
  const serialised = (file: string, work: () => Promise<void>): Promise<void> => {
    const next = (chains.get(file) ?? Promise.resolve()).then(work, work);
    chains.set(file, next);
    void next
      .finally(() => {
        if (chains.get(file) === next) chains.delete(file);
      })
      .catch(() => {});
    return next;
  };
  const write = (name: string, value: unknown) =>
    serialised(name, async () => {
      const path = join(dir, fileName(name));
      const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await writeFile(temp, JSON.stringify(value, baileys.BufferJSON.replacer), { mode: FILE_MODE });
      await rename(temp, path);
    });
  const remove = (name: string) => serialised(name, () => rm(join(dir, fileName(name)), { force: true }));
  const read = async (name: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(join(dir, fileName(name)), "utf8"), baileys.BufferJSON.reviver);
    } catch {
      return null;
    }
  };
  const creds = ((await read("creds.json")) ?? baileys.initAuthCreds()) as FileAuthState["state"]["creds"];
  return {
    state: {
      creds,
      keys: {
        async get(type, ids) {
          const out: Record<string, unknown> = {};
          await Promise.all(
            ids.map(async (id) => {
              let value = await read(`${type}-${id}.json`);
              if (type === "app-state-sync-key" && value !== null)
                value = baileys.proto.Message.AppStateSyncKeyData.fromObject(value);
              out[id] = value;
            }),
          );
          return out;
        },
        async set(data) {
          const tasks: Promise<void>[] = [];
          for (const [category, entries] of Object.entries(data))
            for (const [id, value] of Object.entries(entries ?? {}))
              tasks.push(value ? write(`${category}-${id}.json`, value) : remove(`${category}-${id}.json`));
          await Promise.all(tasks);
        },
      },
    },
    saveCreds: () => write("creds.json", creds),
    async flush() {
      await Promise.all([...chains.values()].map((chain) => chain.catch(() => {})));
    },
    async clear() {
      await Promise.all([...chains.values()].map((chain) => chain.catch(() => {})));
      for (const entry of await readdir(dir)) await rm(join(dir, entry), { force: true, recursive: true });
      for (const key of Object.keys(creds)) delete creds[key];
      Object.assign(creds, baileys.initAuthCreds());
    },
  };
}
