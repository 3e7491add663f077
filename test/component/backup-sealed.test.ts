import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

/**
 * kms.protection sealed: a sealed KMS key travels in the backup's snapshot, wrapped by the token's
 * kms-sealing key pair, which the archive cannot carry. The archive must say so like it does for
 * CA keys, so that a restore without the token is not a silent loss of every sealed key.
 */
describe("backup of sealed KMS keys", () => {
  let kw: TestKeyward;
  beforeAll(async () => {
    kw = await startKeyward({ overrides: { kms: { protection: "sealed" } } });
  });
  afterAll(() => kw?.close());

  it("lists the kms-sealing key among the keys the archive does not carry", async () => {
    for (const name of ["sam", "tia"]) {
      const { csr } = opensslCsr(kw.dir, name, { key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] });
      const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "recipient" } });
      expect(res.status).toBe(201);
      const { certificate } = (await res.json()) as { certificate: string };
      await kw.services.escrow.addAgent({ name, certificate }, testActor);
    }
    const key = await kw.services.keys.create({ name: "sealed-records", algorithm: "AES-256" }, testActor);
    expect(key.versions[0]!.keyUri).toMatch(/^keyward-sealed:/);
    await kw.services.keys.rotate(key.id, testActor);

    const { header } = await kw.services.backup.create(
      { custodians: ["sam", "tia"], threshold: 2 },
      testActor,
      join(kw.dir, "sealed.backup"),
    );
    const sealing = header.needsHsmBackup.filter((k) => k.id === "kms-sealing");
    // One entry for the key pair both versions open with, naming it by its token URI.
    expect(sealing).toHaveLength(1);
    expect(sealing[0]!.keyUri).toMatch(/^pkcs11:token=keyward;object=kms-sealing;/);
    expect(header.needsHsmBackup.some((k) => k.keyUri.startsWith("keyward-sealed:"))).toBe(false);
  }, 120_000);
});
