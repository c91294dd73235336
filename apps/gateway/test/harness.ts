/*
 * The gateway's own tests use the shared harness, published as `@openclaw/gateway/testing`
 * (apps/gateway/src/testHarness.ts). Change the harness there.
 */
export * from "../src/testing";
