import {
  type Binding,
  BindingInputSchema,
  type ChannelRoute,
  ROUTE_LEVELS,
  type RouteLevel,
  type RoutingContext,
} from "@openclaw/protocol";
import * as v from "valibot";
import { RouterError } from "./RouterError";

/** What a binding may be given to {@link Router.bind}: the wire `binding.add` params. */
export type BindingSpec = v.InferInput<typeof BindingInputSchema> & { createdAt?: number };

/** Options of a {@link Router}. */
export interface RouterOptions {
  /**
   * Most bindings the router holds; `bind` beyond it throws `CONFLICT`.
   * @defaultValue 1000000
   */
  maxBindings?: number;
  /**
   * Clock for `createdAt` of new bindings.
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * Id generator for bindings added without an id.
   * @defaultValue `crypto.randomUUID`
   */
  generateId?: () => string;
}

/** The defaults of {@link RouterOptions}. */
export const DEFAULT_ROUTER_OPTIONS = Object.freeze({ maxBindings: 1_000_000 });

/** A serialisable copy of a router's bindings, from {@link Router.toJSON}. */
export interface RouterSnapshot {
  version: 1;
  bindings: Binding[];
}

/** Facts about a message a binding can match; the recipient plays `userId`. */
type Facts = { userId: string } & RoutingContext;

const MATCH_KEYS = ["userId", "channel", "peerId", "guildId", "accountId"] as const;
type MatchKey = (typeof MATCH_KEYS)[number];

const LEVEL_LABEL: Record<RouteLevel, string> = {
  peer: "peer binding",
  guild: "guild/team binding",
  account: "account binding",
  channel: "channel default",
  system: "system default",
};

interface Entry {
  readonly binding: Binding;
  /** Number of match keys: more is more specific. */
  readonly specificity: number;
}

/**
 * Decides which channel an outbound message goes to. Five levels, the first that matches wins:
 * peer (this user on this channel), guild/team (organisation default), account (the user's
 * preferred channel), channel default (platform fallback), system default (global fallback).
 *
 * Every binding is indexed by its level and the exact keys and values it matches on, and
 * `resolve` probes only the match shapes present at each level, so it costs the same with ten
 * bindings or a million. Inside one level and key the winner is decided, in order, by: higher `priority`,
 * more match keys (more specific), earlier `createdAt`, smaller `id`.
 *
 * The router is pure: no I/O, no timers; persist it with {@link Router.toJSON}.
 *
 * @example
 * ```ts
 * const router = new Router();
 * router.bind({ level: "system", target: { channel: "telegram", address: "ops-chat" } });
 * router.bind({ level: "account", match: { userId: "alice" }, target: { channel: "signal", address: "+4915112345678" } });
 * router.resolve("alice").channel; // "signal"
 * router.resolve("bob").channel;   // "telegram" (system default)
 * ```
 */
