/**
 * @packageDocumentation
 * Testing kit for channel plugins: the shared conformance suite, a loopback fake-platform server,
 * and a recording context. Needs vitest.
 */

export type { ChannelConformanceOptions, ConformancePlatform } from "./conformance";
export { runChannelConformance } from "./conformance";
export type { TestContext } from "./context";
export { createTestContext } from "./context";
export type { FakeReply, FakeRoute, RecordedRequest } from "./FakePlatform";
export { FakePlatform, webhookRequest } from "./FakePlatform";
export type { WebhookChannelConfig } from "./webhookChannel";
export { webhookChannel } from "./webhookChannel";
