// Keyward writes leaf certificates' DER itself (issuance hot path). Every field is held here to the
// bytes @peculiar/x509 (an independent implementation) produces for the same certificate.
import { webcrypto } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificatePolicies, PolicyInformation, PolicyQualifierInfo } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { IA5String } from "asn1js";
import { describe, expect, it } from "vitest";
import { EXTENDED_KEY_USAGES, type KeyUsageName } from "../../src/config/schema.js";
import { commonNameSubject, leafExtensions, tbsCertificate } from "../../src/pki/certificate-der.js";
import { children, header, readElement, tlv } from "../../src/pki/der.js";
import { signatureAlgorithmIdentifier } from "../../src/signer/structure.js";

const crypto = webcrypto as unknown as Crypto;
const FLAGS: Record<KeyUsageName, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

interface Case {
  name: string;
  commonName?: string;
  names: Array<{ type: "dns" | "ip" | "email" | "uri"; value: string }>;
  keyUsage: KeyUsageName[];
  eku: string[];
  notAfter: Date;
}

const CASES: Case[] = [
  {
    name: "a server certificate with DNS and IP names",
    commonName: "www.example.com",
    names: [
      { type: "dns", value: "www.example.com" },
      { type: "dns", value: "*.example.org" },
      { type: "ip", value: "192.0.2.1" },
      { type: "ip", value: "2001:db8::17" },
    ],
    keyUsage: ["digitalSignature", "keyEncipherment"],
    eku: [EXTENDED_KEY_USAGES.serverAuth, EXTENDED_KEY_USAGES.clientAuth],
    notAfter: new Date("2027-03-01T00:00:00Z"),
  },
  {
    name: "an empty subject (critical SAN) with email and URI names, valid past 2049",
    names: [
      { type: "email", value: "ops@example.com" },
      { type: "uri", value: "spiffe://example.org/ns/prod/sa/web" },
    ],
    keyUsage: ["digitalSignature"],
    eku: [EXTENDED_KEY_USAGES.clientAuth],
    notAfter: new Date("2051-01-02T03:04:05Z"),
  },
  {
    name: "a UTF-8 CN, no names, every key usage bit up to decipherOnly",
    commonName: "Zürich Ops ✓",
    names: [],
    keyUsage: ["nonRepudiation", "keyAgreement", "cRLSign", "decipherOnly"],
    eku: [],
    notAfter: new Date("2030-12-31T23:59:59Z"),
  },
];

describe("leaf certificate DER", () => {
  for (const c of CASES) {
    it(`matches @peculiar/x509 for ${c.name}`, async () => {
      const issuerKeys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
        "sign",
        "verify",
      ]);
      const leafKeys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
        "sign",
        "verify",
      ]);
      const spki = Buffer.from(await crypto.subtle.exportKey("spki", leafKeys.publicKey));
      const issuerName = new x509.Name("CN=Keyward Test Intermediate, O=Example");
      const issuerExtensions = [
        new x509.AuthorityKeyIdentifierExtension("0102030405060708090a0b0c0d0e0f1011121314"),
        new x509.AuthorityInfoAccessExtension({
          ocsp: ["http://ca.example/ocsp"],
          caIssuers: ["http://ca.example/ca/i.crt"],
        }),
      ];
      const notBefore = new Date("2026-11-29T10:00:00Z");
      const serial = "8f0102030405060708090a0b0c0d0e0f";

      const reference: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          c.keyUsage.reduce((f, u) => f | FLAGS[u], 0),
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
      ];
      if (c.eku.length) reference.push(new x509.ExtendedKeyUsageExtension(c.eku, false));
      if (c.names.length) {
        const sans = c.names.map((n) => ({ type: n.type === "uri" ? "url" : n.type, value: n.value }));
        reference.push(new x509.SubjectAlternativeNameExtension(sans as x509.JsonGeneralNames, !c.commonName));
      }
      const certificate = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serial,
          subject: c.commonName ? [{ CN: [c.commonName] }] : [],
          issuer: issuerName,
          notBefore,
          notAfter: c.notAfter,
          publicKey: leafKeys.publicKey,
          signingKey: issuerKeys.privateKey,
          signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
          extensions: [...reference, ...issuerExtensions],
        },
        crypto,
      );
      const expectedTbs = children(readElement(Buffer.from(certificate.rawData)).content)[0]!.raw;

      const ours = [
        leafExtensions.basicConstraints(),
        leafExtensions.keyUsage(c.keyUsage),
        leafExtensions.subjectKeyIdentifier(spki),
      ];
      if (c.eku.length) ours.push(leafExtensions.extendedKeyUsage(c.eku));
      if (c.names.length) ours.push(leafExtensions.subjectAltName(c.names, !c.commonName));
      // Extension by extension first, so a mismatch names its culprit.
      expect(ours.map((e) => e.toString("hex"))).toEqual(reference.map((e) => Buffer.from(e.rawData).toString("hex")));
      const tbs = tbsCertificate({
        serial,
        signatureAlgorithm: signatureAlgorithmIdentifier("p256"),
        issuer: Buffer.from(issuerName.toArrayBuffer()),
        notBefore,
        notAfter: c.notAfter,
        subject: commonNameSubject(c.commonName),
        spki,
        extensions: [...ours, ...issuerExtensions.map((e) => Buffer.from(e.rawData))],
      });
      expect(tbs.toString("hex")).toBe(expectedTbs.toString("hex"));
    });
  }
});

