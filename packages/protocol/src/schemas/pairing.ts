import * as v from "valibot";
import { ClientInfoSchema, IdSchema, TimestampSchema } from "./common";

/** A pairing code shown on the device: 4 to 12 digits or upper-case letters. */
export const PairingCodeSchema = v.pipe(v.string(), v.regex(/^[0-9A-Z]{4,12}$/, "must be 4-12 of 0-9, A-Z"));

/** `pairing.start` params: sent by an unauthenticated node. */
export const PairingStartParamsSchema = v.object({
  code: PairingCodeSchema,
  /** The device's public key (base64 or PEM), recorded with the device. */
  publicKey: v.pipe(v.string(), v.minLength(16), v.maxLength(4096)),
  /** The id the device wants to be known by. Generated when omitted. */
  nodeId: v.optional(IdSchema),
  displayName: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
});

/** A pending pairing request, as operators see it. */
export const PairingRequestSchema = v.object({
  code: PairingCodeSchema,
  nodeId: IdSchema,
  displayName: v.optional(v.string()),
  /** SHA-256 of the public key, hex; lets the user compare with the device screen. */
  publicKeyFingerprint: v.string(),
  client: ClientInfoSchema,
  requestedAt: TimestampSchema,
  expiresAt: TimestampSchema,
});

/** `pairing.start` result. */
export const PairingStartResultSchema = v.object({
  status: v.literal("pending"),
  expiresAt: TimestampSchema,
  /** The command an operator runs to approve. */
  nextStep: v.string(),
});

/** `pairing.approve` params. */
export const PairingApproveParamsSchema = v.object({ code: PairingCodeSchema });
/** `pairing.approve` result. */
export const PairingApproveResultSchema = v.object({ nodeId: IdSchema, approvedAt: TimestampSchema });
/** `pairing.reject` params. */
export const PairingRejectParamsSchema = v.object({
  code: PairingCodeSchema,
  reason: v.optional(v.pipe(v.string(), v.maxLength(500))),
});
/** `pairing.reject` result. */
export const PairingRejectResultSchema = v.object({ rejected: v.literal(true) });
/** `pairing.list` result. */
export const PairingListResultSchema = v.object({ requests: v.array(PairingRequestSchema) });

/** A paired device. */
export const DeviceSchema = v.object({
  nodeId: IdSchema,
  displayName: v.optional(v.string()),
  publicKeyFingerprint: v.string(),
  pairedAt: TimestampSchema,
  lastSeenAt: v.optional(TimestampSchema),
  online: v.boolean(),
});

/** `device.list` result. */
export const DeviceListResultSchema = v.object({ devices: v.array(DeviceSchema) });
/** `device.revoke` params. */
export const DeviceRevokeParamsSchema = v.object({ nodeId: IdSchema });
/** `device.revoke` result. */
export const DeviceRevokeResultSchema = v.object({ revoked: v.boolean() });

/** `pairing.requested` event payload. */
export const PairingRequestedEventSchema = PairingRequestSchema;

/**
 * `pairing.approved` event payload. Operators receive it without `deviceToken`; only the
 * pairing device's own connection receives the token, once.
 */
export const PairingApprovedEventSchema = v.object({
  code: PairingCodeSchema,
  nodeId: IdSchema,
  deviceToken: v.optional(v.string()),
});

/** `pairing.rejected` event payload. */
export const PairingRejectedEventSchema = v.object({
  code: PairingCodeSchema,
  nodeId: IdSchema,
  reason: v.optional(v.string()),
});

/** A pending pairing request. */
export type PairingRequest = v.InferOutput<typeof PairingRequestSchema>;
/** A paired device. */
export type Device = v.InferOutput<typeof DeviceSchema>;
