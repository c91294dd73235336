import type { Binding, Router, RouterSnapshot } from "@openclaw/router";

/**
 * Where the router's bindings persist. The gateway loads them once at start and saves the whole
 * snapshot after each `binding.add` / `binding.remove` (undoing the change when the save fails).
 * Check an implementation with `runBindingStoreConformance` from `@openclaw/backend/testing`.
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
  /**
   * Follows the changes other gateway instances make to a shared store (cluster mode); a store only
   * this process writes leaves it out. `listener` is called with each change after the store's own
   * view has it (and with what a full reload found different, after the store lost its link), never
   * for this store's own saves; the gateway applies them to its router, so a binding added on one
   * instance routes on every instance.
   *
   * @param listener - Receives the bindings added or changed and the ids removed.
   * @returns Stops the calls.
   */
  watch?(listener: (change: BindingStoreChange) => void): () => void;
}

/** Changes other instances made to a shared {@link BindingStore}. */
export interface BindingStoreChange {
  /** Bindings added or changed, whole. */
  put: Binding[];
  /** Ids of bindings removed. */
  removed: string[];
}

/**
 * Applies other instances' binding changes to a router (a changed binding is replaced whole).
 *
 * @param router - The router.
 * @param change - From {@link BindingStore.watch}.
 * @returns The bindings the router refused (invalid, or beyond its `maxBindings`), with the errors.
 */
export function applyBindingChange(
  router: Pick<Router, "bind" | "unbind">,
  change: BindingStoreChange,
): Array<{ binding: Binding; error: unknown }> {
  const refused: Array<{ binding: Binding; error: unknown }> = [];
  for (const id of change.removed) router.unbind(id);
  for (const binding of change.put) {
    router.unbind(binding.id);
    try {
      router.bind(binding);
    } catch (error) {
      refused.push({ binding, error });
    }
  }
  return refused;
}
