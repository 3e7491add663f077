import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../src/errors/index.js";
import { baseUrlOfHierarchy, type CaRecord, chooseBaseUrl, normalizeBaseUrl } from "../../src/signer/index.js";

describe("the deployment's base URL", () => {
  it("is the stored one whatever the process configured; a deliberate, different setting is warned about", () => {
    const stored = "https://ca.example.com";
    expect(chooseBaseUrl({ deployment: undefined, configured: "http://127.0.0.1:8080", explicit: false })).toEqual({
      baseUrl: "http://127.0.0.1:8080",
    });
    expect(chooseBaseUrl({ deployment: stored, configured: stored, explicit: true })).toEqual({ baseUrl: stored });
    // A shell that derives its URL from the default listen address: the stored one, quietly.
    expect(chooseBaseUrl({ deployment: stored, configured: "http://127.0.0.1:8080", explicit: false })).toEqual({
      baseUrl: stored,
    });
    const chosen = chooseBaseUrl({ deployment: stored, configured: "https://other.example", explicit: true });
    expect(chosen.baseUrl).toBe(stored);
    expect(chosen.warning).toContain("https://other.example");
    expect(chosen.warning).toContain(stored);
    expect(chosen.warning).toContain("keyward ca set-base-url");
  });

  it("is an absolute http(s) URL without query, fragment, credentials or trailing slash", () => {
    expect(normalizeBaseUrl("https://pki.example.com/")).toBe("https://pki.example.com");
    expect(normalizeBaseUrl("https://pki.example.com/keyward//")).toBe("https://pki.example.com/keyward");
    for (const bad of ["pki.example.com", "ftp://pki.example.com", "https://pki.example.com/?a=1", "https://u:p@x.com"])
      expect(() => normalizeBaseUrl(bad)).toThrow(BadRequestError);
  });

  it("is read from an intermediate's CRL distribution point for a database from before it was stored", async () => {
    const crypto = webcrypto as unknown as Crypto;
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned(
      {
        name: "CN=Intermediate",
        keys,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        extensions: [new x509.CRLDistributionPointsExtension(["https://old.example.com/pki/crl/root.crl"])],
      },
      crypto,
    );
    const record = (parentId: string | null) =>
      ({ id: "intermediate", parentId, certificate: Buffer.from(certificate.rawData) }) as CaRecord;
    expect(baseUrlOfHierarchy([record("root")])).toBe("https://old.example.com/pki");
    expect(baseUrlOfHierarchy([record(null)])).toBeUndefined();
    expect(baseUrlOfHierarchy([record("other-root")])).toBeUndefined();
  });
});
