import { createHash } from "node:crypto";
import type { DeviceStore, DeviceStoreChange, PairedDevice } from "@openclaw/backend";
import { type ClientInfo, type Device, type PairingRequest, ProtocolError } from "@openclaw/protocol";
import { generateToken, hashToken } from "./tokens";

interface Pending extends PairingRequest {
  /** The connection of the device waiting for approval. */
  connectionId: string;
  /** Where the request came from (the connection's remote address). */
  source: string;
}

/** Limits of pairing (the config's `security.pairing`). */
export interface PairingOptions {
  /** How long a code stays valid. */
  codeTtlMs: number;
  /**
   * Failed approvals or rejections (unknown codes) per minute, per principal (token level and
   * address), before that principal's further attempts are refused for the rest of the minute.
   */
  maxFailedAttemptsPerMinute: number;
  /** Pending requests held at once, from all sources. */
  maxPending: number;
  /** Pending requests one source address may hold at once. */
  maxPendingPerSource: number;
}

/** Options of a {@link PairingManager}: its limits and its store. */
export interface PairingManagerOptions extends PairingOptions {
  /** Where paired devices persist (a `FileDeviceStore` in the gateway unless `GatewayOptions.deviceStore`). */
  store: DeviceStore;
  /**
   * Called when another instance revoked a device (a store shared in cluster mode reported it): the
   * gateway closes the device's connections here. Not called for {@link PairingManager.revoke}.
   * @defaultValue none
   */
  onRevokedElsewhere?: (nodeId: string) => void;
}

/** Who approves or rejects a code: failures are counted per principal, so one cannot lock out another. */
export type PairingPrincipal = string;

/** Principals whose failures are remembered at once (oldest forgotten first). */
const MAX_TRACKED_PRINCIPALS = 10_000;
/** The window failed attempts are counted in. */
const FAILURE_WINDOW_MS = 60_000;

/**
 * Device pairing and device tokens (SPEC.md section 6). A device connects unauthenticated as a node
 * and calls `pairing.start` with the code it shows its user; an admin approves the code; the device
 * receives a token (stored here only as a SHA-256 hash) and connects with it from then on. Codes
 * expire and are single-use; guessing codes is rate limited.
 */
export class PairingManager {
  readonly #pending = new Map<string, Pending>();
  readonly #devices = new Map<string, PairedDevice>();
  readonly #byTokenHash = new Map<string, string>();
  /** Failed approve/reject attempts by principal, as timestamps in the last minute. */
  readonly #failures = new Map<PairingPrincipal, number[]>();
  readonly #store: DeviceStore;
  readonly #onRevokedElsewhere: ((nodeId: string) => void) | undefined;
  #unwatch: (() => void) | undefined;
  private options: PairingOptions;

  /**
   * @param options - The limits (the config's `security.pairing`) and where paired devices persist.
   */
  constructor(options: PairingManagerOptions) {
    const { store, onRevokedElsewhere, ...limits } = options;
    this.#store = store;
    this.#onRevokedElsewhere = onRevokedElsewhere;
    this.options = limits;
  }

