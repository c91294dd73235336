import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkBotFrameworkServiceUrl,
  constantTimeEqual,
  verifyBotFrameworkJwt,
  verifyDiscordSignature,
  verifyHmacSha256Hex,
  verifySlackSignature,
  verifyTelegramSecretToken,
  verifyWhatsAppSignature,
} from "./signatures";
import { FakePlatform } from "./testing/FakePlatform";

const hmac = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest("hex");

describe("constantTimeEqual", () => {
  it("compares values of any length", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2]), "\u0001\u0002")).toBe(true);
  });
});

describe("verifyHmacSha256Hex", () => {
  it("accepts the right signature in either case, and names what is wrong otherwise", () => {
    const signature = hmac("s3cret", "payload");
    expect(verifyHmacSha256Hex({ secret: "s3cret", payload: "payload", signature })).toEqual({ ok: true });
    expect(
      verifyHmacSha256Hex({ secret: "s3cret", payload: "payload", signature: signature.toUpperCase() }),
    ).toEqual({ ok: true });
    expect(verifyHmacSha256Hex({ secret: "s3cret", payload: "payload!", signature })).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(verifyHmacSha256Hex({ secret: "s3cret", payload: "payload", signature: undefined })).toEqual({
      ok: false,
      reason: "missing_signature",
    });
    expect(verifyHmacSha256Hex({ secret: "s3cret", payload: "payload", signature: "zz" })).toEqual({
      ok: false,
      reason: "malformed_signature",
    });
  });
});

describe("verifySlackSignature", () => {
  const secret = "8f742231b10e8888abcd99yyyzzz85a5";
  const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&text=hi";
  const now = 1_764_000_000_000;
  const ts = String(now / 1000);
  const signature = `v0=${hmac(secret, `v0:${ts}:${body}`)}`;

  it("accepts a fresh, correctly signed request", () => {
    expect(verifySlackSignature({ signingSecret: secret, body, timestamp: ts, signature, now })).toEqual({
      ok: true,
    });
  });

  it("refuses replays outside five minutes, tampering, and malformed headers", () => {
    expect(
      verifySlackSignature({ signingSecret: secret, body, timestamp: ts, signature, now: now + 301_000 }),
    ).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(
      verifySlackSignature({ signingSecret: secret, body: `${body}&admin=1`, timestamp: ts, signature, now }),
    ).toEqual({ ok: false, reason: "bad_signature" });
    expect(
      verifySlackSignature({
        signingSecret: secret,
        body,
        timestamp: ts,
        signature: signature.slice(3),
        now,
      }),
    ).toEqual({ ok: false, reason: "malformed_signature" });
    expect(
      verifySlackSignature({ signingSecret: secret, body, timestamp: "yesterday", signature, now }),
    ).toEqual({ ok: false, reason: "missing_timestamp" });
    expect(
      verifySlackSignature({ signingSecret: secret, body, timestamp: ts, signature: undefined, now }),
    ).toEqual({ ok: false, reason: "missing_signature" });
  });
});

describe("verifyWhatsAppSignature", () => {
  it("checks X-Hub-Signature-256", () => {
    const body = JSON.stringify({ object: "whatsapp_business_account", entry: [] });
    const signature = `sha256=${hmac("app-secret", body)}`;
    expect(verifyWhatsAppSignature({ appSecret: "app-secret", body, signature })).toEqual({ ok: true });
    expect(verifyWhatsAppSignature({ appSecret: "other", body, signature })).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(
      verifyWhatsAppSignature({ appSecret: "app-secret", body, signature: hmac("app-secret", body) }),
    ).toEqual({ ok: false, reason: "malformed_signature" });
  });
});

describe("verifyDiscordSignature", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const rawPublic = (publicKey.export({ format: "der", type: "spki" }) as Buffer)
    .subarray(12)
    .toString("hex");
  const body = JSON.stringify({ type: 1 });
  const timestamp = "1764000000";
  const signature = sign(null, Buffer.from(timestamp + body), privateKey).toString("hex");

  it("verifies Ed25519 over timestamp + body", () => {
    expect(verifyDiscordSignature({ publicKey: rawPublic, body, signature, timestamp })).toEqual({
      ok: true,
    });
  });

  it("refuses a changed body, a changed timestamp, another key, and stale requests when asked", () => {
    expect(
      verifyDiscordSignature({
        publicKey: rawPublic,
        body: JSON.stringify({ type: 2 }),
        signature,
        timestamp,
      }),
    ).toEqual({ ok: false, reason: "bad_signature" });
    expect(
      verifyDiscordSignature({ publicKey: rawPublic, body, signature, timestamp: "1764000001" }),
    ).toEqual({ ok: false, reason: "bad_signature" });
    const other = (generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }) as Buffer)
      .subarray(12)
      .toString("hex");
    expect(verifyDiscordSignature({ publicKey: other, body, signature, timestamp })).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(verifyDiscordSignature({ publicKey: rawPublic, body, signature: "00", timestamp })).toEqual({
      ok: false,
      reason: "malformed_signature",
    });
    expect(
      verifyDiscordSignature({
        publicKey: rawPublic,
        body,
        signature,
        timestamp,
        toleranceSeconds: 300,
        now: 1_764_001_000_000,
      }),
    ).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(verifyDiscordSignature({ publicKey: rawPublic, body, signature, timestamp: undefined })).toEqual({
      ok: false,
      reason: "missing_timestamp",
    });
  });
});

