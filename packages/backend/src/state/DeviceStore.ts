/** A paired device as stored: its token only as a SHA-256 hash. */
export interface PairedDevice {
  /** The node id the device connects as. */
  nodeId: string;
  /** The name the device gave when it paired. */
  displayName?: string;
  /** SHA-256 (hex) of the public key the device paired with. */
  publicKeyFingerprint: string;
  /** SHA-256 (hex) of the device token; the token itself is never stored. */
  tokenHash: string;
  /** When the pairing was approved (ms since the epoch). */
  pairedAt: number;
  /** When the device last connected (ms since the epoch), as of the last save. */
  lastSeenAt?: number;
}

/**
 * Where paired devices persist. The gateway loads them once at start and saves the whole list after
 * each approval or revocation (undoing the change when the save fails, so a device is paired exactly
 * when it is stored). Check an implementation with `runDeviceStoreConformance` from
 * `@openclaw/backend/testing`.
 */
export interface DeviceStore {
  /**
   * The devices of the last save.
   *
   * @returns Them, in the order saved; none when nothing was ever saved.
   * @throws StateFileError when what is stored is not a valid list of devices.
   */
  load(): Promise<PairedDevice[]>;
  /**
   * Replaces the stored devices with these; a failed save leaves the previous list whole.
   *
   * @throws A `ProtocolError` `UNAVAILABLE` (`details.reason: "state_write_failed"`) when the list
   *   cannot be saved.
   */
  save(devices: readonly PairedDevice[]): Promise<void>;
  /**
   * Follows the changes other gateway instances make to a shared store (cluster mode); a store only
   * this process writes leaves it out. `listener` is called with each change after the store's own
   * view has it (and with what a full reload found different, after the store lost its link), never
   * for this store's own saves. The `PairingManager` applies them: a device paired elsewhere can
   * connect here, a device revoked elsewhere is refused and disconnected here.
   *
   * @param listener - Receives the devices added or changed and the node ids removed.
   * @returns Stops the calls.
   */
  watch?(listener: (change: DeviceStoreChange) => void): () => void;
}

/** Changes other instances made to a shared {@link DeviceStore}. */
export interface DeviceStoreChange {
  /** Devices paired or changed (a new token, a later `lastSeenAt`), whole. */
  put: PairedDevice[];
  /** Node ids of devices revoked. */
  removed: string[];
}
