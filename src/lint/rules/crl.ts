/** RFC 5280 §5 and BR §7.2 rules for a TBSCertList. */
import { children, expectTag, readElement } from "../../pki/der.js";
import { REASONS, reasonName, SUBSCRIBER_REASONS } from "../../pki/reasons.js";
import { authorityKeyIdentifier, OID, uris } from "../extensions.js";
import type { LintRule } from "../index.js";
import { findExtension, revokedEntries } from "../parse.js";
import { serialProblems, signatureMatchesKey } from "./certificate.js";
import { crlRule, structureRule } from "./define.js";

/** The reasonCode of each entry that has one (ENUMERATED; RFC 5280 §5.3.1). */
function* reasons(list: Parameters<typeof revokedEntries>[0]) {
  for (const entry of revokedEntries(list)) {
    const ext = findExtension(entry.extensions, OID.reasonCode);
    if (ext)
      yield { entry, critical: ext.critical, code: expectTag(readElement(ext.value), 0x0a, "CRLReason").content[0]! };
  }
}

/** BR §7.2.2: reasons allowed on a CRL of subscriber certificates (unspecified is omitted). */
const BR_SUBSCRIBER_REASONS = new Set<number>(
  SUBSCRIBER_REASONS.filter((r) => r !== "unspecified").map((r) => REASONS[r]),
);

