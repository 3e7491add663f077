/**
 * The lint gate: named rules run on the exact to-be-signed bytes before the HSM signs them
 * (certificates, CRLs, OCSP answers). The signer calls it on every signing path, so nothing it
 * signs skips the gate. The rule set is empty for now; issue 20 fills it (RFC 5280, CA/B BR).
 */
import { LintError } from "../errors/index.js";

/** What is about to be signed: the DER of a TBSCertificate, a TBSCertList or an OCSP ResponseData. */
export type LintTarget = "certificate" | "crl" | "ocsp";

export interface LintFinding {
  rule: string;
  severity: "error" | "warning";
  message: string;
}

export interface LintRule {
  name: string;
  targets: readonly LintTarget[];
  check(tbs: Buffer): LintFinding[];
}

export interface Linter {
  /** Throws LintError when a rule finds an error; returns the warnings. */
  check(target: LintTarget, tbs: Buffer): LintFinding[];
}

export function createLinter(rules: readonly LintRule[] = []): Linter {
  return {
    check(target, tbs) {
      const findings = rules.filter((rule) => rule.targets.includes(target)).flatMap((rule) => rule.check(tbs));
      const errors = findings.filter((f) => f.severity === "error");
      if (errors.length) throw new LintError(target, errors);
      return findings;
    },
  };
}
