/**
 * The lint gate: named rules run on the exact to-be-signed bytes before the HSM signs them
 * (certificates, CRLs, OCSP answers). The signer calls it on every signing path, so nothing it
 * signs skips the gate. The rules (src/lint/rules) cite RFC 5280 / RFC 6960 / the CA/B BRs.
 *
 * The rules read the TBS itself, not a certificate pre-signed with a throwaway key (Boulder's
 * way): Boulder pre-signs because zlint only reads a whole x509.Certificate; our rules read the
 * DER they are given, so a throwaway signature would only add a second signature per issuance
 * (an RSA one costs more than the HSM's ECDSA) and a generic parse. The one thing the outer
 * structure adds, signatureAlgorithm, is written by the same function as the TBS's `signature`
 * field (signer/structure.ts), and the rule on that field checks it against the issuer's key.
 */
import { LintError } from "../errors/index.js";

/**
 * What is about to be signed: the DER of a TBSCertificate, a TBSCertList or an OCSP ResponseData,
 * or the body of an OpenSSH certificate (PROTOCOL.certkeys; its rules live in src/ssh).
 */
export type LintTarget = "certificate" | "crl" | "ocsp" | "ssh-certificate";

export interface LintFinding {
  rule: string;
  severity: "error" | "warning";
  message: string;
}

/** What the signer knows beyond the bytes: the key that will sign them, and for a CRL its history. */
export interface LintContext {
  issuer?: {
    /** DER SubjectPublicKeyInfo of the signing key. */
    spki: Buffer;
    /** Its subjectKeyIdentifier, when its certificate has one. */
    keyIdentifier?: Buffer;
    /** The CRL distribution point in the certificates it issues (their CRL's scope must cover it). */
    crlDistributionPoint?: string;
  };
  crl?: {
    /** cRLNumber of the CA's last CRL; the next one must be greater (RFC 5280 §5.2.3). */
    previousNumber?: bigint;
  };
}

export interface LintRule {
  name: string;
  /** What the rule checks and the section it comes from (RFC 5280 §…, BR §…). */
  description?: string;
  /** What its findings are: an error stops the signature, a warning is reported. */
  severity: LintFinding["severity"];
  targets: readonly LintTarget[];
  check(tbs: Buffer, context?: LintContext): LintFinding[];
}

export interface Linter {
  /** Throws LintError when a rule finds an error; returns the warnings. */
  check(target: LintTarget, tbs: Buffer, context?: LintContext): LintFinding[];
  /** Every finding, errors included, without throwing (`keyward lint`). */
  findings(target: LintTarget, tbs: Buffer, context?: LintContext): LintFinding[];
}

export function createLinter(rules: readonly LintRule[] = []): Linter {
  const byTarget = new Map<LintTarget, LintRule[]>(
    (["certificate", "crl", "ocsp", "ssh-certificate"] as const).map((t) => [
      t,
      rules.filter((rule) => rule.targets.includes(t)),
    ]),
  );
  const findings = (target: LintTarget, tbs: Buffer, context?: LintContext) => {
    const found: LintFinding[] = [];
    for (const rule of byTarget.get(target)!) {
      try {
        found.push(...rule.check(tbs, context));
      } catch (error) {
        // A rule that cannot read what it checks has found a malformed artifact: never let it out.
        found.push({ rule: rule.name, severity: "error", message: `unreadable: ${(error as Error).message}` });
      }
    }
    return found;
  };
  return {
    findings,
    check(target, tbs, context) {
      const found = findings(target, tbs, context);
      const errors = found.filter((f) => f.severity === "error");
      if (errors.length) throw new LintError(target, errors);
      return found;
    },
  };
}
