// ACME payloads are checked at the edge; each refused field gets the problem and detail the
// ACME module gave it before the check moved (RFC 8555 §7.4, §7.6).
import { describe, expect, it } from "vitest";
import { finalizePayload, newOrderPayload, revokeCertPayload } from "../../src/http/routes/acme-payloads.js";

const offered = () => ({ server: "TLS servers", client: "TLS clients" });
const refusal = (check: () => unknown) => {
  try {
    check();
  } catch (error) {
    const { acmeType, status, message } = error as { acmeType: string; status: number; message: string };
    return { acmeType, status, message };
  }
  throw new Error("the payload was accepted");
};
const dns = [{ type: "dns", value: "a.example.com" }];

describe("ACME payloads", () => {
  it("newOrder: identifiers, then each identifier's value, then profile, then replaces", () => {
    for (const payload of [undefined, null, "x", [], {}, { identifiers: [] }, { identifiers: "a" }]) {
      expect(refusal(() => newOrderPayload(payload, offered))).toEqual({
        acmeType: "malformed",
        status: 400,
        message: "newOrder needs a non-empty identifiers array",
      });
    }
    for (const identifiers of [[{ type: "dns" }], ["a"], [null], [{ type: "dns", value: 5 }]]) {
      expect(refusal(() => newOrderPayload({ identifiers }, offered)).message).toBe(
        "each identifier needs a string value",
      );
    }
    expect(refusal(() => newOrderPayload({ identifiers: dns, profile: 5, replaces: 3 }, offered))).toEqual({
      acmeType: "invalidProfile",
      status: 400,
      message: "profile 5 is not offered; profiles are server, client",
    });
    expect(refusal(() => newOrderPayload({ identifiers: dns, replaces: null }, offered))).toEqual({
      acmeType: "malformed",
      status: 400,
      message: "replaces must be an ARI certID string",
    });
    // Unsupported identifier types and unknown profiles are the module's to refuse.
    expect(newOrderPayload({ identifiers: [{ type: "email", value: "a" }], profile: "x" }, offered)).toEqual({
      identifiers: [{ type: "email", value: "a" }],
      profile: "x",
    });
  });

  it("finalize: a base64url DER csr", () => {
    for (const payload of [undefined, {}, { csr: 5 }, { csr: "a+b" }, { csr: "" }]) {
      expect(refusal(() => finalizePayload(payload)).message).toBe("finalize needs a base64url DER csr");
    }
    expect(finalizePayload({ csr: "AAEC" }).csr).toEqual(Buffer.from([0, 1, 2]));
  });

  it("revokeCert: the certificate first, then a reason a subscriber may give (default 0)", () => {
    for (const payload of [undefined, {}, { certificate: 5, reason: 6 }]) {
      expect(refusal(() => revokeCertPayload(payload)).message).toBe(
        "revokeCert needs the certificate as base64url DER",
      );
    }
    for (const [reason, shown] of [
      [6, "6"],
      [null, "null"],
      ["1", '"1"'],
    ] as const) {
      expect(refusal(() => revokeCertPayload({ certificate: "AAEC", reason }))).toEqual({
        acmeType: "badRevocationReason",
        status: 400,
        message: `reason ${shown} is not allowed; use 0, 1, 3, 4, 5 or 9`,
      });
    }
    expect(revokeCertPayload({ certificate: "AAEC" })).toEqual({ certificate: Buffer.from([0, 1, 2]), reason: 0 });
    expect(revokeCertPayload({ certificate: "AAEC", reason: 4 }).reason).toBe(4);
  });
});