export class Router {
  readonly #options: Required<RouterOptions>;
  readonly #byId = new Map<string, Entry>();
  /**
   * level → match shape (bit mask of the match keys a binding has) → match values → bindings with
   * exactly that match, in tie-break order. Resolving probes only the shapes present at a level.
   */
  readonly #index: Record<RouteLevel, Map<number, Map<string, Entry[]>>> = {
    peer: new Map(),
    guild: new Map(),
    account: new Map(),
    channel: new Map(),
    system: new Map(),
  };
  /** userId → ids of bindings whose match names that user. */
  readonly #byUser = new Map<string, Set<string>>();

  /**
   * @param options - Limits, clock and id generator.
   */
  constructor(options: RouterOptions = {}) {
    this.#options = {
      maxBindings: options.maxBindings ?? DEFAULT_ROUTER_OPTIONS.maxBindings,
      now: options.now ?? Date.now,
      generateId: options.generateId ?? (() => globalThis.crypto.randomUUID()),
    };
  }

  /** Number of bindings held. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Adds a binding.
   *
   * @param spec - The binding; `id` and `createdAt` are generated when omitted.
   * @returns The binding's id.
   * @throws {@link RouterError} `INVALID_PARAMS` when the binding does not validate (for example a
   * peer binding without `userId`), `CONFLICT` when the id is taken or `maxBindings` is reached.
   */
  bind(spec: BindingSpec): string {
    const parsed = v.safeParse(BindingInputSchema, spec);
    if (!parsed.success) {
      const issues = parsed.issues.map((issue) => ({
        path: v.getDotPath(issue) ?? "",
        message: issue.message,
      }));
      throw new RouterError(
        "INVALID_PARAMS",
        `invalid binding: ${issues[0]?.path ? `${issues[0].path}: ` : ""}${issues[0]?.message}`,
        {
          details: { reason: "invalid_binding", issues },
        },
      );
    }
    const input = parsed.output;
    const createdAt = spec.createdAt;
    if (createdAt !== undefined && !(Number.isSafeInteger(createdAt) && createdAt >= 0)) {
      throw new RouterError("INVALID_PARAMS", "invalid binding: createdAt must be a non-negative integer", {
        details: {
          reason: "invalid_binding",
          issues: [{ path: "createdAt", message: "must be a non-negative integer" }],
        },
      });
    }
    const id = input.id ?? this.#options.generateId();
    if (this.#byId.has(id)) {
      throw new RouterError("CONFLICT", `a binding with id "${id}" exists`, {
        details: { reason: "duplicate_id", id },
      });
    }
    if (this.#byId.size >= this.#options.maxBindings) {
      throw new RouterError(
        "CONFLICT",
        `the router holds its maximum of ${this.#options.maxBindings} bindings`,
        {
          details: { reason: "limit_reached", maxBindings: this.#options.maxBindings },
        },
      );
    }
    const binding: Binding = {
      id,
      level: input.level,
      match: compact(input.match),
      target: compact(input.target),
      priority: input.priority ?? 0,
      createdAt: createdAt ?? this.#options.now(),
    };
    if (input.description !== undefined) binding.description = input.description;
    this.#insert({ binding, specificity: Object.keys(binding.match).length });
    return id;
  }

  /**
   * Removes a binding.
   *
   * @param id - The binding's id.
   * @returns `true` when a binding was removed.
   */
  unbind(id: string): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined) return false;
    this.#byId.delete(id);
    const { binding } = entry;
    const shapes = this.#index[binding.level];
    const shape = shapeOf(binding.match);
    const buckets = shapes.get(shape);
    const key = valuesKey(shape, binding.match)!;
    const bucket = buckets?.get(key);
    if (buckets !== undefined && bucket !== undefined) {
      const at = bucket.indexOf(entry);
      if (at !== -1) bucket.splice(at, 1);
      if (bucket.length === 0) buckets.delete(key);
      if (buckets.size === 0) shapes.delete(shape);
    }
    const userId = binding.match.userId;
    if (userId !== undefined) {
      const ids = this.#byUser.get(userId);
      ids?.delete(id);
      if (ids?.size === 0) this.#byUser.delete(userId);
    }
    return true;
  }

  /**
   * Looks up one binding.
   *
   * @param id - The binding's id.
   * @returns The binding, or `undefined`.
   */
  get(id: string): Binding | undefined {
    const entry = this.#byId.get(id);
    return entry === undefined ? undefined : clone(entry.binding);
  }

  /**
   * Decides where a message to `recipient` goes.
   *
   * @param recipient - A user id known to the bindings, or a platform address.
   * @param context - Where the message comes from: channel, peer, guild, account.
   * @returns The channel, the address on it, and the binding and level that decided it.
   * @throws {@link RouterError} `NO_ROUTE` when nothing matches at any level.
   */
  resolve(recipient: string, context: RoutingContext = {}): ChannelRoute {
    const route = this.tryResolve(recipient, context);
    if (route !== null) return route;
    const where = context.channel === undefined ? "" : ` (from ${context.channel})`;
    throw new RouterError("NO_ROUTE", `no binding routes messages to "${recipient}"${where}`, {
      details: {
        reason: "no_binding",
        recipient,
        nextStep: `add one with \`openclaw bindings add --user ${recipient} --channel <channel>\`, or set a system default binding`,
      },
    });
  }

  /**
   * Like {@link Router.resolve}, but returns `null` instead of throwing when nothing matches.
   *
   * @param recipient - A user id or platform address.
   * @param context - Where the message comes from.
   * @returns The route, or `null`.
   */
  tryResolve(recipient: string, context: RoutingContext = {}): ChannelRoute | null {
    const facts: Facts = { ...context, userId: recipient };
    for (const level of ROUTE_LEVELS) {
      let best: Entry | undefined;
      for (const [shape, buckets] of this.#index[level]) {
        const key = valuesKey(shape, facts);
        if (key === undefined) continue;
        const candidate = buckets.get(key)?.[0];
        if (candidate !== undefined && (best === undefined || compareEntries(candidate, best) < 0))
          best = candidate;
      }
      if (best !== undefined) return toRoute(best.binding, recipient);
    }
    return null;
  }

  /**
   * The bindings that name a user (peer and account bindings, and any other whose match has
   * this `userId`), in precedence order: by level, then as `resolve` would choose.
   *
   * @param userId - The user.
   * @returns Copies of the bindings.
   */
  getBindings(userId: string): Binding[] {
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return [];
    return [...ids]
      .map((id) => this.#byId.get(id)!)
      .sort(
        (a, b) =>
          ROUTE_LEVELS.indexOf(a.binding.level) - ROUTE_LEVELS.indexOf(b.binding.level) ||
          compareEntries(a, b),
      )
      .map((entry) => clone(entry.binding));
  }

  /**
   * Every binding, in precedence order.
   *
   * @returns Copies of the bindings.
   */
  list(): Binding[] {
    return [...this.#byId.values()]
      .sort(
        (a, b) =>
          ROUTE_LEVELS.indexOf(a.binding.level) - ROUTE_LEVELS.indexOf(b.binding.level) ||
          compareEntries(a, b),
      )
      .map((entry) => clone(entry.binding));
  }

  /** Removes every binding. */
  clear(): void {
    this.#byId.clear();
    this.#byUser.clear();
    for (const level of ROUTE_LEVELS) this.#index[level].clear();
  }

  /**
   * A serialisable snapshot of every binding, for persistence.
   *
   * @returns The snapshot; `JSON.stringify` it as is.
   */
  toJSON(): RouterSnapshot {
    return { version: 1, bindings: this.list() };
  }

  /**
   * Rebuilds a router from a snapshot, validating every binding.
   *
   * @param snapshot - What {@link Router.toJSON} returned (possibly after a JSON round trip).
   * @param options - Options of the new router.
   * @returns The router.
   * @throws {@link RouterError} `INVALID_PARAMS` naming the first invalid binding, or `CONFLICT` for duplicate ids.
   */
  static fromJSON(snapshot: unknown, options: RouterOptions = {}): Router {
    const router = new Router(options);
    if (
      typeof snapshot !== "object" ||
      snapshot === null ||
      (snapshot as RouterSnapshot).version !== 1 ||
      !Array.isArray((snapshot as RouterSnapshot).bindings)
    ) {
      throw new RouterError(
        "INVALID_PARAMS",
        "not a router snapshot (expected { version: 1, bindings: [...] })",
        {
          details: { reason: "invalid_snapshot" },
        },
      );
    }
    (snapshot as RouterSnapshot).bindings.forEach((binding, index) => {
      try {
        router.bind(binding as BindingSpec);
      } catch (error) {
        if (error instanceof RouterError) {
          throw new RouterError(error.code, `snapshot binding ${index}: ${error.message}`, {
            details: { ...error.details, index },
            cause: error,
          });
        }
        throw error;
      }
    });
    return router;
  }

  #insert(entry: Entry): void {
    const { binding } = entry;
    this.#byId.set(binding.id, entry);
    const shape = shapeOf(binding.match);
    const shapes = this.#index[binding.level];
    let buckets = shapes.get(shape);
    if (buckets === undefined) {
      buckets = new Map();
      shapes.set(shape, buckets);
    }
    const key = valuesKey(shape, binding.match)!;
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      bucket = [];
      buckets.set(key, bucket);
    }
    // Binary insertion keeps each bucket in tie-break order.
    let low = 0;
    let high = bucket.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareEntries(bucket[mid]!, entry) <= 0) low = mid + 1;
      else high = mid;
    }
    bucket.splice(low, 0, entry);
    const userId = binding.match.userId;
    if (userId !== undefined) {
      let ids = this.#byUser.get(userId);
      if (ids === undefined) {
        ids = new Set();
        this.#byUser.set(userId, ids);
      }
      ids.add(binding.id);
    }
  }
}

