import { describe, expect, it } from "vitest";
import {
  connectionCapacity,
  countOpenDescriptors,
  FALLBACK_MAX_CONNECTIONS,
  readDescriptorLimit,
} from "./descriptorLimit";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

describe("readDescriptorLimit", () => {
  it("reads the soft limit on open files", () => {
    expect(readDescriptorLimit(LIMITS)).toBe(20_000);
    expect(
      readDescriptorLimit(LIMITS.replace("20000                20000", "256                  4096")),
    ).toBe(256);
  });

  it("is undefined for an unlimited, missing or garbled limit", () => {
    expect(
      readDescriptorLimit(LIMITS.replace("20000                20000", "unlimited unlimited")),
    ).toBeUndefined();
    expect(readDescriptorLimit("Limit Soft Hard Units\n")).toBeUndefined();
    expect(readDescriptorLimit("Max open files  -1 5 files\n")).toBeUndefined();
  });

  it.skipIf(process.platform !== "linux")("reads this process's limit on Linux", () => {
    expect(readDescriptorLimit()).toBeGreaterThan(0);
  });
});

describe("connectionCapacity", () => {
  it("keeps the larger of 64 and 2.5% of the limit in reserve", () => {
    expect(connectionCapacity({ descriptorLimit: 20_000, adminConnections: 16 })).toEqual({
      maxConnections: 19_500,
      adminConnections: 16,
      maxSockets: 19_625,
      descriptorLimit: 20_000,
      reserve: 500,
      source: "descriptor_limit",
    });
    expect(connectionCapacity({ descriptorLimit: 256, adminConnections: 16 })).toMatchObject({
      maxConnections: 192,
      adminConnections: 8,
      maxSockets: 208,
      reserve: 64,
    });
  });

  it("takes a lower configured cap, and lowers a higher one to what the limit allows", () => {
    expect(
      connectionCapacity({ descriptorLimit: 20_000, configured: 1000, adminConnections: 16 }),
    ).toMatchObject({
      maxConnections: 1000,
      source: "config",
    });
    expect(
      connectionCapacity({ descriptorLimit: 1024, configured: 50_000, adminConnections: 16 }),
    ).toMatchObject({
      maxConnections: 960,
      source: "descriptor_limit",
    });
  });

  it("gives the admins at most an eighth of the reserve, other sockets another, and keeps the rest", () => {
    expect(connectionCapacity({ descriptorLimit: 1024, reserve: 200, adminConnections: 100 })).toMatchObject({
      maxConnections: 824,
      adminConnections: 25,
      // 1024 − 150: three quarters of the reserve stay for the process's own descriptors.
      maxSockets: 874,
    });
    expect(connectionCapacity({ descriptorLimit: 1024, reserve: 200, adminConnections: 3 })).toMatchObject({
      adminConnections: 3,
    });
  });

  it("counts this process's open descriptors on Linux", () => {
    const count = countOpenDescriptors();
    if (process.platform === "linux") expect(count).toBeGreaterThanOrEqual(3);
    else expect(count === undefined || count >= 0).toBe(true);
  });

  it("falls back to the configured cap or 20,000 when the limit is unknown", () => {
    expect(connectionCapacity({ descriptorLimit: undefined, adminConnections: 16 })).toMatchObject({
      maxConnections: FALLBACK_MAX_CONNECTIONS,
      maxSockets: undefined,
      source: "fallback",
    });
    expect(
      connectionCapacity({ descriptorLimit: undefined, configured: 5, adminConnections: 16 }),
    ).toMatchObject({
      maxConnections: 5,
      source: "config",
    });
  });
});
