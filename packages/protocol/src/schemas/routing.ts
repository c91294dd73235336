import * as v from "valibot";
import { AddressSchema, ChannelNameSchema, IdSchema, TimestampSchema } from "./common";

/**
 * Binding levels, highest precedence first: a peer binding (this user on this channel),
 * a guild/team binding (organisation default), an account binding (the user's preferred channel),
 * a channel default (platform fallback), the system default (global fallback).
 */
export const ROUTE_LEVELS = ["peer", "guild", "account", "channel", "system"] as const;

/** A binding level. */
export const RouteLevelSchema = v.picklist(ROUTE_LEVELS);

/** Facts about where a message comes from, used to pick peer, guild and channel bindings. */
export const RoutingContextSchema = v.object({
  /** The channel the conversation is on. */
  channel: v.optional(ChannelNameSchema),
  /** The peer on that channel. */
  peerId: v.optional(AddressSchema),
  /** The guild, team or workspace. */
  guildId: v.optional(IdSchema),
  /** The bot account, when a channel runs several. */
  accountId: v.optional(IdSchema),
});

/** What a binding matches on; which keys are required depends on the level. */
export const BindingMatchSchema = v.object({
  userId: v.optional(AddressSchema),
  channel: v.optional(ChannelNameSchema),
  peerId: v.optional(AddressSchema),
  guildId: v.optional(IdSchema),
  accountId: v.optional(IdSchema),
});

/** Where a binding sends messages. Without `address`, the recipient is used as the address. */
export const BindingTargetSchema = v.object({
  channel: ChannelNameSchema,
  address: v.optional(AddressSchema),
});

const REQUIRED_MATCH: Record<
  (typeof ROUTE_LEVELS)[number],
  ReadonlyArray<keyof v.InferOutput<typeof BindingMatchSchema>>
> = {
  peer: ["userId", "channel"],
  guild: ["guildId"],
  account: ["userId"],
  channel: ["channel"],
  system: [],
};

/** A binding as added by `binding.add`. */
export const BindingInputSchema = v.pipe(
  v.object({
    /** Chosen by the caller, or generated. */
    id: v.optional(IdSchema),
    level: RouteLevelSchema,
    match: v.optional(BindingMatchSchema, {}),
    target: BindingTargetSchema,
    /** Higher wins among bindings of the same level and key. */
    priority: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1_000_000), v.maxValue(1_000_000))),
    description: v.optional(v.pipe(v.string(), v.maxLength(500))),
  }),
  v.check(
    (b) => REQUIRED_MATCH[b.level].every((key) => b.match[key] !== undefined),
    "match lacks a key this level requires (peer: userId+channel, guild: guildId, account: userId, channel: channel)",
  ),
);

/** A stored binding. */
export const BindingSchema = v.object({
  id: IdSchema,
  level: RouteLevelSchema,
  match: BindingMatchSchema,
  target: BindingTargetSchema,
  priority: v.number(),
  description: v.optional(v.string()),
  createdAt: TimestampSchema,
});

/** The answer to "where does a message to this recipient go, and why". */
export const ChannelRouteSchema = v.object({
  channel: ChannelNameSchema,
  address: AddressSchema,
  level: RouteLevelSchema,
  /** The binding that matched. */
  bindingId: IdSchema,
  /** A sentence explaining the choice. */
  reason: v.string(),
});

/** `binding.add` result. */
export const BindingAddResultSchema = v.object({ binding: BindingSchema });
/** `binding.remove` params. */
export const BindingRemoveParamsSchema = v.object({ id: IdSchema });
/** `binding.remove` result. */
export const BindingRemoveResultSchema = v.object({ removed: v.boolean() });
/** `binding.list` params: all bindings, or those that name a user. */
export const BindingListParamsSchema = v.optional(v.object({ userId: v.optional(AddressSchema) }), {});
/** `binding.list` result. */
export const BindingListResultSchema = v.object({ bindings: v.array(BindingSchema) });
/** `route.resolve` params. */
export const RouteResolveParamsSchema = v.object({
  recipient: AddressSchema,
  context: v.optional(RoutingContextSchema),
});

/** A binding level. */
export type RouteLevel = v.InferOutput<typeof RouteLevelSchema>;
/** Routing context. */
export type RoutingContext = v.InferOutput<typeof RoutingContextSchema>;
/** A binding as given to `binding.add`. */
export type BindingInput = v.InferInput<typeof BindingInputSchema>;
/** A stored binding. */
export type Binding = v.InferOutput<typeof BindingSchema>;
/** A resolved route. */
export type ChannelRoute = v.InferOutput<typeof ChannelRouteSchema>;
