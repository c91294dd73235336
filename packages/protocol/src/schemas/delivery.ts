import * as v from "valibot";
import {
  AddressSchema,
  ChannelNameSchema,
  IdSchema,
  LimitSchema,
  MessageContentSchema,
  TimestampSchema,
} from "./common";

/** Where a queued outbound message stands: waiting for (another) attempt, or given up on. */
export const DeliveryStatusSchema = v.picklist(["pending", "dead"]);

/** One outbound message in the delivery queue or the dead-letter list. */
export const DeliverySchema = v.object({
  /** The delivery's id (also the idempotency key handed to the channel). */
  id: IdSchema,
  channel: ChannelNameSchema,
  /** The platform address it goes to; messages to one address are delivered in order. */
  address: AddressSchema,
  content: MessageContentSchema,
  replyTo: v.optional(IdSchema),
  status: DeliveryStatusSchema,
  /** Attempts made so far. */
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  createdAt: TimestampSchema,
  /** When the next attempt is due (pending only). */
  nextAttemptAt: v.optional(TimestampSchema),
  /** Why the last attempt failed. */
  lastError: v.optional(v.object({ code: v.string(), message: v.string(), at: TimestampSchema })),
});

/** `delivery.list` params. */
export const DeliveryListParamsSchema = v.optional(
  v.object({
    channel: v.optional(ChannelNameSchema),
    status: v.optional(DeliveryStatusSchema),
    limit: v.optional(LimitSchema, 100),
  }),
  {},
);

/** `delivery.list` result: oldest first. */
export const DeliveryListResultSchema = v.object({
  deliveries: v.array(DeliverySchema),
  /** How many are pending and dead in all (not only in this page). */
  counts: v.object({ pending: v.number(), dead: v.number() }),
});

/** `delivery.retry` / `delivery.drop` params. */
export const DeliveryIdParamsSchema = v.object({ id: IdSchema });

/** `delivery.retry` result: the delivery, pending again and due now. */
export const DeliveryRetryResultSchema = v.object({ delivery: DeliverySchema });

/** `delivery.drop` result. */
export const DeliveryDropResultSchema = v.object({ dropped: v.boolean() });

/** `delivery.failed` event: a message was given up on and moved to the dead-letter list. */
export const DeliveryFailedEventSchema = v.object({ delivery: DeliverySchema });

/** A queued outbound message. */
export type Delivery = v.InferOutput<typeof DeliverySchema>;
/** `pending` or `dead`. */
export type DeliveryStatus = v.InferOutput<typeof DeliveryStatusSchema>;
