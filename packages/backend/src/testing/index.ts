/**
 * @packageDocumentation
 * Conformance suites of the OpenClaw Gateway's backend contracts, as vitest suites: run one against
 * your implementation (on a fresh backing per test) to check that it behaves as the gateway expects.
 * Needs vitest (an optional peer dependency of `@openclaw/backend`, used only by this entry point).
 *
 * @example
 * ```ts
 * import { runKeyStoreConformance } from "@openclaw/backend/testing";
 *
 * runKeyStoreConformance({
 *   name: "MyKeyStore",
 *   create: () => ({ open: async ({ limits, now }) => MyKeyStore.open({ limits, now }) }),
 * });
 * ```
 */

export type {
  KeyStoreConformanceOpenOptions,
  KeyStoreConformanceOptions,
  KeyStoreFixture,
} from "../delivery/keyStoreConformance";
export { runKeyStoreConformance } from "../delivery/keyStoreConformance";
export type {
  ResponseStoreConformanceOpenOptions,
  ResponseStoreConformanceOptions,
} from "../responses/responseStoreConformance";
export { runResponseStoreConformance } from "../responses/responseStoreConformance";
export type { BindingStoreConformanceOptions, BindingStoreFixture } from "../state/bindingStoreConformance";
export { runBindingStoreConformance } from "../state/bindingStoreConformance";
export type { DeviceStoreConformanceOptions, DeviceStoreFixture } from "../state/deviceStoreConformance";
export { runDeviceStoreConformance } from "../state/deviceStoreConformance";
export type {
  ConformanceRecord,
  RecordStoreConformanceOptions,
  RecordStoreFixture,
} from "../state/recordStoreConformance";
export { runRecordStoreConformance } from "../state/recordStoreConformance";
