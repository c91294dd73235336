/**
 * @packageDocumentation
 * Testing kit for the OpenClaw Gateway: the shared test harness (a real gateway on 127.0.0.1:0 with
 * a test channel backed by a loopback fake platform, clients, raw sockets, signed webhooks, pairing)
 * and a loopback fake of an OpenAI-compatible upstream. Needs vitest.
 */

// Conformance suites for store implementations
export type {
  KeyStoreConformanceOpenOptions,
  KeyStoreConformanceOptions,
  KeyStoreFixture,
} from "./delivery/keyStoreConformance";
export { runKeyStoreConformance } from "./delivery/keyStoreConformance";
export type {
  ResponseStoreConformanceOpenOptions,
  ResponseStoreConformanceOptions,
} from "./openai/responseStoreConformance";
export { runResponseStoreConformance } from "./openai/responseStoreConformance";
// A fake OpenAI-compatible upstream
export type { FakeOpenAiUpstreamOptions, RecordedUpstreamRequest } from "./openai/testing";
export { FAKE_UPSTREAM_DEFAULTS, FakeOpenAiUpstream } from "./openai/testing";
export type { BindingStoreConformanceOptions, BindingStoreFixture } from "./state/bindingStoreConformance";
export { runBindingStoreConformance } from "./state/bindingStoreConformance";
export type { DeviceStoreConformanceOptions, DeviceStoreFixture } from "./state/deviceStoreConformance";
export { runDeviceStoreConformance } from "./state/deviceStoreConformance";
export type {
  ConformanceRecord,
  RecordStoreConformanceOptions,
  RecordStoreFixture,
} from "./state/recordStoreConformance";
export { runRecordStoreConformance } from "./state/recordStoreConformance";
// The gateway harness
export type { Harness, StartGatewayOptions } from "./testHarness";
export {
  ADMIN,
  collect,
  DEFAULT_WAIT_MS,
  PLATFORM_TOKEN,
  pairNode,
  RawSocket,
  SIGNING_SECRET,
  startGateway,
  TOKEN,
  until,
} from "./testHarness";
