/**
 * RFC 5280 rules for every certificate Keyward signs (and any `keyward lint` reads): the
 * structure, serial, validity, the signature algorithm, and the extensions' presence, criticality
 * and consistency. Each rule's name carries the section it comes from.
 */
import { readElement, children, decodeOid, expectTag } from "../../pki/der.js";
import {
  authorityKeyIdentifier,
  basicConstraints,
  extKeyUsage,
  generalNames,
  keyUsage,
  OID,
  subjectKeyIdentifier,
} from "../extensions.js";
import type { LintContext, LintRule } from "../index.js";
import { findExtension, type TbsCertificate } from "../parse.js";
import { certificateRule, structureRule } from "./define.js";

export const isCa = (c: TbsCertificate) => basicConstraints(c.extensions)?.ca === true;
export const isSelfIssued = (c: TbsCertificate) => c.issuer.equals(c.subject);
/** A TLS server certificate in the BRs' sense: a leaf whose EKU includes serverAuth. */
export const isTlsServer = (c: TbsCertificate) =>
  !isCa(c) && (extKeyUsage(c.extensions)?.includes(OID.serverAuth) ?? false);

/** The algorithm OID of a DER SubjectPublicKeyInfo. */
function spkiAlgorithm(spki: Buffer): string {
  const [algorithm] = children(expectTag(readElement(spki), 0x30, "SubjectPublicKeyInfo").content);
  return decodeOid(
    expectTag(children(expectTag(algorithm, 0x30, "AlgorithmIdentifier").content)[0], 0x06, "OID").content,
  );
}

/** Signature algorithms each key algorithm makes (RFC 5758, RFC 4055, RFC 8410). */
const SIGNATURES_BY_KEY: Record<string, readonly string[]> = {
  [OID.ecPublicKey]: ["1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"],
  [OID.rsaEncryption]: [
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10",
  ],
  [OID.ed25519]: [OID.ed25519],
  [OID.ed448]: [OID.ed448],
};

/** The SPKI of the key that signs: the signer's, or a self-signed certificate's own. */
function signingSpki(c: TbsCertificate, context: LintContext): Buffer | undefined {
  if (context.issuer) return context.issuer.spki;
  return isSelfIssued(c) ? c.spki.raw : undefined;
}

