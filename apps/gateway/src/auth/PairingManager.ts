import { createHash } from "node:crypto";
import { join } from "node:path";
import { type ClientInfo, type Device, type PairingRequest, ProtocolError } from "@openclaw/protocol";
import { readJsonFile, writeJsonFile } from "../state/files";
import { generateToken, hashToken } from "./tokens";

/** A paired device as stored: the token only as a hash. */
interface StoredDevice {
  nodeId: string;
  displayName?: string;
  publicKeyFingerprint: string;
  tokenHash: string;
  pairedAt: number;
  lastSeenAt?: number;
}

interface Pending extends PairingRequest {
  /** The connection of the device waiting for approval. */
  connectionId: string;
}

/** Limits of pairing. */
export interface PairingOptions {
  /** How long a code stays valid. */
  codeTtlMs: number;
  /** Failed approvals or rejections (unknown codes) per minute before further ones are refused. */
  maxFailedAttemptsPerMinute: number;
  /** Pending requests held at once. */
  maxPending: number;
}

/**
 * Device pairing and device tokens (SPEC.md section 6). A device connects unauthenticated as a node
 * and calls `pairing.start` with the code it shows its user; an admin approves the code; the device
 * receives a token (stored here only as a SHA-256 hash) and connects with it from then on. Codes
 * expire and are single-use; guessing codes is rate limited.
 */
export class PairingManager {
  readonly #pending = new Map<string, Pending>();
  readonly #devices = new Map<string, StoredDevice>();
  readonly #byTokenHash = new Map<string, string>();
  readonly #failures: number[] = [];
  readonly #file: string;

  constructor(
    stateDir: string,
    private options: PairingOptions,
  ) {
    this.#file = join(stateDir, "devices.json");
  }

  /** Loads paired devices from the state dir. */
  async load(): Promise<void> {
    const stored = await readJsonFile<{ devices: StoredDevice[] }>(this.#file, { devices: [] });
    for (const device of stored.devices) {
      this.#devices.set(device.nodeId, device);
      this.#byTokenHash.set(device.tokenHash, device.nodeId);
    }
  }

  /** Applies new limits (hot reload). */
  configure(options: PairingOptions): void {
    this.options = options;
  }

  /**
   * Records a pairing request from an unauthenticated node.
   *
   * @returns The pending request.
   * @throws `CONFLICT` when the code or node id is already pending, `RATE_LIMITED` when too many are pending.
   */
  start(
    params: {
      code: string;
      publicKey: string;
      nodeId?: string | undefined;
      displayName?: string | undefined;
    },
    client: ClientInfo,
    connectionId: string,
    now = Date.now(),
  ): PairingRequest {
    this.#sweep(now);
    if (this.#pending.has(params.code)) {
      throw new ProtocolError("CONFLICT", `code ${params.code} is already waiting for approval`, {
        details: { reason: "code_in_use", nextStep: "show a new code" },
      });
    }
    if (this.#pending.size >= this.options.maxPending) {
      throw new ProtocolError("RATE_LIMITED", "too many pairing requests are waiting", {
        details: { reason: "too_many_pending", retryAfterMs: 60_000 },
      });
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
   * @returns The request, the device token (to hand to the device once) and the waiting connection.
   * @throws `NOT_FOUND` for an unknown or expired code, `RATE_LIMITED` after too many misses.
   */
  async approve(
    code: string,
    now = Date.now(),
  ): Promise<{ request: PairingRequest; deviceToken: string; connectionId: string }> {
    const pending = this.#take(code, now);
    const deviceToken = generateToken();
    const previous = this.#devices.get(pending.nodeId);
    if (previous !== undefined) this.#byTokenHash.delete(previous.tokenHash);
    const device: StoredDevice = {
      nodeId: pending.nodeId,
      publicKeyFingerprint: pending.publicKeyFingerprint,
      tokenHash: hashToken(deviceToken),
      pairedAt: now,
    };
    if (pending.displayName !== undefined) device.displayName = pending.displayName;
    this.#devices.set(device.nodeId, device);
    this.#byTokenHash.set(device.tokenHash, device.nodeId);
    await this.#save();
    return { request: publicRequest(pending), deviceToken, connectionId: pending.connectionId };
  }

  /**
   * Rejects a code.
   *
   * @returns The request and the waiting connection.
   * @throws `NOT_FOUND` or `RATE_LIMITED`, as for {@link PairingManager.approve}.
   */
  reject(code: string, now = Date.now()): { request: PairingRequest; connectionId: string } {
    const pending = this.#take(code, now);
    return { request: publicRequest(pending), connectionId: pending.connectionId };
  }

  /** Forgets the requests of a connection that closed. */
  dropConnection(connectionId: string): void {
    for (const [code, pending] of this.#pending)
      if (pending.connectionId === connectionId) this.#pending.delete(code);
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
    await this.#save();
    return true;
  }

  #take(code: string, now: number): Pending {
    this.#sweep(now);
    while (this.#failures.length > 0 && this.#failures[0]! < now - 60_000) this.#failures.shift();
    if (this.#failures.length >= this.options.maxFailedAttemptsPerMinute) {
      throw new ProtocolError("RATE_LIMITED", "too many wrong pairing codes; wait a minute", {
        details: {
          reason: "too_many_failed_codes",
          retryAfterMs: Math.max(1000, this.#failures[0]! + 60_000 - now),
        },
      });
    }
    const pending = this.#pending.get(code);
    if (pending === undefined) {
      this.#failures.push(now);
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

  #sweep(now: number): void {
    for (const [code, pending] of this.#pending) if (pending.expiresAt <= now) this.#pending.delete(code);
  }

  #save(): Promise<void> {
    return writeJsonFile(this.#file, { devices: [...this.#devices.values()] });
  }
}

function publicRequest(pending: Pending): PairingRequest {
  const { connectionId: _connection, ...request } = pending;
  return request;
}
