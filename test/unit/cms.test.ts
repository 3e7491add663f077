import { execFileSync } from "node:child_process";
import { createPrivateKey, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opensslCmsDecrypt, opensslCmsEncrypt } from "../helpers/keyward.js";
import { afterAll, describe, expect, it } from "vitest";
import { pemBlocks } from "../../src/pki/pem.js";
import { openEnvelope, sealToCertificate } from "../../src/pki/cms.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-cms-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function selfSigned(name: string, key: string[], usage: string) {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      ...key,
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `keyUsage=${usage}`,
    ],
    { stdio: "pipe" },
  );
  return { keyFile, certFile, der: pemBlocks(readFileSync(certFile, "utf8"), "CERTIFICATE")[0]! };
}

describe("CMS EnvelopedData sealed in software (escrow shares)", () => {
  const recipients = {
    rsa: selfSigned("rsa", ["-newkey", "rsa:2048"], "keyEncipherment"),
    p256: selfSigned("p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "keyAgreement"),
    p384: selfSigned("p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "keyAgreement"),
  };
  for (const [name, r] of Object.entries(recipients)) {
    it(`seals to ${name}: openssl cms and openEnvelope recover the content; another key cannot`, () => {
      const content = randomBytes(45);
      const sealed = sealToCertificate(r.der, content);
      const file = join(dir, `${name}.cms`);
      writeFileSync(file, sealed);
      const opened = opensslCmsDecrypt(file, r.keyFile, r.certFile);
      expect(opened.equals(content)).toBe(true);
      expect(openEnvelope(sealed, createPrivateKey(readFileSync(r.keyFile)), r.der).equals(content)).toBe(true);
      const other = name === "rsa" ? recipients.p256 : recipients.rsa;
      expect(() => openEnvelope(sealed, createPrivateKey(readFileSync(other.keyFile)), other.der)).toThrow(
        "the CMS is not addressed to this certificate",
      );
    });
  }

  it("opens what openssl cms -encrypt made for an RSA recipient", () => {
    const content = randomBytes(33);
    const input = join(dir, "in.bin");
    const output = join(dir, "openssl.cms");
    writeFileSync(input, content);
    opensslCmsEncrypt(input, output, recipients.rsa.certFile);
    const opened = openEnvelope(
      readFileSync(output),
      createPrivateKey(readFileSync(recipients.rsa.keyFile)),
      recipients.rsa.der,
    );
    expect(opened.equals(content)).toBe(true);
  });
});
