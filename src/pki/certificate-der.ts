import { createHash } from "node:crypto";
import {
  booleanTrue,
  children,
  explicit,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  tlv,
  unsignedInteger,
  x509Time,
} from "./der.js";
import { encodeGeneralNames } from "./general-names.js";

/**
 * DER of an X.509 v3 TBSCertificate and the leaf extensions Keyward issues, written directly:
 * issuance is a hot path, and building them through a schema-driven ASN.1 library cost more CPU
 * than the HSM's signature. The unit tests hold every encoder to @peculiar/x509's output.
 */

/** One Extension: `SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`. */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), booleanTrue, octetString(value)) : sequence(oid(id), octetString(value));
}

/** RFC 5280 key usage bits, in named-bit order. */
export const KEY_USAGE_BITS = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;

/** A named-bit BIT STRING in DER: trailing zero bits dropped. */
function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(0x03, Buffer.from([0]));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return tlv(0x03, Buffer.from([7 - (highest & 7)]), bytes);
}

export const leafExtensions = {
  /** basicConstraints cA FALSE (the default, so an empty SEQUENCE), critical. */
  basicConstraints: () => extension("2.5.29.19", true, sequence()),
  keyUsage: (usages: readonly (typeof KEY_USAGE_BITS)[number][]) =>
    extension("2.5.29.15", true, namedBits(usages.map((u) => KEY_USAGE_BITS.indexOf(u)))),
  /** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
  subjectKeyIdentifier: (spki: Buffer) =>
    extension("2.5.29.14", false, octetString(createHash("sha1").update(subjectPublicKey(spki)).digest())),
  extendedKeyUsage: (oids: readonly string[]) => extension("2.5.29.37", false, sequence(...oids.map(oid))),
  certificatePolicies: (policies: readonly string[], cpsUri?: string) =>
    extension("2.5.29.32", false, certificatePolicies(policies, cpsUri)),
  subjectAltName: (names: ReadonlyArray<{ type: string; value: string }>, critical: boolean) =>
    extension("2.5.29.17", critical, encodeGeneralNames(names)),
};

/** id-qt-cps (RFC 5280 §4.2.1.4): a pointer to the Certification Practice Statement. */
const ID_QT_CPS = "1.3.6.1.5.5.7.2.1";

/**
 * The certificatePolicies value: `SEQUENCE OF PolicyInformation { policyIdentifier,
 * policyQualifiers SEQUENCE OF { id-qt-cps, IA5String } OPTIONAL }`, the CPS URI on each policy.
 * CA certificates (built with @peculiar/x509, whose class has no qualifiers) use it too.
 */
export function certificatePolicies(policies: readonly string[], cpsUri?: string): Buffer {
  const qualifiers = cpsUri ? [sequence(sequence(oid(ID_QT_CPS), tlv(0x16, Buffer.from(cpsUri, "ascii"))))] : [];
  return sequence(...policies.map((p) => sequence(oid(p), ...qualifiers)));
}

/** The subjectPublicKey BIT STRING's bits (without the unused-bits octet). */
function subjectPublicKey(spki: Buffer): Buffer {
  const [, key] = children(readElement(spki).content);
  return key!.content.subarray(1);
}

/** A Name with one CN, or the empty Name: PrintableString when the CN allows it, else UTF8String. */
export function commonNameSubject(commonName: string | undefined): Buffer {
  if (commonName === undefined) return sequence();
  const value = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(commonName)
    ? tlv(0x13, Buffer.from(commonName, "latin1"))
    : tlv(0x0c, Buffer.from(commonName, "utf8"));
  return sequence(set(sequence(oid("2.5.4.3"), value)));
}

export interface TbsFields {
  /** Hex, as stored. */
  serial: string;
  signatureAlgorithm: Buffer;
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  subject: Buffer;
  spki: Buffer;
  /** Extension DERs in the order they appear. */
  extensions: readonly Buffer[];
}

export function tbsCertificate(f: TbsFields): Buffer {
  return sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(Buffer.from(f.serial, "hex")),
    f.signatureAlgorithm,
    f.issuer,
    sequence(x509Time(f.notBefore), x509Time(f.notAfter)),
    f.subject,
    f.spki,
    ...(f.extensions.length ? [explicit(3, sequence(...f.extensions))] : []),
  );
}