export function signatureMatchesKey(signatureOid: string, spki: Buffer): string | undefined {
  const keyAlgorithm = spkiAlgorithm(spki);
  const allowed = SIGNATURES_BY_KEY[keyAlgorithm];
  if (!allowed) return `the issuer key's algorithm ${keyAlgorithm} is not one Keyward knows how to check`;
  if (!allowed.includes(signatureOid))
    return `signature algorithm ${signatureOid} is not one a ${keyAlgorithm} issuer key makes (${allowed.join(", ")})`;
  return undefined;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function timeEncoding(date: Date, tag: number, what: string): string | undefined {
  const expected = date.getUTCFullYear() < 2050 ? 0x17 : 0x18;
  return tag === expected
    ? undefined
    : `${what} must be ${expected === 0x17 ? "UTCTime" : "GeneralizedTime"} for ${date.getUTCFullYear()}`;
}

/** Serial numbers: positive, at most 20 octets, minimally encoded (RFC 5280 §4.1.2.2, X.690). */
export function serialProblems(serial: Buffer): string[] {
  const problems: string[] = [];
  if (serial.length === 0) return ["the serial number is empty"];
  if (serial[0]! & 0x80) problems.push("the serial number is negative");
  if (serial.length > 1 && ((serial[0] === 0 && !(serial[1]! & 0x80)) || (serial[0] === 0xff && serial[1]! & 0x80)))
    problems.push("the serial number is not minimally encoded");
  if (serial.every((b) => b === 0)) problems.push("the serial number is zero");
  if (serial.length > 20) problems.push(`the serial number is ${serial.length} octets (at most 20)`);
  return problems;
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 5280 §4.2.1.6 / RFC 1034 preferred name syntax; a wildcard only as the whole leftmost label. */
export function dnsNameProblem(name: string): string | undefined {
  if (!name.length) return "an empty dNSName";
  if (name.length > 253) return `dNSName "${name.slice(0, 40)}…" is longer than 253 characters`;
  const labels = name.split(".");
  const rest = labels[0] === "*" ? labels.slice(1) : labels;
  if (labels[0] === "*" && rest.length < 2) return `wildcard "${name}" covers a whole top-level domain`;
  if (!rest.every((label) => DNS_LABEL.test(label))) return `dNSName "${name}" is not in the preferred name syntax`;
  return undefined;
}

export const certificateRules: LintRule[] = [
  structureRule(
    "certificate",
    "rfc5280_4_1_tbs_certificate_structure",
    "RFC 5280 §4.1: TBSCertificate must be readable DER",
  ),
  certificateRule({
    name: "rfc5280_4_1_2_1_version_3",
    citation: "RFC 5280 §4.1.2.1: a certificate with extensions is version 3",
    severity: "error",
    check: (c) =>
      c.extensions.length > 0 && c.version !== 2 && `version is v${c.version + 1} but extensions are present`,
  }),
  certificateRule({
    name: "rfc5280_4_1_2_2_serial_number",
    citation: "RFC 5280 §4.1.2.2: serial positive, at most 20 octets",
    severity: "error",
    check: (c) => serialProblems(c.serial),
  }),
  certificateRule({
    name: "br_7_1_serial_entropy",
    citation: "BR §7.1: at least 64 bits of CSPRNG output in the serial",
    severity: "error",
    check: (c) => c.serial.length < 8 && `the serial number is ${c.serial.length} octets: too short for 64 random bits`,
  }),
  certificateRule({
    name: "rfc5280_4_1_2_3_signature_matches_issuer_key",
    citation: "RFC 5280 §4.1.2.3: the signature field names the algorithm the issuer's key signs with",
    severity: "error",
    check: (c, context) => {
      const spki = signingSpki(c, context);
      return spki && signatureMatchesKey(c.signatureAlgorithm.oid, spki);
    },
  }),
  certificateRule({
    name: "rfc5280_4_1_2_5_validity",
    citation: "RFC 5280 §4.1.2.5: notBefore before notAfter, UTCTime through 2049",
    severity: "error",
    check: (c) =>
      [
        c.notBefore >= c.notAfter &&
          `notBefore ${c.notBefore.toISOString()} is not before notAfter ${c.notAfter.toISOString()}`,
        timeEncoding(c.notBefore, c.timeTags[0], "notBefore"),
        timeEncoding(c.notAfter, c.timeTags[1], "notAfter"),
      ].filter((p): p is string => typeof p === "string"),
  }),
  certificateRule({
    name: "br_6_3_2_subscriber_validity_398_days",
    citation: "BR §6.3.2: a TLS subscriber certificate is valid at most 398 days",
    severity: "error",
    check: (c) => {
      const seconds = (c.notAfter.getTime() - c.notBefore.getTime()) / 1000 + 1;
      return (
        isTlsServer(c) && seconds > 398 * 86_400 && `validity is ${Math.ceil(seconds / 86_400)} days (at most 398)`
      );
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_extensions_unique",
    citation: "RFC 5280 §4.2: a certificate must not include more than one instance of an extension",
    severity: "error",
    check: (c) => {
      const seen = new Set<string>();
      return c.extensions
        .filter((e) => seen.size === seen.add(e.id).size)
        .map((e) => `extension ${e.id} appears twice`);
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_noncritical_extensions",
    citation: "RFC 5280 §4.2.1.1, §4.2.1.2, §4.2.2.1: AKI, SKI and AIA must be non-critical",
    severity: "error",
    check: (c) =>
      c.extensions
        .filter((e) =>
          [OID.authorityKeyIdentifier, OID.subjectKeyIdentifier, OID.authorityInfoAccess].includes(e.id as never),
        )
        .filter((e) => e.critical)
        .map((e) => `extension ${e.id} is critical`),
  }),
  certificateRule({
    name: "rfc5280_4_2_1_6_san_required",
    citation: "RFC 5280 §4.2.1.6 (empty subject) and BR §7.1.2.7.12 (TLS subscriber): subjectAltName present",
    severity: "error",
    check: (c) =>
      !findExtension(c.extensions, OID.subjectAltName) &&
      (c.subjectEmpty
        ? "the subject is empty and there is no subjectAltName"
        : isTlsServer(c) && "a TLS server certificate without subjectAltName"),
  }),
  certificateRule({
    name: "rfc5280_4_2_1_6_san_critical_with_empty_subject",
    citation: "RFC 5280 §4.2.1.6: with an empty subject the subjectAltName is critical",
    severity: "error",
    check: (c) => {
      const san = findExtension(c.extensions, OID.subjectAltName);
      return c.subjectEmpty && san && !san.critical && "the subject is empty and subjectAltName is not critical";
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_1_6_san_well_formed",
    citation: "RFC 5280 §4.2.1.6: subjectAltName non-empty, each name well formed",
    severity: "error",
    check: (c) => {
      const san = findExtension(c.extensions, OID.subjectAltName);
      if (!san) return undefined;
      const names = generalNames(san.value);
      if (!names.length) return "subjectAltName is empty";
      return names
        .map((name) => {
          const text = name.value.toString("latin1");
          switch (name.type) {
            case "dns":
              return dnsNameProblem(text);
            case "ip":
              return name.value.length !== 4 && name.value.length !== 16
                ? `an iPAddress of ${name.value.length} octets (4 or 16)`
                : undefined;
            case "email":
              return /^[\x21-\x7e]+@[A-Za-z0-9.-]+$/.test(text) ? undefined : `rfc822Name "${text}" is not a mailbox`;
            case "uri":
              return /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(text) ? undefined : `URI "${text}" has no scheme`;
            default:
              return undefined;
          }
        })
        .filter((p): p is string => p !== undefined);
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_1_9_ca_basic_constraints_critical",
    citation: "RFC 5280 §4.2.1.9: basicConstraints is critical in CA certificates",
    severity: "error",
    check: (c) =>
      isCa(c) && !findExtension(c.extensions, OID.basicConstraints)!.critical && "basicConstraints is not critical",
  }),
  certificateRule({
    name: "rfc5280_4_2_1_3_ca_key_usage_critical",
    citation: "RFC 5280 §4.2.1.3, BR §7.1.2.10.7: a CA certificate has a critical keyUsage",
    severity: "error",
    check: (c) => {
      if (!isCa(c)) return undefined;
      const ku = findExtension(c.extensions, OID.keyUsage);
      return !ku ? "a CA certificate without keyUsage" : !ku.critical && "keyUsage is not critical";
    },
  }),
  certificateRule({
    name: "br_7_1_2_7_11_subscriber_key_usage_critical",
    citation: "RFC 5280 §4.2.1.3 (SHOULD), BR §7.1.2.7.11: keyUsage critical in subscriber certificates",
    severity: "warning",
    check: (c) =>
      !isCa(c) && findExtension(c.extensions, OID.keyUsage)?.critical === false && "keyUsage is not critical",
  }),
  certificateRule({
    name: "rfc5280_4_2_1_3_ca_key_cert_sign",
    citation: "RFC 5280 §4.2.1.3, §4.2.1.9: cA TRUE if and only if keyCertSign; pathLen only then",
    severity: "error",
    check: (c) => {
      const bc = basicConstraints(c.extensions);
      const ku = keyUsage(c.extensions);
      const problems: string[] = [];
      if (ku && ku.size === 0) problems.push("keyUsage asserts no bit");
      if (bc?.ca && ku && !ku.has("keyCertSign")) problems.push("cA is TRUE but keyUsage lacks keyCertSign");
      if (!bc?.ca && ku?.has("keyCertSign")) problems.push("keyCertSign is asserted but cA is not TRUE");
      if (bc?.pathLen !== undefined && !(bc.ca && ku?.has("keyCertSign")))
        problems.push("pathLenConstraint without cA TRUE and keyCertSign");
      return problems;
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_1_1_authority_key_identifier",
    citation: "RFC 5280 §4.2.1.1: AKI with keyIdentifier in every certificate but a self-signed one",
    severity: "error",
    check: (c) => {
      const aki = authorityKeyIdentifier(c.extensions);
      if (isSelfIssued(c)) return undefined;
      return aki === null ? "no authorityKeyIdentifier" : !aki && "authorityKeyIdentifier has no keyIdentifier";
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_1_1_aki_matches_issuer_ski",
    citation: "RFC 5280 §4.2.1.1: the AKI keyIdentifier is the issuer's subjectKeyIdentifier",
    severity: "error",
    check: (c, context) => {
      const expected = context.issuer?.keyIdentifier;
      const aki = authorityKeyIdentifier(c.extensions);
      return (
        expected &&
        aki &&
        !aki.equals(expected) &&
        `AKI ${aki.toString("hex")} is not the issuer's SKI ${expected.toString("hex")}`
      );
    },
  }),
  certificateRule({
    name: "rfc5280_4_2_1_2_ca_subject_key_identifier",
    citation: "RFC 5280 §4.2.1.2: CA certificates carry a subjectKeyIdentifier",
    severity: "error",
    check: (c) => isCa(c) && !subjectKeyIdentifier(c.extensions) && "a CA certificate without subjectKeyIdentifier",
  }),
];
