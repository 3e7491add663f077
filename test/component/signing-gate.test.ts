import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock/index.js";
import { LintError } from "../../src/errors/index.js";
import { createIssuance } from "../../src/issuance/index.js";
import { createLinter, type LintRule } from "../../src/lint/index.js";
import { commonNameSubject } from "../../src/pki/certificate-der.js";
import { CertificateAuthority } from "../../src/signer/index.js";
import { SqlCaStore, SqlCertificateStore } from "../../src/storage/index.js";
import { certificateRows, opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

/**
 * The signer is the only way to a CA signature, and every signature passes the lint gate first:
 * a CA key is not reachable through the service-key port, a TBS the CA did not build is never
 * signed, and a lint error stops issuance before anything is recorded.
 */
describe("the signing gate", () => {
  let k: TestKeyward;
  beforeAll(async () => {
    k = await startKeyward();
  });
  afterAll(() => k?.close());

  const refuseEverything: LintRule = {
    name: "test_refuses_everything",
    severity: "error",
    targets: ["certificate", "crl", "ocsp"],
    check: () => [{ rule: "test_refuses_everything", severity: "error", message: "refused for the test" }],
  };
  const gatedCa = () =>
    new CertificateAuthority({
      keys: k.services.caTokens,
      store: new SqlCaStore(k.services.database.db),
      clock: systemClock,
      baseUrl: k.config.baseUrl,
      profiles: k.config.profiles,
      lint: createLinter([refuseEverything]),
    });

  it("never signs with a CA key through the service-key port", async () => {
    const intermediate = await k.services.ca.get("intermediate");
    await expect(
      k.services.ca.serviceKeys.sign(intermediate.keyUri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x")),
    ).rejects.toThrow("never sign with a CA key");
    await expect(
      k.services.ca.serviceKeys.signOcspResponse(intermediate.keyUri, "p256", Buffer.from([0x30, 0x00])),
    ).rejects.toThrow("never sign with a CA key");
  });

  it("signs only a TBS the CA prepared itself, and each only once", async () => {
    // A TBS the default rules pass (16-octet serial; a subject, since there is no SAN).
    const request = {
      serial: "4b1d".padStart(32, "7"),
      subject: commonNameSubject("signing-gate.test"),
      spki: (await k.services.ca.issuerInfo("intermediate")).spki,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: [],
    };
    const prepared = await k.services.ca.prepareCertificate("intermediate", request);
    await expect(k.services.ca.signCertificate({ caId: "intermediate", tbs: prepared.tbs })).rejects.toThrow(
      "takes only what prepareCertificate returned",
    );
    expect((await k.services.ca.signCertificate(prepared)).length).toBeGreaterThan(prepared.tbs.length);
    await expect(k.services.ca.signCertificate(prepared)).rejects.toThrow("takes only what prepareCertificate");
  });

  it("stops issuance at a lint error before the intent is recorded", async () => {
    const ca = gatedCa();
    const certificates = new SqlCertificateStore(k.services.database.db);
    const { issuance } = createIssuance({
      ca,
      store: certificates,
      profiles: k.config.profiles,
      forbiddenNames: [],
      slots: async () => false,
      clock: systemClock,
    });
    const count = () => certificateRows(k.services);
    const before = await count();
    const { csr } = opensslCsr(k.dir, "linted");
    const error = await issuance.issue({ csr, profile: "server", actor: testActor }).catch((e) => e);
    expect(error).toBeInstanceOf(LintError);
    expect(error.message).toContain("test_refuses_everything: refused for the test");
    expect(await count()).toBe(before);
  });

  it("lints a CA certificate before the parent's key signs it, and keeps nothing of it", async () => {
    const error = await gatedCa()
      .createIntermediate({ id: "gated", keyType: "p256", commonName: "Gated", validityDays: 30 }, {}, testActor)
      .catch((e) => e);
    expect(error).toBeInstanceOf(LintError);
    expect((await k.services.ca.list()).map((c) => c.id)).not.toContain("gated");
  });

  it("lints a CRL before the CA key signs it", async () => {
    await expect(gatedCa().signCrl("intermediate", Buffer.from([0x30, 0x00]))).rejects.toBeInstanceOf(LintError);
  });
});
