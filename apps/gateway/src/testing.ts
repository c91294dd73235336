/**
 * @packageDocumentation
 * Testing kit for the OpenClaw Gateway: the shared test harness (a real gateway on 127.0.0.1:0 with
 * a test channel backed by a loopback fake platform, clients, raw sockets, signed webhooks, pairing)
 * and a loopback fake of an OpenAI-compatible upstream. Needs vitest. The stores' conformance suites
 * are in `@openclaw/backend/testing`.
 */

// A fake OpenAI-compatible upstream
export type { FakeOpenAiUpstreamOptions, RecordedUpstreamRequest } from "./openai/testing";
export { FAKE_UPSTREAM_DEFAULTS, FakeOpenAiUpstream } from "./openai/testing";
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
