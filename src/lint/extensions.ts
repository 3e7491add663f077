/** Readers for the extension values the rules look at (RFC 5280 §4.2), on the DER as written. */
import { KEY_USAGE_BITS } from "../pki/certificate-der.js";
import { children, DerError, decodeOid, expectTag, readElement } from "../pki/der.js";
import { type Extension, findExtension } from "./parse.js";

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  reasonCode: "2.5.29.21",
  deltaCrlIndicator: "2.5.29.27",
  issuingDistributionPoint: "2.5.29.28",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
  anyExtendedKeyUsage: "2.5.29.37.0",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
} as const;

export function basicConstraints(extensions: readonly Extension[]): { ca: boolean; pathLen?: number } | undefined {
  const ext = findExtension(extensions, OID.basicConstraints);
  if (!ext) return undefined;
  const parts = children(expectTag(readElement(ext.value), 0x30, "BasicConstraints").content);
  let i = 0;
  let ca = false;
  if (parts[0]?.tag === 0x01) {
    ca = parts[0].content[0] !== 0;
    i = 1;
  }
  const pathLen =
    parts[i]?.tag === 0x02 ? parts[i]!.content.readUIntBE(0, Math.min(parts[i]!.content.length, 6)) : undefined;
  return { ca, pathLen };
}

export type KeyUsageName = (typeof KEY_USAGE_BITS)[number];

export function keyUsage(extensions: readonly Extension[]): Set<KeyUsageName> | undefined {
  const ext = findExtension(extensions, OID.keyUsage);
  if (!ext) return undefined;
  const bits = expectTag(readElement(ext.value), 0x03, "KeyUsage").content;
  const usages = new Set<KeyUsageName>();
  KEY_USAGE_BITS.forEach((name, bit) => {
    const byte = bits[1 + (bit >> 3)];
    if (byte !== undefined && byte & (0x80 >> (bit & 7))) usages.add(name);
  });
  return usages;
}

export function extKeyUsage(extensions: readonly Extension[]): string[] | undefined {
  const ext = findExtension(extensions, OID.extKeyUsage);
  if (!ext) return undefined;
  return children(expectTag(readElement(ext.value), 0x30, "ExtKeyUsageSyntax").content).map((e) =>
    decodeOid(expectTag(e, 0x06, "KeyPurposeId").content),
  );
}

export interface GeneralName {
  type: "otherName" | "email" | "dns" | "x400" | "directoryName" | "ediParty" | "uri" | "ip" | "registeredId";
  /** The content octets (IA5String text, IP octets, …). */
  value: Buffer;
}

const GENERAL_NAME_TYPES: GeneralName["type"][] = [
  "otherName",
  "email",
  "dns",
  "x400",
  "directoryName",
  "ediParty",
  "uri",
  "ip",
  "registeredId",
];

export function generalNames(value: Buffer): GeneralName[] {
  return children(expectTag(readElement(value), 0x30, "GeneralNames").content).map((name) => {
    if ((name.tag & 0xc0) !== 0x80) throw new DerError("a GeneralName is not context-tagged");
    const type = GENERAL_NAME_TYPES[name.tag & 0x1f];
    if (!type) throw new DerError(`unknown GeneralName tag ${name.tag}`);
    return { type, value: name.content };
  });
}

/** The keyIdentifier [0] of an AuthorityKeyIdentifier, when present. */
export function authorityKeyIdentifier(extensions: readonly Extension[]): Buffer | undefined | null {
  const ext = findExtension(extensions, OID.authorityKeyIdentifier);
  if (!ext) return null;
  const parts = children(expectTag(readElement(ext.value), 0x30, "AuthorityKeyIdentifier").content);
  return parts.find((p) => p.tag === 0x80)?.content;
}

export function subjectKeyIdentifier(extensions: readonly Extension[]): Buffer | undefined {
  const ext = findExtension(extensions, OID.subjectKeyIdentifier);
  return ext ? expectTag(readElement(ext.value), 0x04, "SubjectKeyIdentifier").content : undefined;
}

/** The accessLocation URIs of an AIA, or the fullName URIs of CRL distribution points. */
export function uris(value: Buffer): string[] {
  const found: string[] = [];
  const walk = (content: Buffer) => {
    for (const element of children(content)) {
      if (element.tag === 0x86) found.push(element.content.toString("latin1"));
      else if (element.tag & 0x20) walk(element.content);
    }
  };
  walk(readElement(value).content);
  return found;
}