/** Tie-break order inside one level and key: priority desc, specificity desc, createdAt asc, id asc. */
function compareEntries(a: Entry, b: Entry): number {
  return (
    b.binding.priority - a.binding.priority ||
    b.specificity - a.specificity ||
    a.binding.createdAt - b.binding.createdAt ||
    (a.binding.id < b.binding.id ? -1 : a.binding.id > b.binding.id ? 1 : 0)
  );
}

/** Bit mask of the match keys a binding (or a set of facts) has. */
function shapeOf(match: Binding["match"]): number {
  let shape = 0;
  for (let bit = 0; bit < MATCH_KEYS.length; bit++)
    if (match[MATCH_KEYS[bit]!] !== undefined) shape |= 1 << bit;
  return shape;
}

/** The values of the keys in `shape`, joined; `undefined` when `source` lacks one of them. */
function valuesKey(
  shape: number,
  source: { readonly [K in MatchKey]?: string | undefined },
): string | undefined {
  let key = "";
  for (let bit = 0; bit < MATCH_KEYS.length; bit++) {
    if ((shape & (1 << bit)) === 0) continue;
    const value = source[MATCH_KEYS[bit]!];
    if (value === undefined) return undefined;
    key += `${value}\u0000`;
  }
  return key;
}

function toRoute(binding: Binding, recipient: string): ChannelRoute {
  const address = binding.target.address ?? recipient;
  const matched = MATCH_KEYS.filter((key) => binding.match[key] !== undefined)
    .map((key) => `${key}=${binding.match[key]}`)
    .join(", ");
  return {
    channel: binding.target.channel,
    address,
    level: binding.level,
    bindingId: binding.id,
    reason: `${LEVEL_LABEL[binding.level]} ${binding.id}${matched === "" ? "" : ` (${matched})`} sends to ${binding.target.channel}:${address}`,
  };
}

function compact<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = item;
  return out as T;
}

function clone(binding: Binding): Binding {
  const copy: Binding = { ...binding, match: { ...binding.match }, target: { ...binding.target } };
  return copy;
}
