import { join } from "node:path";
import type { BindingStore } from "@openclaw/backend";
import { Router, type RouterSnapshot } from "@openclaw/router";
import { readJsonFile, StateFileError, writeJsonFile } from "./files";

/** The file holding the bindings, in the state dir. */
export const BINDINGS_FILE = "bindings.json";

/** The default {@link BindingStore}: `bindings.json` in the state dir, written atomically (mode 0600). */
export class FileBindingStore implements BindingStore {
  /** The file. */
  readonly file: string;

  /** @param stateDir - The gateway's state dir. */
  constructor(stateDir: string) {
    this.file = join(stateDir, BINDINGS_FILE);
  }

  async load(): Promise<RouterSnapshot | undefined> {
    const snapshot = await readJsonFile<unknown>(this.file, undefined);
    if (snapshot === undefined) return undefined;
    try {
      return Router.fromJSON(snapshot).toJSON();
    } catch (error) {
      throw new StateFileError(this.file, `does not hold valid bindings (${(error as Error).message})`, {
        cause: error,
      });
    }
  }

  save(snapshot: RouterSnapshot): Promise<void> {
    return writeJsonFile(this.file, snapshot);
  }
}
