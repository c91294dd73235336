import type { Router } from "@openclaw/router";
import type { MethodHandlers } from "../types";

/** What `binding.*` and `route.resolve` need. */
export interface BindingHandlerContext {
  readonly router: Pick<Router, "bind" | "unbind" | "get" | "list" | "getBindings" | "resolve">;
  /** Persists the bindings; a change that cannot be saved is undone. */
  saveBindings(): Promise<void>;
}

/** `binding.add`, `binding.remove`, `binding.list` and `route.resolve`. */
export function bindingHandlers(
  context: BindingHandlerContext,
): Pick<MethodHandlers, "binding.add" | "binding.remove" | "binding.list" | "route.resolve"> {
  const { router } = context;
  return {
    "binding.add": async (params) => {
      const id = router.bind(params);
      try {
        await context.saveBindings();
      } catch (error) {
        router.unbind(id); // not saved: not made
        throw error;
      }
      return { binding: router.get(id)! };
    },

    "binding.remove": async (params) => {
      const binding = router.get(params.id);
      const removed = router.unbind(params.id);
      if (removed) {
        try {
          await context.saveBindings();
        } catch (error) {
          if (binding !== undefined) router.bind(binding); // not saved: still bound
          throw error;
        }
      }
      return { removed };
    },

    "binding.list": (params) => ({
      bindings: params.userId === undefined ? router.list() : router.getBindings(params.userId),
    }),

    "route.resolve": (params) => router.resolve(params.recipient, params.context ?? {}),
  };
}