describe("verifyTelegramSecretToken", () => {
  it("compares the secret header in constant time", () => {
    expect(verifyTelegramSecretToken({ expected: "abc_DEF-123", received: "abc_DEF-123" })).toEqual({
      ok: true,
    });
    expect(verifyTelegramSecretToken({ expected: "abc_DEF-123", received: "abc_DEF-124" })).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(verifyTelegramSecretToken({ expected: "abc_DEF-123", received: undefined })).toEqual({
      ok: false,
      reason: "missing_signature",
    });
  });
});

describe("verifyBotFrameworkJwt (JWKS served from a loopback fake)", () => {
  let jwks: FakePlatform;
  let signer: CryptoKey;
  let stranger: CryptoKey;
  const appId = "8e0c6ac5-1111-2222-3333-444455556666";

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256", { extractable: true });
    signer = pair.privateKey;
    stranger = (await generateKeyPair("RS256")).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "bf-key-1", use: "sig", alg: "RS256" };
    jwks = await FakePlatform.start({ "GET /v1/.well-known/keys": () => ({ body: { keys: [jwk] } }) });
  });
  afterAll(async () => {
    await jwks.close();
  });

  const token = (claims: Record<string, unknown>, key = signer, kid = "bf-key-1") =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer("https://api.botframework.com")
      .setAudience(appId)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(key);
  const keys = () => new URL(`${jwks.url}/v1/.well-known/keys`);

  it("accepts a token signed by the JWKS for this app, bound to the activity's service URL", async () => {
    const jwt = await token({ serviceurl: "https://smba.trafficmanager.net/emea/" });
    const result = await verifyBotFrameworkJwt({
      authorization: `Bearer ${jwt}`,
      appId,
      keys: keys(),
      serviceUrl: "https://smba.trafficmanager.net/emea",
    });
    expect(result).toMatchObject({ ok: true, claims: { aud: appId } });
    expect(jwks.requests.some((r) => r.path === "/v1/.well-known/keys")).toBe(true);
  });

  it("refuses other keys, audiences, issuers, service URLs, expired and missing tokens", async () => {
    const check = async (authorization: string | undefined, extra: Record<string, unknown> = {}) =>
      verifyBotFrameworkJwt({
        authorization,
        appId,
        keys: keys(),
        serviceUrl: "https://smba.example/",
        ...extra,
      });
    expect(await check(`Bearer ${await token({}, stranger)}`)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(await check(`Bearer ${await token({})}`, { appId: "another-app" })).toEqual({
      ok: false,
      reason: "wrong_audience",
    });
    expect(await check(`Bearer ${await token({})}`, { issuer: "https://evil.example" })).toEqual({
      ok: false,
      reason: "wrong_issuer",
    });
    expect(await check(`Bearer ${await token({ serviceUrl: "https://attacker.example/" })}`)).toEqual({
      ok: false,
      reason: "wrong_service_url",
    });
    expect(await check(`Bearer ${await token({})}`, { now: Date.now() + 3_600_000 })).toEqual({
      ok: false,
      reason: "expired",
    });
    expect(await check(undefined)).toEqual({ ok: false, reason: "missing_signature" });
    expect(await check("Bearer not.a.jwt")).toMatchObject({ ok: false });
  });

  it("binds the token to the activity's service URL with Bot Connector's lower-case serviceurl claim", async () => {
    const check = async (claims: Record<string, unknown>, serviceUrl?: string) =>
      verifyBotFrameworkJwt({
        authorization: `Bearer ${await token(claims)}`,
        appId,
        keys: keys(),
        ...(serviceUrl === undefined ? {} : { serviceUrl }),
      });
    // Real Bot Connector tokens name the service URL in `serviceurl`.
    expect(
      await check({ serviceurl: "https://smba.example/emea/" }, "https://SMBA.example/emea"),
    ).toMatchObject({
      ok: true,
    });
    expect(await check({ serviceurl: "https://attacker.example/" }, "https://smba.example/emea/")).toEqual({
      ok: false,
      reason: "wrong_service_url",
    });
    // A token that names no service URL cannot vouch for the activity's.
    expect(await check({}, "https://smba.example/emea/")).toEqual({
      ok: false,
      reason: "missing_service_url",
    });
    expect(await check({ serviceurl: "" }, "https://smba.example/emea/")).toEqual({
      ok: false,
      reason: "missing_service_url",
    });
    // The camel-case spelling is still honoured, and nothing is required when no URL is passed.
    expect(await check({ serviceUrl: "https://attacker.example/" }, "https://smba.example/emea/")).toEqual({
      ok: false,
      reason: "wrong_service_url",
    });
    expect(await check({})).toMatchObject({ ok: true });
  });

  it("binds verified claims afterwards with checkBotFrameworkServiceUrl (token first, body second)", async () => {
    const verified = await verifyBotFrameworkJwt({
      authorization: `Bearer ${await token({ serviceurl: "https://smba.example/emea/" })}`,
      appId,
      keys: keys(),
    });
    if (!verified.ok) throw new Error(`not verified: ${verified.reason}`);
    expect(checkBotFrameworkServiceUrl(verified.claims, "https://SMBA.example/emea")).toEqual({ ok: true });
    expect(checkBotFrameworkServiceUrl(verified.claims, "https://attacker.example/")).toEqual({
      ok: false,
      reason: "wrong_service_url",
    });
    expect(checkBotFrameworkServiceUrl(verified.claims, "")).toEqual({
      ok: false,
      reason: "wrong_service_url",
    });
    expect(checkBotFrameworkServiceUrl({}, "https://smba.example/emea/")).toEqual({
      ok: false,
      reason: "missing_service_url",
    });
  });
});
