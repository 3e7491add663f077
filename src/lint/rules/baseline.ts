/**
 * CA/Browser Forum Baseline Requirements rules for the findings of issue 20. All are errors, as
 * Keyward's defaults comply (and config load refuses profiles that could not), except EdDSA in a
 * TLS server certificate: a custom profile may allow it for private TLS stacks that accept it.
 */
import { getPublicSuffix } from "tldts";
import { children, expectTag, readElement } from "../../pki/der.js";
import { extKeyUsage, generalNames, OID } from "../extensions.js";
import type { LintRule } from "../index.js";
import { findExtension, type TbsCertificate } from "../parse.js";
import { isCa, isSelfIssued, isTlsServer } from "./certificate.js";
import { certificateRule } from "./define.js";

const isSubordinateCa = (c: TbsCertificate) => isCa(c) && !isSelfIssued(c);

/** RSA public exponent and modulus size of an rsaEncryption SPKI (RFC 8017 RSAPublicKey). */
function rsaKey(publicKey: Buffer): { bits: number; exponent: bigint } {
  const [modulus, exponent] = children(expectTag(readElement(publicKey), 0x30, "RSAPublicKey").content);
  const n = expectTag(modulus, 0x02, "modulus").content;
  const e = expectTag(exponent, 0x02, "publicExponent").content;
  const start = n[0] === 0 ? 1 : 0;
  const bits = (n.length - start) * 8 - Math.clz32(n[start]!) + 24;
  return { bits, exponent: BigInt(`0x${e.toString("hex") || "0"}`) };
}

/** Unspecified, broadcast, link-local and multicast addresses (RFC 6890 special-purpose). */
export function specialUseIp(ip: Buffer): string | undefined {
  if (ip.length === 4) {
    const [a, b] = ip;
    if (a === 0) return "in 0.0.0.0/8 (this network)";
    if (ip.every((byte) => byte === 255)) return "the limited broadcast address";
    if (a === 169 && b === 254) return "link-local (169.254.0.0/16)";
    if (a! >= 224 && a! <= 239) return "multicast (224.0.0.0/4)";
    return undefined;
  }
  if (ip.every((byte) => byte === 0)) return "the unspecified address ::";
  if (ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80) return "link-local (fe80::/10)";
  if (ip[0] === 0xff) return "multicast (ff00::/8)";
  return undefined;
}

function ipText(ip: Buffer): string {
  return ip.length === 4 ? [...ip].join(".") : (ip.toString("hex").match(/.{4}/g) ?? []).join(":");
}

export const baselineRules: LintRule[] = [
  certificateRule({
    name: "br_7_1_2_certificate_policies",
    citation: "BR §7.1.2.3, §7.1.2.7.9: certificatePolicies in subscriber and subordinate CA certificates",
    severity: "error",
    check: (c) =>
      (isTlsServer(c) || isSubordinateCa(c)) &&
      !findExtension(c.extensions, OID.certificatePolicies) &&
      "no certificatePolicies",
  }),
  certificateRule({
    name: "br_7_1_2_2_subordinate_ca_eku",
    citation: "BR §7.1.2.2.4, §7.1.2.10.6: a TLS subordinate CA has an extendedKeyUsage without anyExtendedKeyUsage",
    severity: "error",
    check: (c) => {
      if (!isSubordinateCa(c)) return undefined;
      const eku = extKeyUsage(c.extensions);
      return !eku
        ? "a subordinate CA without extendedKeyUsage"
        : eku.includes(OID.anyExtendedKeyUsage) && "anyExtendedKeyUsage";
    },
  }),
  certificateRule({
    name: "br_7_1_2_8_ocsp_responder_no_cdp_aia",
    citation: "BR §7.1.2.8: an OCSP responder certificate has neither CRL distribution points nor AIA",
    severity: "error",
    check: (c) => {
      if (!extKeyUsage(c.extensions)?.includes(OID.ocspSigning)) return undefined;
      return [
        findExtension(c.extensions, OID.crlDistributionPoints) &&
          "an OCSP responder certificate with cRLDistributionPoints",
        findExtension(c.extensions, OID.authorityInfoAccess) &&
          "an OCSP responder certificate with authorityInfoAccess",
      ].filter((p): p is string => typeof p === "string");
    },
  }),
  certificateRule({
    name: "br_6_1_5_tls_server_key",
    citation: "BR §6.1.5, §6.1.6: an RSA TLS server key has at least 2048 bits and an odd e ≥ 65537",
    severity: "error",
    check: (c) => {
      if (!isTlsServer(c) || c.spki.algorithm !== OID.rsaEncryption) return undefined;
      const { bits, exponent } = rsaKey(c.spki.publicKey);
      return [
        bits < 2048 && `an RSA modulus of ${bits} bits (at least 2048)`,
        (exponent < 65537n || exponent % 2n === 0n) && `RSA public exponent ${exponent} (odd, at least 65537)`,
      ].filter((p): p is string => typeof p === "string");
    },
  }),
  certificateRule({
    name: "br_7_1_3_1_tls_server_eddsa",
    citation:
      "BR §6.1.5, §7.1.3.1: publicly trusted TLS server keys are RSA or ECDSA P-256/P-384 (browsers refuse EdDSA)",
    // A warning: the shipped `server` profile refuses Ed25519, a custom one may allow it on purpose.
    severity: "warning",
    check: (c) =>
      isTlsServer(c) &&
      (c.spki.algorithm === OID.ed25519 || c.spki.algorithm === OID.ed448) &&
      "an EdDSA key in a TLS server certificate",
  }),
  certificateRule({
    name: "br_3_2_2_6_wildcard_public_suffix",
    citation: "BR §3.2.2.6: no wildcard at or directly under a public suffix (ICANN section of the PSL)",
    severity: "error",
    check: (c) => {
      const san = findExtension(c.extensions, OID.subjectAltName);
      if (!san) return undefined;
      return generalNames(san.value)
        .filter((n) => n.type === "dns" && n.value.subarray(0, 2).toString("latin1") === "*.")
        .map((n) => n.value.toString("latin1"))
        .filter((name) => {
          const base = name.slice(2).toLowerCase();
          return getPublicSuffix(base) === base;
        })
        .map((name) => `wildcard "${name}" sits directly under a public suffix`);
    },
  }),
  certificateRule({
    name: "br_7_1_2_7_12_special_use_ip",
    citation: "BR §7.1.2.7.12, RFC 6890: no unspecified, broadcast, link-local or multicast IP in subjectAltName",
    severity: "error",
    check: (c) => {
      const san = findExtension(c.extensions, OID.subjectAltName);
      if (!san || isCa(c)) return undefined;
      return generalNames(san.value)
        .filter((n) => n.type === "ip")
        .map((n) => {
          const why = specialUseIp(n.value);
          return why && `IP address ${ipText(n.value)} is ${why}`;
        })
        .filter((p): p is string => typeof p === "string");
    },
  }),
];