describe("certificatePolicies DER (RFC 5280 §4.2.1.4)", () => {
  it("matches @peculiar/x509 for policy OIDs without qualifiers", () => {
    const policies = ["2.23.140.1.2.1", "1.3.6.1.4.1.44947.1.1.1"];
    const reference = new x509.CertificatePolicyExtension(policies, false);
    expect(leafExtensions.certificatePolicies(policies).toString("hex")).toBe(
      Buffer.from(reference.rawData).toString("hex"),
    );
  });

  it("matches @peculiar/asn1-x509 with an id-qt-cps qualifier on each policy", () => {
    const policies = ["2.23.140.1.2.1", "1.3.6.1.4.1.99999.1"];
    const cps = "https://ca.example.com/cps";
    const qualifier = new IA5String({ value: cps }).toBER();
    const value = new CertificatePolicies(
      policies.map(
        (policyIdentifier) =>
          new PolicyInformation({
            policyIdentifier,
            policyQualifiers: [new PolicyQualifierInfo({ policyQualifierId: "1.3.6.1.5.5.7.2.1", qualifier })],
          }),
      ),
    );
    const reference = new x509.Extension("2.5.29.32", false, AsnConvert.serialize(value));
    expect(leafExtensions.certificatePolicies(policies, cps).toString("hex")).toBe(
      Buffer.from(reference.rawData).toString("hex"),
    );
  });
});

describe("tlv", () => {
  it("writes every DER length form, as asn1js (an independent reader) reads it back, and header() the same", async () => {
    const { fromBER, OctetString } = await import("asn1js");
    for (const size of [0, 1, 127, 128, 255, 256, 300, 65_535, 65_536, 16_777_216]) {
      const content = Buffer.alloc(size, 0xa5);
      // Two parts, so the content is assembled as well as framed.
      const der = tlv(0x04, content.subarray(0, size >> 1), content.subarray(size >> 1));
      const parsed = fromBER(der);
      expect(parsed.offset, `size ${size}`).toBe(der.length);
      expect(parsed.result).toBeInstanceOf(OctetString);
      expect(
        Buffer.from((parsed.result as InstanceType<typeof OctetString>).valueBlock.valueHexView).equals(content),
      ).toBe(true);
      const lengthOctets = size < 0x80 ? 1 : 1 + Math.ceil(Math.log2(size + 1) / 8);
      expect(der.length, `size ${size}`).toBe(1 + lengthOctets + size);
      // The streaming CRL writer's header is the same tag and length.
      expect(header(0x04, size).equals(der.subarray(0, der.length - size)), `size ${size}`).toBe(true);
    }
  });
});
