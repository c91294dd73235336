import { join } from "node:path";
import type { DeviceStore, PairedDevice } from "@openclaw/backend";
import { readJsonFile, StateFileError, writeJsonFile } from "./files";

/** The file holding the paired devices, in the state dir. */
export const DEVICES_FILE = "devices.json";

/**
 * The default {@link DeviceStore}: `devices.json` (`{"devices": [...]}`) in the state dir, written
 * atomically (mode 0600).
 */
export class FileDeviceStore implements DeviceStore {
  /** The file. */
  readonly file: string;

  /** @param stateDir - The gateway's state dir. */
  constructor(stateDir: string) {
    this.file = join(stateDir, DEVICES_FILE);
  }

  async load(): Promise<PairedDevice[]> {
    const stored = await readJsonFile<{ devices?: unknown } | null>(this.file, { devices: [] });
    if (
      stored === null ||
      typeof stored !== "object" ||
      !Array.isArray(stored.devices) ||
      !stored.devices.every(
        (device: Partial<PairedDevice> | null) =>
          typeof device?.nodeId === "string" && typeof device.tokenHash === "string",
      )
    ) {
      throw new StateFileError(this.file, "does not hold a list of paired devices ({devices: [...]})");
    }
    return stored.devices as PairedDevice[];
  }

  save(devices: readonly PairedDevice[]): Promise<void> {
    return writeJsonFile(this.file, { devices });
  }
}
