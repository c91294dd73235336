import { join } from "node:path";
import { Router, type RouterSnapshot } from "@openclaw/router";
import { readJsonFile, StateFileError, writeJsonFile } from "./files";

/**
 * Where the router's bindings persist. The gateway loads them once at start and saves the whole
 * snapshot after each `binding.add` / `binding.remove` (undoing the change when the save fails).
 * Check an implementation with `runBindingStoreConformance` from `@openclaw/gateway/testing`.
 */
export interface BindingStore {
  /**
   * The last snapshot saved.
   *
   * @returns It, or `undefined` when none was ever saved.
   * @throws StateFileError when what is stored is not a valid snapshot.
   */
  load(): Promise<RouterSnapshot | undefined>;
  /** Replaces the stored snapshot; a failed save leaves the previous one whole. */
  save(snapshot: RouterSnapshot): Promise<void>;
}

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
