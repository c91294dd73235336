import { GatewaySectionSchema } from "@openclaw/config";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { canonicalAddress, clientAddress, requestSource, sourceKey } from "./sources";

describe("sourceKey", () => {
  it("groups IPv6 by /64 and IPv4-mapped IPv6 as IPv4", () => {
    expect(sourceKey("::1")).toBe("0:0:0:0::/64");
    expect(sourceKey("::2")).toBe(sourceKey("::1"));
    expect(sourceKey("2001:db8:1:2::a")).toBe("2001:db8:1:2::/64");
    expect(sourceKey("2001:DB8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(sourceKey("2001:db8:1:3::a")).not.toBe(sourceKey("2001:db8:1:2::a"));
    expect(sourceKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(sourceKey("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(sourceKey("::ffff:7f00:2")).toBe("127.0.0.2");
    expect(sourceKey("1:2:3:4:5:6:1.2.3.4")).toBe("1:2:3:4::/64");
    expect(sourceKey("192.0.2.1")).toBe("192.0.2.1");
    expect(sourceKey("192.0.2.2")).not.toBe(sourceKey("192.0.2.1"));
  });

  it("keeps what is no IP address as its own key", () => {
    expect(sourceKey(undefined)).toBe("");
    expect(sourceKey("not-an-address")).toBe("not-an-address");
    expect(canonicalAddress("[2001:db8::1]")).toBe("2001:db8::1");
  });
});

describe("clientAddress", () => {
  const proxies = ["127.0.0.1", "10.0.0.0/8", "fd00::/8"];

  it("believes forwarding headers only from a trusted peer, taking the right-most untrusted hop", () => {
    const xff = { "x-forwarded-for": "198.51.100.1, 203.0.113.7, 10.1.2.3" };
    expect(clientAddress("127.0.0.1", xff, proxies)).toBe("203.0.113.7");
    expect(clientAddress("::ffff:127.0.0.1", xff, proxies)).toBe("203.0.113.7");
    expect(clientAddress("192.0.2.9", xff, proxies)).toBe("192.0.2.9");
    expect(clientAddress("127.0.0.1", xff, [])).toBe("127.0.0.1");
    expect(clientAddress("fd00::5", { "x-forwarded-for": "[2001:db8::1]:443" }, proxies)).toBe("2001:db8::1");
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": ["203.0.113.1", "203.0.113.2"] }, proxies)).toBe(
      "203.0.113.2",
    );
  });

  it("reads RFC 7239 Forwarded, quoted, with ports, several elements", () => {
    const forwarded = 'for=198.51.100.1;proto=http, For="[2001:db8:cafe::17]:4711";by=10.0.0.1';
    expect(clientAddress("10.0.0.1", { forwarded }, proxies)).toBe("2001:db8:cafe::17");
    expect(clientAddress("10.0.0.1", { forwarded: "for=192.0.2.60:8080" }, proxies)).toBe("192.0.2.60");
  });

  it("stops at a hop it cannot read, and counts a chain of proxies only as the peer", () => {
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "203.0.113.7, unknown" }, proxies)).toBe(
      "127.0.0.1",
    );
    expect(clientAddress("127.0.0.1", { forwarded: "for=_hidden" }, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "10.0.0.2" }, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "" }, proxies)).toBe("127.0.0.1");
  });

  it("believes neither header when both name different clients", () => {
    const headers = { "x-forwarded-for": "203.0.113.7", forwarded: "for=203.0.113.8" };
    expect(clientAddress("127.0.0.1", headers, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", { ...headers, forwarded: "for=203.0.113.7" }, proxies)).toBe(
      "203.0.113.7",
    );
  });

  it("gives the grouped source of a request", () => {
    const request = {
      socket: { remoteAddress: "127.0.0.1" },
      headers: { "x-forwarded-for": "2001:db8:1:2::9" },
    };
    expect(requestSource(request, proxies)).toBe("2001:db8:1:2::/64");
    expect(requestSource({ socket: {}, headers: {} }, proxies)).toBe("");
  });
});

describe("gateway.trustedProxies", () => {
  it("accepts addresses and CIDR ranges only", () => {
    const parse = (entry: string) => v.safeParse(GatewaySectionSchema, { trustedProxies: [entry] }).success;
    for (const entry of ["10.0.0.5", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:10.0.0.0/104"])
      expect(parse(entry)).toBe(true);
    for (const entry of ["nginx", "10.0.0.0/33", "::/129", "10.0.0.0/x", "10.0.0.0/8/8", ""])
      expect(parse(entry)).toBe(false);
    expect(v.parse(GatewaySectionSchema, {}).trustedProxies).toEqual([]);
  });

  it("matches a mapped IPv4 range as the IPv4 range", () => {
    expect(clientAddress("10.9.9.9", { "x-forwarded-for": "203.0.113.7" }, ["::ffff:10.0.0.0/104"])).toBe(
      "203.0.113.7",
    );
  });
});