export const crlRules: LintRule[] = [
  structureRule("crl", "rfc5280_5_1_tbs_cert_list_structure", "RFC 5280 §5.1: TBSCertList must be readable DER"),
  crlRule({
    name: "rfc5280_5_1_2_1_crl_version_2",
    citation: "RFC 5280 §5.1.2.1: a CRL with extensions is version 2",
    severity: "error",
    check: (l) => l.version !== 1 && `version is ${l.version === undefined ? "absent (v1)" : `v${l.version + 1}`}`,
  }),
  crlRule({
    name: "rfc5280_5_1_2_2_signature_matches_issuer_key",
    citation: "RFC 5280 §5.1.2.2: the signature field names the algorithm the issuer's key signs with",
    severity: "error",
    check: (l, context) => context.issuer && signatureMatchesKey(l.signatureAlgorithm.oid, context.issuer.spki),
  }),
  crlRule({
    name: "rfc5280_5_1_2_5_crl_update_order",
    citation: "RFC 5280 §5.1.2.4-5: nextUpdate present and after thisUpdate, UTCTime through 2049",
    severity: "error",
    check: (l) => {
      if (!l.nextUpdate) return "no nextUpdate";
      return l.nextUpdate <= l.thisUpdate && `nextUpdate ${l.nextUpdate.toISOString()} is not after thisUpdate`;
    },
  }),
  crlRule({
    name: "rfc5280_5_2_3_crl_number",
    citation: "RFC 5280 §5.2.3: cRLNumber present, non-critical, non-negative, at most 20 octets",
    severity: "error",
    check: (l) => {
      const ext = findExtension(l.extensions, OID.crlNumber);
      if (!ext) return "no cRLNumber";
      const n = expectTag(readElement(ext.value), 0x02, "CRLNumber").content;
      return [
        ext.critical && "cRLNumber is critical",
        n[0]! & 0x80 && "cRLNumber is negative",
        n.length > 20 && `cRLNumber is ${n.length} octets (at most 20)`,
      ].filter((p): p is string => typeof p === "string");
    },
  }),
  crlRule({
    name: "rfc5280_5_2_3_crl_number_increases",
    citation: "RFC 5280 §5.2.3: CRL numbers of one CA's CRLs increase monotonically",
    severity: "error",
    check: (l, context) => {
      const previous = context.crl?.previousNumber;
      const ext = findExtension(l.extensions, OID.crlNumber);
      if (previous === undefined || !ext) return undefined;
      const n = expectTag(readElement(ext.value), 0x02, "CRLNumber").content;
      const number = BigInt(`0x${n.toString("hex") || "0"}`);
      return number <= previous && `cRLNumber ${number} does not follow the previous CRL's ${previous}`;
    },
  }),
  crlRule({
    name: "rfc5280_5_2_5_crl_scope_covers_cdp",
    citation:
      "RFC 5280 §5.2.5, §6.3.3(b)(2): an IDP distribution point names the CDP of the certificates the CRL covers",
    severity: "error",
    check: (l, context) => {
      const expected = context.issuer?.crlDistributionPoint;
      const idp = findExtension(l.extensions, OID.issuingDistributionPoint);
      if (!expected || !idp) return undefined;
      // No distributionPoint name: the scope is not narrowed by name and covers any CDP.
      const named = uris(idp.value);
      return (
        named.length > 0 &&
        !named.includes(expected) &&
        `distribution point ${named.map((u) => `"${u}"`).join(", ")} is not "${expected}", which this CA's certificates carry`
      );
    },
  }),
  crlRule({
    name: "rfc5280_5_2_1_crl_authority_key_identifier",
    citation: "RFC 5280 §5.2.1: AKI with keyIdentifier, equal to the issuer's subjectKeyIdentifier",
    severity: "error",
    check: (l, context) => {
      const aki = authorityKeyIdentifier(l.extensions);
      if (aki === null) return "no authorityKeyIdentifier";
      if (!aki) return "authorityKeyIdentifier has no keyIdentifier";
      const expected = context.issuer?.keyIdentifier;
      return (
        expected &&
        !aki.equals(expected) &&
        `AKI ${aki.toString("hex")} is not the issuer's SKI ${expected.toString("hex")}`
      );
    },
  }),
  crlRule({
    name: "rfc5280_5_2_5_issuing_distribution_point",
    citation: "RFC 5280 §5.2.5: issuingDistributionPoint critical, one scope, URIs http(s) or ldap",
    severity: "error",
    check: (l) => {
      const idp = findExtension(l.extensions, OID.issuingDistributionPoint);
      if (!idp) return undefined;
      const fields = children(expectTag(readElement(idp.value), 0x30, "IssuingDistributionPoint").content);
      const flag = (tag: number) => fields.find((f) => f.tag === tag)?.content[0] === 0xff;
      const scopes = [0x81, 0x82, 0x84].filter(flag).length;
      return [
        !idp.critical && "issuingDistributionPoint is not critical",
        scopes > 1 && "more than one of onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts",
        ...uris(idp.value)
          .filter((u) => !/^(https?|ldap):\/\/[\x21-\x7e]+$/.test(u))
          .map((u) => `distribution point "${u}" is not an http(s) or ldap URI`),
      ].filter((p): p is string => typeof p === "string");
    },
  }),
  crlRule({
    name: "rfc5280_5_3_revoked_entries",
    citation:
      "RFC 5280 §5.1.2.6, §5.3.1: entry serials valid, reasonCode non-critical, known, removeFromCRL only in delta CRLs",
    severity: "error",
    check: (l) => {
      const problems: string[] = [];
      const delta = !!findExtension(l.extensions, OID.deltaCrlIndicator);
      for (const entry of revokedEntries(l)) {
        for (const p of serialProblems(entry.serial)) problems.push(`entry ${entry.serial.toString("hex")}: ${p}`);
        if (problems.length >= 10) break;
      }
      for (const { entry, critical, code } of reasons(l)) {
        const serial = entry.serial.toString("hex");
        if (critical) problems.push(`entry ${serial}: reasonCode is critical`);
        if (code === 7 || code > 10) problems.push(`entry ${serial}: reason ${code} is not a CRLReason`);
        if (code === 8 && !delta) problems.push(`entry ${serial}: removeFromCRL in a full CRL`);
        if (problems.length >= 10) break;
      }
      return problems;
    },
  }),
  crlRule({
    name: "br_7_2_2_crl_reason_codes",
    citation:
      "BR §7.2.2: a subscriber CRL carries only keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn",
    severity: "warning",
    check: (l) => {
      const seen = new Set<number>();
      for (const { code } of reasons(l)) if (!BR_SUBSCRIBER_REASONS.has(code)) seen.add(code);
      return [...seen].map((code) => `reason ${reasonName(code) ?? code} is not allowed on a subscriber CRL`);
    },
  }),
];
