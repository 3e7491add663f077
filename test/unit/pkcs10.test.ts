// Keyward decodes CSRs with its own DER reader (issuance hot path). These tests hold it to what
// @peculiar/x509 (an independent ASN.1 implementation) reads from real `openssl req` output.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadCsrError } from "../../src/errors/index.js";
import { parseCsr } from "../../src/issuance/csr.js";
import { pemBlocks } from "../../src/pki/pem.js";
import { decodeCsr } from "../../src/pki/pkcs10.js";
import { openssl, opensslCsr } from "../helpers/keyward.js";

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-pkcs10-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS: Record<string, string[]> = {
  p256: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  p384: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  rsa2048: ["-newkey", "rsa:2048"],
  ed25519: ["-newkey", "ed25519"],
};
const SANS =
  "DNS:a.example.com,DNS:*.b.example.org,IP:192.0.2.7,IP:2001:db8::1,email:ops@example.com,URI:spiffe://example.org/w";

function der(pem: string): Buffer {
  return Buffer.from(pemBlocks(pem, "CERTIFICATE REQUEST")[0]!);
}

/** What @peculiar/x509 reads from the same CSR, in Keyward's vocabulary. */
function reference(pem: string) {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  const san = csr.getExtension("2.5.29.17");
  const names = san ? new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON() : [];
  const type: Record<string, string> = { dns: "dns", ip: "ip", email: "email", url: "uri" };
  return {
    spki: Buffer.from(csr.publicKey.rawData).toString("hex"),
    commonName: csr.subjectName.getField("CN").at(-1),
    sans: names.map((s) => ({ type: type[s.type] ?? s.type, value: s.value })),
  };
}

describe("CSR decoding", () => {
  for (const [keyType, key] of Object.entries(KEYS)) {
    it(`reads a ${keyType} CSR with every SAN kind as @peculiar/x509 does, and verifies its signature`, async () => {
      const { csr } = opensslCsr(dir, `k${n++}`, { key, subj: "/O=Example/CN=First name/CN=Last name", san: SANS });
      const parsed = await parseCsr(csr);
      const expected = reference(csr);
      expect(parsed.keyType).toBe(keyType);
      expect(parsed.spki.toString("hex")).toBe(expected.spki);
      expect(parsed.commonName).toBe("Last name");
      expect(parsed.commonName).toBe(expected.commonName);
      // IPv6 text differs (x509 compresses, we don't); the policy canonicalises both the same way.
      const ipv6 = (s: { type: string; value: string }) =>
        s.value.includes(":") && s.type === "ip" ? { ...s, value: new URL(`http://[${s.value}]`).hostname } : s;
      expect(parsed.sans.map(ipv6)).toEqual(expected.sans.map(ipv6));
      expect(parsed.sans.map((s) => s.type)).toEqual(["dns", "dns", "ip", "ip", "email", "uri"]);
    });
  }

  it("verifies RSASSA-PSS CSR signatures, reads a UTF-8 CN and a CSR without extensions", async () => {
    const keyFile = join(dir, "pss.key");
    const csrFile = join(dir, "pss.csr");
    openssl([
      "req",
      "-new",
      ...KEYS.rsa2048!,
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      csrFile,
      "-utf8",
      "-subj",
      "/CN=Ünïcödé",
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sigopt",
      "rsa_pss_saltlen:32",
    ]);
    const parsed = await parseCsr(readFileSync(csrFile, "utf8"));
    expect(parsed.keyType).toBe("rsa2048");
    expect(parsed.sans).toEqual([]);
    expect(parsed.commonName).toBe("Ünïcödé");
  });

  it("refuses a CSR whose signature does not match, one signed with SHA-1, and malformed DER", async () => {
    const { csr } = opensslCsr(dir, `t${n++}`);
    const bytes = der(csr);
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 5]! ^= 0x01;
    await expect(parseCsr(tampered)).rejects.toThrow(/signature/);
    const info = decodeCsr(bytes).info;
    const cnAt = bytes.indexOf(Buffer.from(`t${n - 1}.example.com`), bytes.indexOf(info));
    const renamed = Buffer.from(bytes);
    renamed[cnAt] = "u".charCodeAt(0);
    await expect(parseCsr(renamed)).rejects.toThrow("the CSR signature does not verify with the CSR's public key");

    const keyFile = join(dir, "sha1.key");
    const csrFile = join(dir, "sha1.csr");
    openssl(["req", "-new", ...KEYS.p256!, "-nodes", "-keyout", keyFile, "-out", csrFile, "-subj", "/CN=x", "-sha1"]);
    await expect(parseCsr(readFileSync(csrFile, "utf8"))).rejects.toThrow(/SHA-1 CSR signatures are not accepted/);

    await expect(parseCsr(Buffer.concat([bytes, Buffer.from([0])]))).rejects.toThrow(/trailing bytes/);
    await expect(parseCsr(bytes.subarray(0, bytes.length - 3))).rejects.toBeInstanceOf(BadCsrError);
    await expect(parseCsr(Buffer.from("30030201ff", "hex"))).rejects.toBeInstanceOf(BadCsrError);
  });
});
