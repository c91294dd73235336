import { type ConfigManager, redact } from "@openclaw/config";
import { ProtocolError } from "@openclaw/protocol";
import type { MethodHandlers } from "../types";

/** What `config.*` needs. */
export interface ConfigHandlerContext {
  readonly config: Pick<ConfigManager, "get" | "hash" | "source" | "loadedAt" | "validate" | "apply">;
}

/** `config.get` (redacted), `config.validate` and `config.apply`. */
export function configHandlers(
  context: ConfigHandlerContext,
): Pick<MethodHandlers, "config.get" | "config.validate" | "config.apply"> {
  const manager = context.config;
  return {
    "config.get": (params) => {
      let config: unknown = redact(manager.get());
      if (params.path !== undefined && params.path !== "") {
        for (const key of params.path.split(".")) {
          if (typeof config !== "object" || config === null || !Object.hasOwn(config, key)) {
            throw new ProtocolError("NOT_FOUND", `no config at ${params.path}`, {
              details: { reason: "unknown_path" },
            });
          }
          config = (config as Record<string, unknown>)[key];
        }
      }
      return { config, hash: manager.hash, source: manager.source, loadedAt: manager.loadedAt };
    },

    "config.validate": (params) => {
      const result = manager.validate(params.config);
      return result.valid ? { valid: true, issues: [] } : { valid: false, issues: result.issues };
    },

    "config.apply": async (params) => {
      const options =
        params.baseHash === undefined
          ? { mode: params.mode }
          : { mode: params.mode, baseHash: params.baseHash };
      const result = await manager.apply(params.config, options);
      return { hash: result.hash, applied: result.applied, restartRequired: result.restartRequired };
    },
  };
}
