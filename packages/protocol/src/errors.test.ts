import { describe, expect, it } from "vitest";
import {
  ERROR_CODE_INFO,
  ERROR_CODES,
  ErrorCode,
  isProtocolError,
  ProtocolError,
  toProtocolError,
} from "./errors";

describe("ProtocolError", () => {
  it("carries code, message, details and cause, and sends only the first three", () => {
    const cause = new Error("socket reset");
    const error = new ProtocolError("NODE_OFFLINE", "node gone", {
      details: { reason: "disconnected" },
      cause,
    });
    expect(error.name).toBe("ProtocolError");
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(Error);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: "NODE_OFFLINE",
      message: "node gone",
      details: { reason: "disconnected" },
    });
    expect(error.retryable).toBe(true);
  });

  it("rebuilds from the wire, mapping unknown codes to INTERNAL", () => {
    expect(ProtocolError.fromShape({ code: "FORBIDDEN", message: "no" }).code).toBe("FORBIDDEN");
    const unknown = ProtocolError.fromShape({ code: "FUTURE_CODE", message: "?", details: { a: 1 } });
    expect(unknown.code).toBe("INTERNAL");
    expect(unknown.details).toEqual({ a: 1, originalCode: "FUTURE_CODE" });
    expect(ProtocolError.fromShape({ code: "toString", message: "x" }).code).toBe("INTERNAL");
    expect(ProtocolError.fromShape({ code: "TIMEOUT", message: "x", details: [1] }).details).toBeUndefined();
  });

  it("has the closed set of codes the spec names, each with its facts", () => {
    for (const code of [
      "INVALID_FRAME",
      "UNAUTHORIZED",
      "FORBIDDEN",
      "METHOD_NOT_FOUND",
      "INVALID_PARAMS",
      "NOT_FOUND",
      "NODE_OFFLINE",
      "TIMEOUT",
      "CHANNEL_UNAVAILABLE",
      "RATE_LIMITED",
      "PAYLOAD_TOO_LARGE",
      "INTERNAL",
    ]) {
      expect(ERROR_CODES).toContain(code);
    }
    for (const code of ERROR_CODES) {
      expect(ErrorCode[code]).toBe(code);
      expect(ERROR_CODE_INFO[code].httpStatus).toBeGreaterThanOrEqual(400);
    }
    expect(ERROR_CODE_INFO.PAYLOAD_TOO_LARGE.closeCode).toBe(1009);
    expect(ERROR_CODE_INFO.UNAUTHORIZED.closeCode).toBe(1008);
  });
});

describe("toProtocolError", () => {
  it("returns protocol errors unchanged", () => {
    const error = new ProtocolError("TIMEOUT", "slow");
    expect(toProtocolError(error)).toBe(error);
  });

  it("hides internal messages behind INTERNAL but keeps the cause", () => {
    const cause = new Error("ENOENT /secret/path");
    const error = toProtocolError(cause);
    expect(error.code).toBe("INTERNAL");
    expect(error.message).toBe("internal error");
    expect(error.cause).toBe(cause);
    expect(JSON.stringify(error)).not.toContain("secret");
  });

  it("uses the message when a non-internal fallback code is given", () => {
    expect(toProtocolError(new Error("bad input"), "INVALID_PARAMS").message).toBe("bad input");
    expect(toProtocolError("plain string", "INVALID_PARAMS").message).toBe("plain string");
    expect(toProtocolError(undefined, "NOT_FOUND").message).toBe("unknown error");
  });

  it("isProtocolError checks the class and, optionally, the code", () => {
    const error = new ProtocolError("TIMEOUT", "slow");
    expect(isProtocolError(error)).toBe(true);
    expect(isProtocolError(error, "TIMEOUT")).toBe(true);
    expect(isProtocolError(error, "INTERNAL")).toBe(false);
    expect(isProtocolError(new Error("x"))).toBe(false);
  });
});