  /**
   * Loads the paired devices from the store, and follows the changes other instances make to it
   * when the store is shared (its `watch`): a device paired elsewhere authenticates here, a device
   * revoked elsewhere is refused here.
   *
   * @throws StateFileError when the store holds no valid list of devices.
   */
  async load(): Promise<void> {
    for (const device of await this.#store.load()) this.#set(device);
    this.#unwatch?.();
    this.#unwatch = this.#store.watch?.((change) => this.#apply(change));
  }

  /** Stops following the store's changes. Idempotent. */
  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /** Applies new limits (hot reload). */
  configure(options: PairingOptions): void {
    this.options = options;
  }

  /**
   * Records a pairing request from an unauthenticated node.
   *
   * A connection holds at most one request: a new one replaces its earlier one.
   *
   * @returns The pending request.
   * @throws `CONFLICT` when the code or node id is already pending or the node id is paired already,
   *   `RATE_LIMITED` when too many are pending from this source or in all.
   */
  start(
    params: {
      code: string;
      publicKey: string;
      nodeId?: string | undefined;
      displayName?: string | undefined;
    },
    client: ClientInfo,
    from: { connectionId: string; source: string },
    now = Date.now(),
  ): PairingRequest {
    this.#sweep(now);
    const { connectionId, source } = from;
    if (params.nodeId !== undefined && this.#devices.has(params.nodeId)) {
      throw new ProtocolError("CONFLICT", `node ${params.nodeId} is paired already`, {
        details: {
          reason: "node_already_paired",
          nextStep: `connect with the device token, or have an admin revoke ${params.nodeId} (openclaw devices revoke ${params.nodeId}) before pairing again`,
        },
      });
    }
    const own = this.dropConnection(connectionId);
    try {
      for (const pending of this.#pending.values()) {
        if (params.nodeId !== undefined && pending.nodeId === params.nodeId) {
          throw new ProtocolError("CONFLICT", `node ${params.nodeId} is already waiting for approval`, {
            details: { reason: "node_pairing_pending", nextStep: "wait for the pending request to end" },
          });
        }
      }
      if (this.#pending.has(params.code)) {
        throw new ProtocolError("CONFLICT", `code ${params.code} is already waiting for approval`, {
          details: { reason: "code_in_use", nextStep: "show a new code" },
        });
      }
      let fromSource = 0;
      for (const pending of this.#pending.values()) if (pending.source === source) fromSource += 1;
      if (fromSource >= this.options.maxPendingPerSource) {
        throw new ProtocolError("RATE_LIMITED", `too many pairing requests are waiting from ${source}`, {
          details: { reason: "too_many_pending_from_source", retryAfterMs: this.#nextExpiry(source, now) },
        });
      }
      if (this.#pending.size >= this.options.maxPending) {
        throw new ProtocolError("RATE_LIMITED", "too many pairing requests are waiting", {
          details: { reason: "too_many_pending", retryAfterMs: this.#nextExpiry(undefined, now) },
        });
      }
    } catch (error) {
      for (const request of own) this.#pending.set(request.code, request); // refused: keep the earlier one
      throw error;
    }
    const nodeId = params.nodeId ?? `node-${generateToken().slice(0, 10)}`;
    const request: Pending = {
      code: params.code,
      nodeId,
      publicKeyFingerprint: createHash("sha256").update(params.publicKey).digest("hex"),
      client,
      requestedAt: now,
      expiresAt: now + this.options.codeTtlMs,
      connectionId,
      source,
    };
    if (params.displayName !== undefined) request.displayName = params.displayName;
    this.#pending.set(params.code, request);
    return publicRequest(request);
  }

  /** Pending, unexpired requests, oldest first. */
  list(now = Date.now()): PairingRequest[] {
    this.#sweep(now);
    return [...this.#pending.values()].map(publicRequest);
  }

  /**
   * Approves a code: issues the device token and stores the device.
   *
   * @param code - The code the device shows.
   * @param principal - Who approves (failures are counted per principal).
   * @returns The request, the device token (to hand to the device once) and the waiting connection.
   * @throws `NOT_FOUND` for an unknown or expired code, `RATE_LIMITED` after too many misses by this
   *   principal, `CONFLICT` when the node was paired meanwhile, `UNAVAILABLE` when the device cannot
   *   be saved (nothing changes: the request stays pending).
   */
  async approve(
    code: string,
    principal: PairingPrincipal,
    now = Date.now(),
  ): Promise<{ request: PairingRequest; deviceToken: string; connectionId: string }> {
    const pending = this.#take(code, principal, now);
    if (this.#devices.has(pending.nodeId)) {
      throw new ProtocolError("CONFLICT", `node ${pending.nodeId} is paired already`, {
        details: { reason: "node_already_paired", nextStep: `revoke ${pending.nodeId} first` },
      });
    }
    const deviceToken = generateToken();
    const device: PairedDevice = {
      nodeId: pending.nodeId,
      publicKeyFingerprint: pending.publicKeyFingerprint,
      tokenHash: hashToken(deviceToken),
      pairedAt: now,
    };
    if (pending.displayName !== undefined) device.displayName = pending.displayName;
    this.#devices.set(device.nodeId, device);
    this.#byTokenHash.set(device.tokenHash, device.nodeId);
    try {
      await this.#save();
    } catch (error) {
      // Not saved, so not paired: the request waits again, and the admin may retry.
      this.#devices.delete(device.nodeId);
      this.#byTokenHash.delete(device.tokenHash);
      if (!this.#pending.has(pending.code)) this.#pending.set(pending.code, pending);
      throw error;
    }
    return { request: publicRequest(pending), deviceToken, connectionId: pending.connectionId };
  }

  /**
   * Rejects a code.
   *
   * @param code - The code the device shows.
   * @param principal - Who rejects (failures are counted per principal).
   * @returns The request and the waiting connection.
   * @throws `NOT_FOUND` or `RATE_LIMITED`, as for {@link PairingManager.approve}.
   */
  reject(
    code: string,
    principal: PairingPrincipal,
    now = Date.now(),
  ): { request: PairingRequest; connectionId: string } {
    const pending = this.#take(code, principal, now);
    return { request: publicRequest(pending), connectionId: pending.connectionId };
  }

  /**
   * Forgets the requests of a connection (it closed, or it starts a new one).
   *
   * @returns The requests forgotten.
   */
  dropConnection(connectionId: string): Pending[] {
    const dropped: Pending[] = [];
    for (const [code, pending] of this.#pending) {
      if (pending.connectionId !== connectionId) continue;
      this.#pending.delete(code);
      dropped.push(pending);
    }
    return dropped;
  }

  /**
   * Finds the device a token belongs to.
   *
   * @returns The device's node id and display name, or `undefined`.
   */
  authenticate(deviceToken: string): { nodeId: string; displayName?: string } | undefined {
    const nodeId = this.#byTokenHash.get(hashToken(deviceToken));
    const device = nodeId === undefined ? undefined : this.#devices.get(nodeId);
    if (device === undefined) return undefined;
    return device.displayName === undefined
      ? { nodeId: device.nodeId }
      : { nodeId: device.nodeId, displayName: device.displayName };
  }

  /** Records that a device connected. */
  touch(nodeId: string, now = Date.now()): void {
    const device = this.#devices.get(nodeId);
    if (device !== undefined) device.lastSeenAt = now;
  }

  /** Paired devices. */
  devices(isOnline: (nodeId: string) => boolean): Device[] {
    return [...this.#devices.values()].map((device) => {
      const out: Device = {
        nodeId: device.nodeId,
        publicKeyFingerprint: device.publicKeyFingerprint,
        pairedAt: device.pairedAt,
        online: isOnline(device.nodeId),
      };
      if (device.displayName !== undefined) out.displayName = device.displayName;
      if (device.lastSeenAt !== undefined) out.lastSeenAt = device.lastSeenAt;
      return out;
    });
  }

  /**
   * Revokes a device's token.
   *
   * @returns Whether a device was revoked.
   */
  async revoke(nodeId: string): Promise<boolean> {
    const device = this.#devices.get(nodeId);
    if (device === undefined) return false;
    this.#devices.delete(nodeId);
    this.#byTokenHash.delete(device.tokenHash);
    try {
      await this.#save();
    } catch (error) {
      // Not saved, so not revoked (it would come back at the next start).
      this.#devices.set(nodeId, device);
      this.#byTokenHash.set(device.tokenHash, nodeId);
      throw error;
    }
    return true;
  }

  /** Holds a device, replacing the one with its node id (and that one's token). */
  #set(device: PairedDevice): void {
    const held = this.#devices.get(device.nodeId);
    if (held !== undefined && held.tokenHash !== device.tokenHash) this.#byTokenHash.delete(held.tokenHash);
    this.#devices.set(device.nodeId, device);
    this.#byTokenHash.set(device.tokenHash, device.nodeId);
  }

  /** Applies what another instance changed in the shared store. */
  #apply(change: DeviceStoreChange): void {
    for (const device of change.put) {
      const held = this.#devices.get(device.nodeId);
      // Another instance's save carries its last view of `lastSeenAt`: keep the later one.
      const lastSeenAt = Math.max(held?.lastSeenAt ?? 0, device.lastSeenAt ?? 0);
      const copy = { ...device };
      if (lastSeenAt > 0) copy.lastSeenAt = lastSeenAt;
      this.#set(copy);
    }
    for (const nodeId of change.removed) {
      const held = this.#devices.get(nodeId);
      if (held === undefined) continue;
      this.#devices.delete(nodeId);
      this.#byTokenHash.delete(held.tokenHash);
      this.#onRevokedElsewhere?.(nodeId);
    }
  }

  #take(code: string, principal: PairingPrincipal, now: number): Pending {
    this.#sweep(now);
    const failures = this.#failures.get(principal) ?? [];
    while (failures.length > 0 && failures[0]! <= now - FAILURE_WINDOW_MS) failures.shift();
    if (failures.length === 0) this.#failures.delete(principal);
    if (failures.length >= this.options.maxFailedAttemptsPerMinute) {
      throw new ProtocolError("RATE_LIMITED", "too many wrong pairing codes; wait a minute", {
        details: {
          reason: "too_many_failed_codes",
          retryAfterMs: Math.max(1000, failures[0]! + FAILURE_WINDOW_MS - now),
        },
      });
    }
    const pending = this.#pending.get(code);
    if (pending === undefined) {
      failures.push(now);
      this.#failures.delete(principal); // re-inserted last: the map is ordered by recent failure
      this.#failures.set(principal, failures);
      if (this.#failures.size > MAX_TRACKED_PRINCIPALS) {
        const oldest = this.#failures.keys().next().value;
        if (oldest !== undefined) this.#failures.delete(oldest);
      }
      throw new ProtocolError("NOT_FOUND", `no pairing request with code ${code}`, {
        details: {
          reason: "unknown_or_expired_code",
          nextStep:
            "check the code on the device, or start pairing again there; `openclaw pair list` shows pending codes",
        },
      });
    }
    this.#pending.delete(code);
    return pending;
  }

  /** Milliseconds until the first of these pending requests (of a source, or all) expires. */
  #nextExpiry(source: string | undefined, now: number): number {
    let first = Number.POSITIVE_INFINITY;
    for (const pending of this.#pending.values())
      if (source === undefined || pending.source === source) first = Math.min(first, pending.expiresAt);
    return Number.isFinite(first) ? Math.max(1000, first - now) : 1000;
  }

  #sweep(now: number): void {
    for (const [code, pending] of this.#pending) if (pending.expiresAt <= now) this.#pending.delete(code);
  }

  #save(): Promise<void> {
    return this.#store.save([...this.#devices.values()]);
  }
}

function publicRequest(pending: Pending): PairingRequest {
  const { connectionId: _connection, source: _source, ...request } = pending;
  return request;
}
