import { describe, expect, it } from "vitest";
import { interpretReceive, parseMessageId, parseRecipient } from "../src/index";

const ACCOUNT = "+15550000000";
const ANA = {
  sourceNumber: "+15550001111",
  sourceUuid: "0b6c5e62-4f6a-4c1e-9d7e-3f1f2a0c9b11",
  sourceName: "Ana",
};
const receive = (envelope: Record<string, unknown>, account: string = ACCOUNT) => ({
  envelope: { ...ANA, timestamp: 1_764_000_000_000, ...envelope },
  account,
});

describe("interpretReceive", () => {
  it("ignores what is not a message from someone else", () => {
    const reasons = [
      interpretReceive({ nope: true }, ACCOUNT),
      interpretReceive(receive({ dataMessage: { message: "hi" } }, "+15559999999"), ACCOUNT),
      interpretReceive(receive({ receiptMessage: { isDelivery: true } }), ACCOUNT),
      interpretReceive(receive({ dataMessage: { message: null, isExpirationUpdate: true } }), ACCOUNT),
      interpretReceive(
        receive({ dataMessage: { message: null, groupInfo: { groupId: "R0lE", type: "UPDATE" } } }),
        ACCOUNT,
      ),
      interpretReceive(receive({ dataMessage: { message: null, remoteDelete: { timestamp: 1 } } }), ACCOUNT),
      interpretReceive(
        receive({ sourceNumber: null, sourceUuid: null, dataMessage: { message: "hi" } }),
        ACCOUNT,
      ),
      interpretReceive(receive({ sourceNumber: ACCOUNT, dataMessage: { message: "hi" } }), ACCOUNT),
    ].map((outcome) => (outcome.kind === "ignored" ? outcome.reason : "emitted"));
    expect(reasons).toEqual([
      expect.stringContaining("not a signal-cli envelope"),
      "for another account (+15559999999)",
      expect.stringContaining("no message"),
      expect.stringContaining("no text and no attachment"),
      "a group update",
      "a deletion",
      "no sender",
      "sent by the account itself",
    ]);
  });

  it("accepts events whose account is named by ACI when the channel names it by number", () => {
    const outcome = interpretReceive(
      receive({ dataMessage: { message: "hi" } }, "5d4c7e10-1a2b-4c3d-8e9f-001122334455"),
      ACCOUNT,
    );
    expect(outcome.kind).toBe("message");
  });

  it("falls back to the number when Signal hides the sender's ACI, and keeps numberless senders", () => {
    const byNumber = interpretReceive(receive({ sourceUuid: null, dataMessage: { message: "a" } }), ACCOUNT);
    expect(byNumber).toMatchObject({
      kind: "message",
      message: { id: "+15550001111:1764000000000", conversationId: "+15550001111" },
      from: { recipient: "+15550001111" },
    });
    const byUuid = interpretReceive(receive({ sourceNumber: null, dataMessage: { message: "b" } }), ACCOUNT);
    expect(byUuid).toMatchObject({
      kind: "message",
      message: { conversationId: ANA.sourceUuid, sender: { id: ANA.sourceUuid, name: "Ana" } },
    });
    expect(byUuid.kind === "message" && byUuid.message.sender.username).toBeUndefined();
  });
});

describe("addresses", () => {
  it("reads recipients and message ids, refusing anything else", () => {
    expect(parseRecipient("+15550001111")).toEqual({ kind: "user", id: "+15550001111" });
    expect(parseRecipient(ANA.sourceUuid)).toEqual({ kind: "user", id: ANA.sourceUuid });
    expect(parseRecipient("group:R0lEPQ==")).toEqual({ kind: "group", groupId: "R0lEPQ==" });
    for (const bad of ["ana", "15550001111", "group:", "group:not base64!", "+1"])
      expect(() => parseRecipient(bad), bad).toThrow(
        expect.objectContaining({ code: "RECIPIENT_NOT_FOUND" }),
      );
    expect(parseMessageId(`${ANA.sourceUuid}:1764000000000`)).toEqual({
      author: ANA.sourceUuid,
      timestamp: 1_764_000_000_000,
    });
    expect(parseMessageId("+15550001111:42")).toEqual({ author: "+15550001111", timestamp: 42 });
    for (const bad of ["42", "ana:42", "+15550001111:", "+15550001111:x", "telegram:42:7"])
      expect(parseMessageId(bad), bad).toBeUndefined();
  });
});
