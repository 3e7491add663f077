import { describe, expect, it } from "vitest";
import { ProfileSchema } from "../../src/config/schema.js";
import { issuingScope } from "../../src/config/issuing-scope.js";

const profile = (p: Record<string, unknown>) =>
  ProfileSchema.parse({ validityDays: 1, maxValidityDays: 1, keyUsage: ["digitalSignature"], ...p });

describe("an intermediate's policies and EKUs, from the profiles it may issue", () => {
  const profiles = {
    server: profile({ extKeyUsage: ["serverAuth"], policies: ["2.23.140.1.2.1"] }),
    client: profile({ extKeyUsage: ["clientAuth", "serverAuth"] }),
    "ocsp-responder": profile({ internal: true, extKeyUsage: ["ocspSigning"] }),
    "any-eku": profile({ extKeyUsage: ["2.5.29.37.0"] }),
    "code-signing": profile({ issuer: "code-ca", extKeyUsage: ["codeSigning"], policies: ["1.3.6.1.4.1.99999.3"] }),
    mail: profile({ issuer: "intermediate", extKeyUsage: ["emailProtection"], policies: ["1.3.6.1.4.1.99999.4"] }),
  };

  it("takes the profiles naming no issuer and those naming it, never OCSPSigning or anyExtendedKeyUsage", () => {
    expect(issuingScope("intermediate", profiles)).toEqual({
      policies: ["2.23.140.1.2.1", "1.3.6.1.4.1.99999.4"],
      extKeyUsage: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4"],
    });
  });

  it("leaves out profiles naming another CA", () => {
    expect(issuingScope("code-ca", profiles)).toEqual({
      policies: ["2.23.140.1.2.1", "1.3.6.1.4.1.99999.3"],
      extKeyUsage: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3"],
    });
  });

  it("is empty when no profile it may issue has any", () => {
    expect(issuingScope("x", { recipient: profile({}) })).toEqual({ policies: [], extKeyUsage: [] });
  });
});
